"""PRISM's part of the metadata layer (SPEC §2): its text instances, its published moderation
results and its metadata table. The flags themselves, the manual PII review and its evidence are
the engine's (``core/flags/assets.py``), built for PRISM in ``definitions.py``.
Materialisation metadata carries counts and rates only, never text or ids.
"""

import sys

import dagster as dg
import pandas as pd

from prism_pipeline.core.flags.resources import FlagSettings
from prism_pipeline.core.flags.table import flag_rates
from prism_pipeline.core.hashing import code_version
from prism_pipeline.core.removal.requests import removed_users
from prism_pipeline.core.resources import DatasetPaths
from prism_pipeline.core.validation import SchemaCheck
from prism_pipeline.prism import codebook as cb
from prism_pipeline.prism import schemas
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline.prism.metadata import frozen, text_instances
from prism_pipeline.prism.metadata import metadata_table as table_rules
from prism_pipeline.prism.metadata.checks import one_row_per_text_instance
from prism_pipeline.prism.metadata.frozen import load_frozen_moderation
from prism_pipeline.prism.metadata.text_instances import build_text_instances

GROUP = "metadata_flags"
OWNERS = list(DATASET.owners)
PUBLISHED_CHECK = SchemaCheck("published_moderation", schemas.PublishedModerationSchema, "metadata.jsonl",
                              optional=True)
TEXT_INSTANCES_CHECK = SchemaCheck("text_instances", schemas.TextInstancesSchema, "text_instances")
METADATA_CHECK = SchemaCheck("metadata_table", schemas.MetadataSchema, "metadata", blocking=True,
                             name="metadata_schema")
# The rules these assets run: a change in any of these files marks them unsynced.
VERSION = code_version(sys.modules[__name__], table_rules, text_instances, frozen)


@dg.asset(
    group_name="inputs", owners=OWNERS, kinds={"pandas", "jsonl"}, code_version=VERSION,
    deps=["metadata_jsonl", "flag_config"],
    description="The published moderation_flag results (SPEC §7.3 'frozen reference inputs') from a metadata.jsonl "
                "in the raw dir, when present and FlagSettings.use_frozen_moderation is on; else empty.",
    check_specs=[PUBLISHED_CHECK.spec()],
    metadata={"dagster/column_schema": PUBLISHED_CHECK.column_schema()},
)
def published_moderation(paths: DatasetPaths, flag_settings: FlagSettings, removal_requests: pd.DataFrame):
    path = paths.raw / "metadata.jsonl"
    if not (flag_settings.use_frozen_moderation and path.exists()):
        yield from PUBLISHED_CHECK.emit(dg.Output(pd.DataFrame(), metadata={
            "present": path.exists(), "used": False, "dagster/row_count": 0}))
        return
    frozen = load_frozen_moderation(path)
    frozen = frozen.loc[~removed_users(paths.state, removal_requests, frozen["user_id"])]
    yield from PUBLISHED_CHECK.emit(dg.Output(frozen, metadata={
        "present": True, "used": True, "dagster/row_count": len(frozen)}))


@dg.asset(
    group_name=GROUP, owners=OWNERS, kinds={"pandas"}, code_version=VERSION,
    description="Every text instance of the release (SPEC §2.1): system_string, self_description, open_feedback, "
                "user_prompt (one per interaction), model_response, with their ids, in canonical order (block, "
                "then numeric id order).",
    check_specs=[TEXT_INSTANCES_CHECK.spec()],
    metadata={"dagster/column_schema": TEXT_INSTANCES_CHECK.column_schema()},
)
def text_instances(survey_input: pd.DataFrame, conversations_input: pd.DataFrame, utterances: pd.DataFrame):
    table = build_text_instances(survey_input.reset_index(drop=True), conversations_input.reset_index(drop=True),
                                 utterances)
    counts = table["column_id"].value_counts().reindex(cb.TEXT_COLUMN_IDS, fill_value=0)
    yield from TEXT_INSTANCES_CHECK.emit(dg.Output(table, metadata={
        "dagster/row_count": len(table),
        "rows_by_column_id": dg.MetadataValue.json({k: int(v) for k, v in counts.items()})}))


@dg.asset(
    group_name=GROUP, owners=OWNERS, kinds={"pandas"}, code_version=VERSION,
    description="metadata.jsonl as a table (codebook §MetaData, SPEC §1.6, §2.3): ids, pii_flag, pii_manual_flag "
                "(the manual review's verdict for reviewed human PII hits, else null), language_flag, "
                "en_flag = language_flag == 'en', moderation_flag (2-dp scores).",
    check_specs=[METADATA_CHECK.spec(), dg.AssetCheckSpec(
        "one_row_per_text_instance", asset="metadata_table", blocking=True,
        description="Exactly one metadata row per text instance, with the same keys in the same order.")],
    metadata={"dagster/column_schema": METADATA_CHECK.column_schema()},
)
def metadata_table(text_instances: pd.DataFrame, text_flags: pd.DataFrame, pii_manual_review: pd.DataFrame):
    table = table_rules.metadata_frame(text_instances, text_flags, pii_manual_review)
    yield from METADATA_CHECK.emit(dg.Output(table, metadata={
        "dagster/row_count": len(table),
        **{k: dg.MetadataValue.json(v) if isinstance(v, dict) else v
           for k, v in flag_rates(table, cb.TEXT_KINDS).items()}}))
    yield one_row_per_text_instance(table, text_instances)
