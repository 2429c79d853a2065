"""The top of the graph: every file and setting the pipeline reads, as observable source assets.

Each raw file, reference file and settings resource of a dataset (``Dataset.source_files``,
``Dataset.all_settings``) is an asset whose data version is its sha256 (``hashing.py``),
recorded by an observation. Dagster compares those versions and the code versions with what
each downstream materialisation consumed, so the UI marks exactly the assets downstream of a
changed file, setting or rule as unsynced, and ``prism-pipeline run --unsynced`` (or the UI's
"Materialize unsynced") reruns only those. Observations run first in every job that includes
them (``full_release``), from the CLI, and from the ``source_file_sensor`` while the daemon
runs. Metadata: path, size, presence; never contents.
"""

import warnings

import dagster as dg

from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.hashing import sha256_path
from prism_pipeline.core.sources.observations import (
    settings_observation,
    settings_values,
    source_observation,
    source_path,
)


def source_assets(dataset: Dataset) -> list[dg.SourceAsset]:
    """The observable source assets of the dataset's files and settings."""
    # multi_observable_source_asset is marked beta in dagster 1.13 (pinned); its warning says
    # nothing to a user of this pipeline, so it is silenced for these two definitions only.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Function `multi_observable_source_asset` is currently in beta",
                                category=dg.BetaWarning)
        return _source_assets(dataset)


def _source_assets(dataset: Dataset) -> list[dg.SourceAsset]:

    @dg.multi_observable_source_asset(
        name="observe_source_files", can_subset=True, required_resource_keys={"paths"},
        specs=[dg.AssetSpec(dataset.key(f.key), group_name=f.group, owners=list(dataset.owners), kinds={"file"},
                            description=f.description, metadata={"location": f"{f.folder} dir / {f.name}"})
               for f in dataset.source_files],
        description="sha256 of every raw and reference file (of every file under a folder): their data versions.",
    )
    def observe_source_files(context: dg.AssetExecutionContext):
        for key in context.selected_asset_keys:
            path = source_path(dataset, context.resources.paths, key.path[-1])
            yield dg.ObserveResult(asset_key=key, **source_observation(path, sha256_path(path)))

    settings = dataset.all_settings

    @dg.multi_observable_source_asset(
        name="observe_settings", can_subset=True,
        required_resource_keys={resource for resource, _ in settings.values()},
        specs=[dg.AssetSpec(dataset.key(k), group_name="settings", owners=list(dataset.owners), kinds={"python"},
                            description=d)
               for k, (_, d) in settings.items()],
        description="sha256 of each settings resource's values: a changed seed or threshold marks its assets "
                    "unsynced.",
    )
    def observe_settings(context: dg.AssetExecutionContext):
        for key in context.selected_asset_keys:
            resource, _ = settings[key.path[-1]]
            values = settings_values(getattr(context.resources, resource))
            yield dg.ObserveResult(asset_key=key, **settings_observation(values))

    return [observe_source_files, observe_settings]
