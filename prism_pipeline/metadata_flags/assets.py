"""The metadata layer as assets (SPEC §2): text instances → flags → the metadata table.

Flagging is a graph-backed asset that fans out over hash shards of the texts
(``FlagSettings.shards``): each shard is its own step writing to the content cache, and a
final step reads every result back. With the default in-process executor the shards run one
after another on this machine; with a multi-machine executor they run in parallel.
Materialisation metadata carries counts and rates only, never text or ids.
"""

import sys

import dagster as dg
import pandas as pd

from prism_pipeline import codebook as cb
from prism_pipeline import schemas
from prism_pipeline.hashing import code_version
from prism_pipeline.metadata_flags import (
    detectors,
    language,
    manual_review,
    moderation,
    pii,
    pii_review,
    runner,
    text_instances,
)
from prism_pipeline.metadata_flags import metadata_table as table_rules
from prism_pipeline.metadata_flags.cache import DEFAULT_FILENAME, FlagCache
from prism_pipeline.metadata_flags.detectors import LANGUAGE_DETECTOR, PII_DETECTOR
from prism_pipeline.metadata_flags.moderation import (
    base,
    frozen,
    load_frozen_moderation,
    local,
    match_frozen_moderation,
    openai_backend,
)
from prism_pipeline.metadata_flags.resources import FlagSettings
from prism_pipeline.metadata_flags.runner import run_detectors
from prism_pipeline.metadata_flags.text_instances import build_text_instances
from prism_pipeline.removal.requests import removed_users
from prism_pipeline.resources import PrismPaths
from prism_pipeline.validation import table_schema

GROUP = "metadata_flags"
OWNERS = ["team:prism-data"]
# The rules these assets run (the detectors' library versions are in the flag cache's keys): a
# change in any of these files marks them unsynced.
VERSION = code_version(sys.modules[__name__], table_rules, text_instances, manual_review, pii_review, runner,
                       detectors, language, pii, moderation, base, frozen, local, openai_backend)


@dg.asset(
    # erasure: a removal deletes the reviews of texts only the removed participants had
    group_name="inputs", owners=OWNERS, kinds={"csv"}, code_version=VERSION, deps=["pii_manual_review_csv", "erasure"],
    description="Versioned manual PII review (SPEC §2.3): (column_id, sha256 of the text) → verdict, reviewer, "
                "date. Keyed by the text's hash so a review follows its text and never stores it.",
    metadata={"dagster/column_schema": table_schema(schemas.PiiManualReviewSchema)},
)
def pii_manual_review(prism_paths: PrismPaths) -> dg.Output[pd.DataFrame]:
    path = prism_paths.reference / manual_review.REVIEW_FILENAME
    review = manual_review.load_review(path)
    return dg.Output(review, metadata={"dagster/row_count": len(review), "path": str(path)})


