"""ThoughtTrace's part of the metadata layer: its text instances and its metadata table. The
flags themselves, the manual PII review and its evidence are the engine's
(``core/flags/assets.py``), built for ThoughtTrace in ``definitions.py``. Materialisation
metadata carries counts and rates only, never text or ids.
"""

import sys

import dagster as dg
import pandas as pd

from prism_pipeline.core.flags.table import flag_rates
from prism_pipeline.core.hashing import code_version
from prism_pipeline.core.validation import SchemaCheck
from prism_pipeline.thoughttrace import schemas
from prism_pipeline.thoughttrace.dataset import DATASET, TEXT_KINDS
from prism_pipeline.thoughttrace.metadata import text_instances as rules

GROUP = "metadata_flags"
OWNERS = list(DATASET.owners)
PREFIX = list(DATASET.key_prefix)
VERSION = code_version(sys.modules[__name__], rules)
TEXT_INSTANCES_CHECK = SchemaCheck("text_instances", schemas.TextInstancesSchema, "text_instances",
                                   key_prefix=DATASET.key_prefix)
METADATA_CHECK = SchemaCheck("metadata_table", schemas.MetadataSchema, "metadata", blocking=True,
                             name="metadata_schema", key_prefix=DATASET.key_prefix)


def _ins(*names: str) -> dict[str, dg.AssetIn]:
    return {name: dg.AssetIn(key_prefix=PREFIX) for name in names}


@dg.asset(
    key_prefix=PREFIX, group_name=GROUP, owners=OWNERS, kinds={"pandas"}, code_version=VERSION,
    ins=_ins("conversations", "messages", "thoughts"), check_specs=[TEXT_INSTANCES_CHECK.spec()],
    description="Every text to flag, one row each: user and assistant messages, reasons, reactions, task summaries "
                "and expectations, with conversation_id, user_id, message_index and thought_index; in conversation "
                "order, each message followed by its thoughts, then the task texts.",
    metadata={"dagster/column_schema": TEXT_INSTANCES_CHECK.column_schema()},
)
def text_instances(conversations: pd.DataFrame, messages: pd.DataFrame, thoughts: pd.DataFrame):
    table = rules.build_text_instances(conversations, messages, thoughts)
    counts = table["text_kind"].value_counts().reindex(TEXT_KINDS.all, fill_value=0)
    yield from TEXT_INSTANCES_CHECK.emit(dg.Output(table, metadata={
        "dagster/row_count": len(table),
        "rows_by_text_kind": dg.MetadataValue.json({k: int(v) for k, v in counts.items()})}))


@dg.asset(
    key_prefix=PREFIX, group_name=GROUP, owners=OWNERS, kinds={"pandas"}, code_version=VERSION,
    ins=_ins("text_instances", "text_flags", "pii_manual_review"),
    check_specs=[METADATA_CHECK.spec(), dg.AssetCheckSpec(
        "one_row_per_text_instance", asset=dg.AssetKey(DATASET.key("metadata_table")), blocking=True,
        description="Exactly one metadata row per text instance, with the same keys in the same order.")],
    description="metadata.jsonl as a table: per text its ids, text_kind, language_flag (langid), en_flag, pii_flag "
                "(scrubadub), pii_manual_flag (the manual review's verdict, else null) and moderation_flag "
                "(2-dp scores), from the engine's flags.",
    metadata={"dagster/column_schema": METADATA_CHECK.column_schema()},
)
def metadata_table(text_instances: pd.DataFrame, text_flags: pd.DataFrame, pii_manual_review: pd.DataFrame):
    table = rules.metadata_frame(text_instances, text_flags, pii_manual_review)
    yield from METADATA_CHECK.emit(dg.Output(table, metadata={
        "dagster/row_count": len(table),
        **{k: dg.MetadataValue.json(v) if isinstance(v, dict) else v
           for k, v in flag_rates(table, TEXT_KINDS).items()}}))
    keys = ["text_kind", "conversation_id", "user_id", "message_index", "thought_index"]
    same = len(table) == len(text_instances) and table[keys].reset_index(drop=True).equals(
        text_instances[keys].reset_index(drop=True))
    yield dg.AssetCheckResult(asset_key=DATASET.key("metadata_table"), check_name="one_row_per_text_instance",
                              passed=bool(same), metadata={"metadata_rows": len(table),
                                                           "text_instances": len(text_instances)})
