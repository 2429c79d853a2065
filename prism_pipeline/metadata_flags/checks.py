"""Checks on the metadata layer (SPEC §1.6, §2, §8.6)."""

import dagster as dg
import pandas as pd

from prism_pipeline import schemas
from prism_pipeline.metadata_flags import manual_review
from prism_pipeline.metadata_flags.manual_review import REVIEW_FILENAME
from prism_pipeline.metadata_flags.metadata_table import review_backlog
from prism_pipeline.validation import schema_check_result


@dg.asset_check(asset="metadata_table", blocking=True,
                description="schemas.MetadataSchema: ids, flags, en_flag consistent, scores 0-1, manual flag only on "
                            "reviewed human PII hits.")
def metadata_schema(metadata_table: pd.DataFrame) -> dg.AssetCheckResult:
    return schema_check_result(schemas.MetadataSchema, metadata_table, "metadata")


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

@dg.asset_check(asset="text_instances",
                description="schemas.TextInstancesSchema: block names, id formats, each block carrying exactly "
                            "its ids (SPEC §2.1).")
def text_instances_schema(text_instances: pd.DataFrame) -> dg.AssetCheckResult:
    return schema_check_result(schemas.TextInstancesSchema, text_instances, "text_instances")


@dg.asset_check(asset="text_flags",
                description="schemas.TextFlagsSchema: text hash, langid label, PII flag, moderation columns with "
                            "scores 0-1 and their backend and model.")
def text_flags_schema(text_flags: pd.DataFrame) -> dg.AssetCheckResult:
    return schema_check_result(schemas.TextFlagsSchema, text_flags, "text_flags")


@dg.asset_check(asset="pii_manual_review",
                description="schemas.PiiManualReviewSchema: human blocks only, one verdict per (column_id, "
                            "text_sha256), ISO dates, pseudonymous reviewers.")
def pii_manual_review_schema(pii_manual_review: pd.DataFrame) -> dg.AssetCheckResult:
    return schema_check_result(schemas.PiiManualReviewSchema, pii_manual_review, REVIEW_FILENAME)


@dg.asset_check(asset="pii_review_evidence",
                description="schemas.PiiReviewEvidenceSchema: one row per PII-flagged human text, the filth types "
                            "that fired and their spans.")
def pii_review_evidence_schema(pii_review_evidence: pd.DataFrame) -> dg.AssetCheckResult:
    return schema_check_result(schemas.PiiReviewEvidenceSchema, pii_review_evidence, "pii_review_evidence")


@dg.asset_check(asset="published_moderation",
                description="schemas.PublishedModerationSchema: one published moderation_flag per metadata key. "
                            "Passes on the frame without columns that stands for 'no published file used'.")
def published_moderation_schema(published_moderation: pd.DataFrame) -> dg.AssetCheckResult:
    return schema_check_result(schemas.PublishedModerationSchema, published_moderation, "metadata.jsonl",
                               optional=True)
