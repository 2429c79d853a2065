"""PRISM's code location: its ``Definitions`` (``defs``), built by the engine from PRISM's own
assets and checks (``core/definitions.py``).

``build_defs`` takes explicit paths (tests use temporary folders); ``defs`` reads them from
``PRISM_RAW_DIR`` / ``PRISM_OUTPUT_DIR`` / ``PRISM_STATE_DIR`` / ``PRISM_REFERENCE_DIR`` through
``EnvVar``, with the repository's ``data/raw``, ``data/release``, ``data/state`` and
``data/reference`` as defaults, and the number of flagging steps from ``PRISM_FLAG_SHARDS``.
"""

import os

import dagster as dg

from prism_pipeline.core import definitions
from prism_pipeline.core.flags.assets import Frozen
from prism_pipeline.core.flags.resources import FlagSettings
from prism_pipeline.core.resources import DatasetPaths, InputSettings, env_paths
from prism_pipeline.prism.conversation_tables import assets as conversation_assets
from prism_pipeline.prism.conversation_tables import checks as conversation_checks
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline.prism.inputs import assets as input_assets
from prism_pipeline.prism.inputs import checks as input_checks
from prism_pipeline.prism.metadata import assets as metadata_assets
from prism_pipeline.prism.metadata.frozen import match_frozen_moderation
from prism_pipeline.prism.release import assets as release_assets
from prism_pipeline.prism.sampling import assets as sampling_assets
from prism_pipeline.prism.sampling.resources import SamplingSettings

MODULES = [input_assets, conversation_assets, sampling_assets, metadata_assets, release_assets]
# The checks that run as steps of their own (the others are yielded by the assets they check).
CHECK_MODULES = [input_checks, conversation_checks]
# PRISM's published metadata.jsonl carries moderation results that cannot be recomputed (SPEC §7.3).
FROZEN = Frozen(asset="published_moderation", match=match_frozen_moderation)


def build_defs(paths: DatasetPaths, sampling: SamplingSettings | None = None, flags: FlagSettings | None = None,
               partition_min_rows: int | None = None, inputs: InputSettings | None = None,
               executor: dg.ExecutorDefinition | None = None, flag_shards: int = 1) -> dg.Definitions:
    """PRISM's definitions on these folders and settings (``core.definitions.build_defs``)."""
    return definitions.build_defs(
        DATASET, paths, assets=dg.load_assets_from_modules(MODULES),
        asset_checks=dg.load_asset_checks_from_modules(CHECK_MODULES),
        resources={"sampling_settings": sampling or SamplingSettings()}, flags=flags, inputs=inputs, frozen=FROZEN,
        flag_shards=flag_shards, partition_min_rows=partition_min_rows, executor=executor)


defs = build_defs(env_paths(DATASET), flag_shards=int(os.environ.get(DATASET.extra_env["flag_shards"], "1")))


def resolve_job(name: str) -> dg.JobDefinition:
    """A job of ``defs`` by name, for ``dg.build_reconstructable_job`` (``prism-pipeline run``
    runs it through ``dg.execute_job``, see core/cli.py)."""
    return defs.resolve_job_def(name)