@dg.asset(
    group_name="inputs", owners=OWNERS, kinds={"pandas", "jsonl"}, code_version=VERSION,
    deps=["metadata_jsonl", "flag_config"],
    description="The published moderation_flag results (SPEC §7.3 'frozen reference inputs') from a metadata.jsonl "
                "in the raw dir, when present and FlagSettings.use_frozen_moderation is on; else empty.",
    metadata={"dagster/column_schema": table_schema(schemas.PublishedModerationSchema)},
)
def published_moderation(prism_paths: PrismPaths, flag_settings: FlagSettings,
                         removal_requests: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    path = prism_paths.raw / "metadata.jsonl"
    if not (flag_settings.use_frozen_moderation and path.exists()):
        return dg.Output(pd.DataFrame(), metadata={"present": path.exists(), "used": False, "dagster/row_count": 0})
    frozen = load_frozen_moderation(path)
    frozen = frozen.loc[~removed_users(prism_paths.state, removal_requests, frozen["user_id"])]
    return dg.Output(frozen, metadata={"present": True, "used": True, "dagster/row_count": len(frozen)})


@dg.asset(
    group_name=GROUP, owners=OWNERS, kinds={"pandas"}, code_version=VERSION,
    description="Every text instance of the release (SPEC §2.1): system_string, self_description, open_feedback, "
                "user_prompt (one per interaction), model_response, with their ids, in canonical order (block, "
                "then numeric id order).",
    metadata={"dagster/column_schema": table_schema(schemas.TextInstancesSchema)},
)
def text_instances(survey_input: pd.DataFrame, conversations_input: pd.DataFrame,
                   utterances: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    table = build_text_instances(survey_input.reset_index(drop=True), conversations_input.reset_index(drop=True),
                                 utterances)
    counts = table["column_id"].value_counts().reindex(cb.TEXT_COLUMN_IDS, fill_value=0)
    return dg.Output(table, metadata={"dagster/row_count": len(table),
                                      "rows_by_column_id": dg.MetadataValue.json({k: int(v) for k, v in counts.items()})})


def detector_versions(flag_settings: FlagSettings) -> dict[str, str]:
    """Library and model versions behind the flags, for the audit trail (SPEC §7.3)."""
    return {
        "language_detector": LANGUAGE_DETECTOR.build().version,
        "pii_detector": PII_DETECTOR.build().version,
        "moderation_detector": flag_settings.moderation_spec().build().version
        if flag_settings.moderation_backend == "local" else f"openai:{flag_settings.openai_model}",
    }


# ---------------------------------------------------------------------------------------
# Flagging: fan out over hash shards, then collect
# ---------------------------------------------------------------------------------------
def _cache(prism_paths: PrismPaths) -> FlagCache:
    return FlagCache(prism_paths.state / DEFAULT_FILENAME)


def _to_moderate(text_instances: pd.DataFrame, published_moderation: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(frozen result or None per row, texts that still need the backend)."""
    if published_moderation.empty:
        frozen = pd.Series([None] * len(text_instances), index=text_instances.index, dtype=object)
    else:
        frozen = match_frozen_moderation(text_instances, published_moderation)
    return frozen, text_instances["text"][frozen.isna()]


def _progress(context, label: str):
    def report(done: int, total: int) -> None:
        context.log.info(f"{label}: {done:,}/{total:,} computations ({100 * done / max(total, 1):.0f}%)")
    return report


@dg.op(out=dg.DynamicOut(int), ins={"flag_config": dg.In(dg.Nothing)},
       description="One step per hash shard of the texts (FlagSettings.shards).")
def plan_flag_shards(flag_settings: FlagSettings):
    n = max(1, flag_settings.shards)
    for i in range(n):
        yield dg.DynamicOutput(i, mapping_key=f"shard_{i}_of_{n}")


@dg.op(description="Language, PII and moderation for the texts of one hash shard, computing only what the "
                   "content cache lacks and committing each chunk as it completes.")
def flag_shard(context: dg.OpExecutionContext, shard: int, text_instances: pd.DataFrame,
               published_moderation: pd.DataFrame, prism_paths: PrismPaths, flag_settings: FlagSettings) -> int:
    n = max(1, flag_settings.shards)
    _, to_moderate = _to_moderate(text_instances, published_moderation)
    with _cache(prism_paths) as cache:
        before = cache.stats()
        run_detectors(text_instances["text"], [LANGUAGE_DETECTOR, PII_DETECTOR], cache,
                      workers=flag_settings.workers or None, chunk_size=flag_settings.chunk_size,
                      progress=_progress(context, f"language+pii shard {shard}"), shard=(shard, n))
        backend = flag_settings.moderation_backend
        run_detectors(to_moderate, [flag_settings.moderation_spec()], cache,
                      workers=flag_settings.workers_for(backend), chunk_size=flag_settings.chunk_size,
                      progress=_progress(context, f"moderation ({backend}) shard {shard}"), shard=(shard, n))
        added = cache.stats()["total"] - before["total"]
    context.log.info(f"shard {shard} of {n}: {added:,} new cache entries")
    return added


@dg.op(description="Read every text's flags back from the cache (raises if a shard left any uncomputed).")
def collect_flags(context: dg.OpExecutionContext, shard_entries: list[int], text_instances: pd.DataFrame,
                  published_moderation: pd.DataFrame, prism_paths: PrismPaths,
                  flag_settings: FlagSettings) -> dg.Output[pd.DataFrame]:
    frozen, to_moderate = _to_moderate(text_instances, published_moderation)
    with _cache(prism_paths) as cache:
        basic = run_detectors(text_instances["text"], [LANGUAGE_DETECTOR, PII_DETECTOR], cache,
                              compute_missing=False)
        moderated = run_detectors(to_moderate, [flag_settings.moderation_spec()], cache, compute_missing=False)
    flags = table_rules.assemble_flags(basic, moderated, frozen)
    return dg.Output(flags, metadata={
        **detector_versions(flag_settings),
        "dagster/row_count": len(flags),
        "new_cache_entries": int(sum(shard_entries)),
        "moderation_sources": dg.MetadataValue.json(
            {k: int(v) for k, v in flags["moderation_backend"].value_counts().items()}),
        "moderation_models": dg.MetadataValue.json(
            {k: int(v) for k, v in flags["moderation_model"].value_counts().items()}),
    })


@dg.graph_asset(
    group_name=GROUP, owners=OWNERS, kinds={"python", "sqlite"}, code_version=VERSION,
    description="Per text instance: language_flag (langid 1.1.6, SPEC §2.2), pii_flag (scrubadub 2.0.1 default "
                "cleaning changes the text) and moderation_flag (frozen published results, else the configured "
                "backend), cached by (detector, version, sha256 of the text) under PRISM_STATE_DIR.",
    metadata={"dagster/column_schema": table_schema(schemas.TextFlagsSchema)},
    ins={"flag_config": dg.AssetIn(dagster_type=dg.Nothing)},
)
def text_flags(text_instances: pd.DataFrame, published_moderation: pd.DataFrame, flag_config) -> pd.DataFrame:
    shards = plan_flag_shards(flag_config)
    entries = shards.map(lambda shard: flag_shard(shard, text_instances, published_moderation))
    return collect_flags(entries.collect(), text_instances, published_moderation)


@dg.asset(
    group_name=GROUP, owners=OWNERS, kinds={"pandas"}, code_version=VERSION,
    description="metadata.jsonl as a table (codebook §MetaData, SPEC §1.6, §2.3): ids, pii_flag, pii_manual_flag "
                "(the manual review's verdict for reviewed human PII hits, else null), language_flag, "
                "en_flag = language_flag == 'en', moderation_flag (2-dp scores).",
    metadata={"dagster/column_schema": table_schema(schemas.MetadataSchema)},
)
def metadata_table(text_instances: pd.DataFrame, text_flags: pd.DataFrame,
                   pii_manual_review: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    table = table_rules.metadata_frame(text_instances, text_flags, pii_manual_review)
    return dg.Output(table, metadata={"dagster/row_count": len(table),
                                      **{k: dg.MetadataValue.json(v) if isinstance(v, dict) else v
                                         for k, v in table_rules.flag_rates(table).items()}})


@dg.asset(
    group_name=GROUP, owners=OWNERS, kinds={"pandas"}, code_version=VERSION,
    description="Private, never released (SPEC §2.3): per PII-flagged human text (column_id, sha256 of the text), "
                "the scrubadub filth types that fired and their character spans, and whether it has a verdict in "
                "pii_manual_review.csv. `prism-pipeline review-pii export` turns the pending ones into a reviewer "
                "sheet. Metadata: counts per filth type only.",
    metadata={"dagster/column_schema": table_schema(schemas.PiiReviewEvidenceSchema)},
)
def pii_review_evidence(text_instances: pd.DataFrame, text_flags: pd.DataFrame,
                        pii_manual_review: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    table = pii_review.review_evidence(text_instances, text_flags, pii_manual_review)
    return dg.Output(table, metadata={
        "dagster/row_count": len(table),
        "pending_distinct_texts": int((~table["reviewed"]).sum()),
        "flagged_texts_by_filth_type": dg.MetadataValue.json(pii_review.filth_type_counts(table)),
    })
