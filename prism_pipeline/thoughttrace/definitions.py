"""ThoughtTrace's code location: its ``Definitions`` (``defs``), built by the engine from
ThoughtTrace's own assets (``core/definitions.py``).

``build_defs`` takes explicit paths (tests use temporary folders); ``defs`` reads them from
``THOUGHTTRACE_RAW_DIR`` / ``_OUTPUT_DIR`` / ``_STATE_DIR`` / ``_REFERENCE_DIR`` through ``EnvVar``,
with ``data/thoughttrace/{raw,release,state,reference}`` as defaults, and the number of flagging
steps from ``THOUGHTTRACE_FLAG_SHARDS``. Every asset key starts with ``thoughttrace/``
(``DATASET.key_prefix``), so this location sits beside PRISM's in one workspace and instance.
"""

import os

import dagster as dg

from prism_pipeline.core import definitions
from prism_pipeline.core.flags.resources import FlagSettings
from prism_pipeline.core.resources import DatasetPaths, InputSettings, env_paths
from prism_pipeline.thoughttrace.dataset import DATASET
from prism_pipeline.thoughttrace.inputs import assets as input_assets
from prism_pipeline.thoughttrace.metadata import assets as metadata_assets
from prism_pipeline.thoughttrace.release import assets as release_assets
from prism_pipeline.thoughttrace.tables import assets as table_assets

MODULES = [input_assets, table_assets, metadata_assets, release_assets]


def build_defs(paths: DatasetPaths, flags: FlagSettings | None = None, inputs: InputSettings | None = None,
               partition_min_rows: int | None = None, executor: dg.ExecutorDefinition | None = None,
               flag_shards: int = 1) -> dg.Definitions:
    """ThoughtTrace's definitions on these folders and settings (``core.definitions.build_defs``).
    Every check runs in the step that made its table: there are no cross-asset check steps."""
    return definitions.build_defs(
        DATASET, paths, assets=dg.load_assets_from_modules(MODULES), asset_checks=[], flags=flags, inputs=inputs,
        flag_shards=flag_shards, partition_min_rows=partition_min_rows, executor=executor)


defs = build_defs(env_paths(DATASET), flag_shards=int(os.environ.get(DATASET.extra_env["flag_shards"], "1")))


def resolve_job(name: str) -> dg.JobDefinition:
    """A job of ``defs`` by name, for ``dg.build_reconstructable_job`` (``prism-pipeline run
    --dataset thoughttrace`` runs it through ``dg.execute_job``, see core/cli.py)."""
    return defs.resolve_job_def(name)
