"""The top of the graph: every file and setting the pipeline reads, as observable source assets.

Each raw file (the published PRISM files), reference file (census tables, the manual PII
review, the removal requests) and settings resource is an asset whose data version is its
sha256 (``hashing.py``), recorded by an observation. Dagster compares those versions and the
code versions with what each downstream materialisation consumed, so the UI marks exactly the
assets downstream of a changed file, setting or rule as unsynced, and ``prism-pipeline run
--unsynced`` (or the UI's "Materialize unsynced") reruns only those. Observations run first
in every job that includes them (``full_release``), from the CLI, and from the
``source_file_sensor`` while the daemon runs. Metadata: path, size, presence; never contents.
"""

import warnings

import dagster as dg

from prism_pipeline.core.hashing import sha256_path
from prism_pipeline.core.sources.files import SETTINGS, SOURCE_FILES, source_path
from prism_pipeline.core.sources.observations import settings_observation, settings_values, source_observation

OWNERS = ["team:prism-data"]

def _file_spec(key: str) -> dg.AssetSpec:
    where, name, group, description = SOURCE_FILES[key]
    return dg.AssetSpec(key, group_name=group, owners=OWNERS, kinds={"file"}, description=description,
                        metadata={"location": f"{where} dir / {name}"})

# multi_observable_source_asset is marked beta in dagster 1.13 (pinned); its warning says nothing
# to a user of this pipeline, so it is silenced for these two definitions only.
warnings.filterwarnings("ignore", message=r"Function `multi_observable_source_asset` is currently in beta",
                        category=dg.BetaWarning)


@dg.multi_observable_source_asset(
    name="observe_source_files", specs=[_file_spec(k) for k in SOURCE_FILES], can_subset=True,
    required_resource_keys={"prism_paths"},
    description="sha256 of every raw and reference file (of every file under a folder): their data versions.",
)
def observe_source_files(context: dg.AssetExecutionContext):
    for key in context.selected_asset_keys:
        path = source_path(context.resources.prism_paths, key.path[-1])
        yield dg.ObserveResult(asset_key=key, **source_observation(path, sha256_path(path)))

@dg.multi_observable_source_asset(
    name="observe_settings",
    specs=[dg.AssetSpec(k, group_name="settings", owners=OWNERS, kinds={"python"}, description=d)
           for k, (_, d) in SETTINGS.items()],
    can_subset=True, required_resource_keys={resource for resource, _ in SETTINGS.values()},
    description="sha256 of each settings resource's values: a changed seed or threshold marks its assets unsynced.",
)
def observe_settings(context: dg.AssetExecutionContext):
    for key in context.selected_asset_keys:
        resource, _ = SETTINGS[key.path[-1]]
        yield dg.ObserveResult(asset_key=key, **settings_observation(settings_values(getattr(context.resources,
                                                                                             resource))))
