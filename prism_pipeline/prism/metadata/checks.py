"""Checks on the metadata layer (SPEC §1.6, §2, §8.6)."""

import dagster as dg
import pandas as pd

from prism_pipeline.core.flags import manual_review
from prism_pipeline.prism.metadata.metadata_table import review_backlog


@dg.asset_check(asset="metadata_table", blocking=True, additional_ins={"text_instances": dg.AssetIn()},
                description="Exactly one metadata row per text instance, with the same keys in the same order.")
def one_row_per_text_instance(metadata_table: pd.DataFrame, text_instances: pd.DataFrame) -> dg.AssetCheckResult:
    keys = ["column_id", "user_id", "conversation_id", "interaction_id", "utterance_id"]
    same_len = len(metadata_table) == len(text_instances)
    same_keys = same_len and metadata_table[keys].reset_index(drop=True).equals(
        text_instances[keys].reset_index(drop=True))
    duplicated = int(metadata_table[keys].duplicated().sum())
    return dg.AssetCheckResult(
        passed=bool(same_keys and duplicated == 0),
        metadata={"metadata_rows": len(metadata_table), "text_instances": len(text_instances),
                  "duplicated_keys": duplicated},
    )


@dg.asset_check(asset="metadata_table",
                additional_ins={"text_flags": dg.AssetIn(), "pii_manual_review": dg.AssetIn()},
                description="Human texts flagged for PII that await a manual review (SPEC §2.3; their "
                            "pii_manual_flag stays null = not checked). A warning.")
def pii_reviews_pending(metadata_table: pd.DataFrame, text_flags: pd.DataFrame,
                        pii_manual_review: pd.DataFrame) -> dg.AssetCheckResult:
    summary = review_backlog(metadata_table, text_flags, pii_manual_review)
    message = manual_review.pending_message(summary)
    return dg.AssetCheckResult(passed=message is None, severity=dg.AssetCheckSeverity.WARN,
                               description=message, metadata=summary)


# Schema checks of the other metadata-layer frames: non-blocking (metadata_schema above guards
# the release), so a failure shows in the UI without stopping the run.


