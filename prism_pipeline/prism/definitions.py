"""The code location's one ``Definitions`` object.

``build_defs`` takes explicit paths (tests use temporary folders); ``defs`` reads them from
``PRISM_RAW_DIR`` / ``PRISM_OUTPUT_DIR`` / ``PRISM_STATE_DIR`` through ``EnvVar``, with the
repository's ``data/raw``, ``data/release`` and ``data/state`` as defaults.
"""

import os
import warnings

import dagster as dg

from prism_pipeline.core.flags.resources import FlagSettings
from prism_pipeline.core.release.sensors import audit_report_sensor
from prism_pipeline.core.removal import assets as removal_assets
from prism_pipeline.core.removal import checks as removal_checks
from prism_pipeline.core.removal.jobs import removal_rerun_job
from prism_pipeline.core.removal.sensors import removal_request_sensor
from prism_pipeline.core.resources import DEFAULT_DIRS, LazyStateInputManager, PrismPaths, StateIOManager
from prism_pipeline.core.sources import assets as source_assets
from prism_pipeline.core.sources.sensors import source_file_sensor
from prism_pipeline.prism import schema_checks
from prism_pipeline.prism.conversation_tables import assets as conversation_assets
from prism_pipeline.prism.conversation_tables import checks as conversation_checks
from prism_pipeline.prism.inputs import assets as input_assets
from prism_pipeline.prism.inputs import checks as input_checks
from prism_pipeline.prism.inputs.resources import InputSettings
from prism_pipeline.prism.metadata import assets as metadata_assets
from prism_pipeline.prism.metadata import checks as metadata_checks
from prism_pipeline.prism.release import assets as release_assets
from prism_pipeline.prism.release import checks as release_checks
from prism_pipeline.prism.sampling import assets as sampling_assets
from prism_pipeline.prism.sampling.resources import SamplingSettings

MODULES = [source_assets, input_assets, conversation_assets, sampling_assets, metadata_assets, release_assets, removal_assets]
CHECK_MODULES = [input_checks, conversation_checks, metadata_checks, release_checks,
                 removal_checks]

# include_sources is beta in dagster 1.13 (pinned); the warning is for Dagster's own API users.
warnings.filterwarnings("ignore", message=r"Parameter `include_sources` of function `AssetSelection.all`",
                        category=dg.BetaWarning)
full_release_job = dg.define_asset_job(
    "full_release",
    # include_sources: the raw and reference files are observed first, so every materialisation
    # records the file versions it consumed (sources/assets.py).
    selection=dg.AssetSelection.all(include_sources=True),
    description="Observe every raw and reference file, recompute every asset from them and write the release "
                "(with all checks).",
)


def build_defs(prism_paths: PrismPaths, sampling: SamplingSettings | None = None,
               flags: FlagSettings | None = None, partition_min_rows: int | None = None,
               inputs: InputSettings | None = None,
               executor: dg.ExecutorDefinition | None = None, flag_shards: int = 1) -> dg.Definitions:
    """``executor``: every job's executor, in-process by default (see below); a per-step one
    (``dg.multiprocess_executor``, ``dagster_dask.dask_executor``, ``dagster_k8s.k8s_job_executor``)
    needs a persistent instance and a reconstructable job. ``flag_shards``: the flagging steps
    (hash shards of the texts), fixed here so every executor sees the whole plan up front."""
    io_settings = {} if partition_min_rows is None else {"partition_min_rows": partition_min_rows}
    return dg.Definitions(
        assets=[*dg.load_assets_from_modules(MODULES), metadata_assets.text_flags_asset(flag_shards)],
        asset_checks=[*dg.load_asset_checks_from_modules(CHECK_MODULES), *schema_checks.CHECKS],
        jobs=[full_release_job, removal_rerun_job],
        sensors=[audit_report_sensor(),
                 removal_request_sensor, source_file_sensor],
        # One process per run: on a 2-core machine a process per step (the multiprocess default)
        # spends more time importing pandas and Dagster than computing; the heavy per-text work
        # has its own process pool. A multi-machine deployment swaps this for the dask or k8s
        # executor (docs/operating.md, "Beyond one machine").
        executor=executor or dg.in_process_executor,
        resources={
            "prism_paths": prism_paths,
            "input_settings": inputs or InputSettings(),
            "sampling_settings": sampling or SamplingSettings(),
            "flag_settings": flags or FlagSettings(),
            # Intermediate tables are pickled under the state dir, beside the caches, so that one
            # folder holds everything private to the pipeline (and everything a removal must clean).
            "io_manager": StateIOManager(state_dir=prism_paths.state_dir, **io_settings),
            "lazy_state": LazyStateInputManager(state_dir=prism_paths.state_dir),
        },
    )


def _env_defs() -> dg.Definitions:
    for name, default in DEFAULT_DIRS.items():
        os.environ.setdefault(name, str(default))
    paths = PrismPaths(
        raw_dir=dg.EnvVar("PRISM_RAW_DIR"),
        output_dir=dg.EnvVar("PRISM_OUTPUT_DIR"),
        state_dir=dg.EnvVar("PRISM_STATE_DIR"),
        reference_dir=dg.EnvVar("PRISM_REFERENCE_DIR"),
    )
    return build_defs(paths, flag_shards=int(os.environ.get("PRISM_FLAG_SHARDS", "1")))


defs = _env_defs()


def resolve_job(name: str) -> dg.JobDefinition:
    """A job of ``defs`` by name, for ``dg.build_reconstructable_job`` (``prism-pipeline run``
    runs it through ``dg.execute_job``, see cli.py)."""
    return defs.resolve_job_def(name)
