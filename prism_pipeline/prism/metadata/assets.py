"""The metadata layer as assets (SPEC §2): text instances → flags → the metadata table.

Flagging is a graph-backed asset that fans out over hash shards of the texts (``shards`` of
:func:`text_flags_asset`, fixed when the definitions are built, so the stock executors see
every step up front): each shard is its own step, and a final step reads every result back
from the content cache. With one shard the step writes the main cache; with n > 1 each step
writes its own shard file and the final step, the main cache's only writer, merges them
(cache.py, "Shard files"), so the shards may run on separate machines. With the default
in-process executor the shards run one after another on this machine; with a per-step
executor (``dg.multiprocess_executor``, ``dagster_dask.dask_executor``, ``dagster_k8s``'s
``k8s_job_executor``) they run in parallel.
Materialisation metadata carries counts and rates only, never text or ids.
"""

import contextlib
import sys

import dagster as dg
import numpy as np
import pandas as pd

from prism_pipeline.core.flags import detectors, language, manual_review, moderation, pii, pii_review, runner
from prism_pipeline.core.flags.cache import DEFAULT_FILENAME, FlagCache, merge_shard_files, shard_cache_path
from prism_pipeline.core.flags.detectors import LANGUAGE_DETECTOR, PII_DETECTOR
from prism_pipeline.core.flags.moderation import base, local, openai_backend
from prism_pipeline.core.flags.resources import FlagSettings
from prism_pipeline.core.flags.runner import run_detectors, uncached_rows
from prism_pipeline.core.hashing import code_version
from prism_pipeline.core.removal.requests import removed_users
from prism_pipeline.core.resources import PrismPaths
from prism_pipeline.core.validation import table_schema
from prism_pipeline.prism import codebook as cb
from prism_pipeline.prism import schemas
from prism_pipeline.prism.metadata import frozen, text_instances
from prism_pipeline.prism.metadata import metadata_table as table_rules
from prism_pipeline.prism.metadata.frozen import load_frozen_moderation, match_frozen_moderation
from prism_pipeline.prism.metadata.text_instances import build_text_instances

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


@dg.op(ins={"after_erasure": dg.In(dg.Nothing), "flag_config": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing),
       description="Before the shard steps, once the erasure has purged the cache: with more than one shard, "
                   "fold a WAL a killed writer left into the main cache, which the shards then open read-only.")
def prepare_flag_cache(prism_paths: PrismPaths) -> None:
    main = prism_paths.state / DEFAULT_FILENAME
    if main.exists():
        # The shard steps open the main cache immutable (no locks, no -wal): closing the only
        # connection checkpoints a WAL a killed writer left, while no other step writes it.
        FlagCache(main).close()


def _detector_runs(text_instances: pd.DataFrame, published_moderation: pd.DataFrame,
                   flag_settings: FlagSettings) -> list[tuple[str, pd.Series, list, int | None]]:
    """(label, texts, detector specs, workers) of each detector run of a flagging step."""
    _, to_moderate = _to_moderate(text_instances, published_moderation)
    backend = flag_settings.moderation_backend
    return [("language+pii", text_instances["text"], [LANGUAGE_DETECTOR, PII_DETECTOR], flag_settings.workers or None),
            (f"moderation ({backend})", to_moderate, [flag_settings.moderation_spec()],
             flag_settings.workers_for(backend))]


def _uncached_work(runs: list, main_path, shard: tuple[int, int]) -> list[tuple[str, pd.Series, list, int | None]]:
    """The runs restricted to what the main cache (read-only) lacks in this shard. Detectors
    of one run lacking the same texts stay together (one pool); a detector lacking others
    (e.g. after its version changed) gets its own run, so no detector recomputes what the
    main cache already has."""
    work = []
    with FlagCache(main_path, read_only=True) if main_path.exists() else contextlib.nullcontext() as main:
        for label, texts, specs, workers in runs:
            groups: dict[bytes, tuple[np.ndarray, list]] = {}
            for spec, mask in zip(specs, uncached_rows(texts, specs, main, shard=shard)):
                if mask.any():
                    groups.setdefault(mask.tobytes(), (mask, []))[1].append(spec)
            work += [(label, texts[mask], group, workers) for mask, group in groups.values()]
    return work


def flag_shard_op(shard: int, n: int) -> dg.OpDefinition:
    """The step that flags hash shard ``shard`` of ``n`` (one op per shard: the fan-out is fixed
    when the definitions are built, so every executor sees the whole plan up front)."""

    @dg.op(name=f"flag_shard_{shard}_of_{n}", ins={"ready": dg.In(dg.Nothing)},
           description=f"Language, PII and moderation for the texts of hash shard {shard} of {n}, computing only "
                       "what the content cache lacks and committing each chunk as it completes. With more than "
                       "one shard the step reads the main cache only and writes its own shard file (state/flags/).")
    def flag_shard(context: dg.OpExecutionContext, text_instances: pd.DataFrame, published_moderation: pd.DataFrame,
                   prism_paths: PrismPaths, flag_settings: FlagSettings) -> int:
        return _flag_shard(context, shard, n, text_instances, published_moderation, prism_paths, flag_settings)

    return flag_shard


def _flag_shard(context, shard: int, n: int, text_instances: pd.DataFrame, published_moderation: pd.DataFrame,
                prism_paths: PrismPaths, flag_settings: FlagSettings) -> int:
    runs = _detector_runs(text_instances, published_moderation, flag_settings)
    if n == 1:  # the only writer: straight into the main cache
        path, work, restrict = prism_paths.state / DEFAULT_FILENAME, runs, (shard, n)
    else:  # maybe on another machine: read the main cache, write only this shard's own file
        path, restrict = shard_cache_path(prism_paths.state, shard, n), None
        work = _uncached_work(runs, prism_paths.state / DEFAULT_FILENAME, (shard, n))
        if not work:
            context.log.info(f"shard {shard} of {n}: every result is in the main cache")
            return 0
    with FlagCache(path) as cache:
        before = cache.stats()["total"]
        for label, texts, specs, workers in work:
            run_detectors(texts, specs, cache, workers=workers, chunk_size=flag_settings.chunk_size,
                          progress=_progress(context, f"{label} shard {shard}"), shard=restrict)
        added = cache.stats()["total"] - before
    context.log.info(f"shard {shard} of {n}: {added:,} new cache entries")
    return added


@dg.op(description="Merge the shard cache files into the main cache (more than one shard), then read every "
                   "text's flags back from it (raises if a shard left any uncomputed).")
def collect_flags(context: dg.OpExecutionContext, shard_entries: list[int], text_instances: pd.DataFrame,
                  published_moderation: pd.DataFrame, prism_paths: PrismPaths,
                  flag_settings: FlagSettings) -> dg.Output[pd.DataFrame]:
    frozen, to_moderate = _to_moderate(text_instances, published_moderation)
    with _cache(prism_paths) as cache:
        files, merged = merge_shard_files(cache, prism_paths.state)
        if files:
            context.log.info(f"merged {files} shard cache files ({merged:,} entries) into the main cache")
        basic = run_detectors(text_instances["text"], [LANGUAGE_DETECTOR, PII_DETECTOR], cache,
                              compute_missing=False)
        moderated = run_detectors(to_moderate, [flag_settings.moderation_spec()], cache, compute_missing=False)
    flags = table_rules.assemble_flags(basic, moderated, frozen)
    return dg.Output(flags, metadata={
        **detector_versions(flag_settings),
        "dagster/row_count": len(flags),
        "new_cache_entries": int(sum(shard_entries)),
        "shard_cache_files_merged": files,
        "moderation_sources": dg.MetadataValue.json(
            {k: int(v) for k, v in flags["moderation_backend"].value_counts().items()}),
        "moderation_models": dg.MetadataValue.json(
            {k: int(v) for k, v in flags["moderation_model"].value_counts().items()}),
    })


def text_flags_asset(shards: int = 1) -> dg.AssetsDefinition:
    """The ``text_flags`` graph asset with ``shards`` flagging steps (``build_defs(flag_shards=)``)."""
    if shards < 1:
        raise ValueError(f"flag shards must be >= 1, got {shards}")
    shard_ops = [flag_shard_op(i, shards) for i in range(shards)]

    @dg.graph_asset(
        name="text_flags", group_name=GROUP, owners=OWNERS, kinds={"python", "sqlite"}, code_version=VERSION,
        # The erasure purges removed texts from the cache: flagging must not run beside it (a
        # per-step executor would otherwise start both at once) nor read what it is deleting.
        # flag_config: the result settings, so a changed threshold marks the flags unsynced.
        ins={"text_instances": dg.AssetIn(), "published_moderation": dg.AssetIn(),
             "erasure": dg.AssetIn(dagster_type=dg.Nothing), "flag_config": dg.AssetIn(dagster_type=dg.Nothing)},
        description="Per text instance: language_flag (langid 1.1.6, SPEC §2.2), pii_flag (scrubadub 2.0.1 default "
                    "cleaning changes the text) and moderation_flag (frozen published results, else the configured "
                    f"backend), cached by (detector, version, sha256 of the text) under PRISM_STATE_DIR; {shards} "
                    "flagging step(s), one per hash shard of the texts.",
        metadata={"dagster/column_schema": table_schema(schemas.TextFlagsSchema)},
    )
    def text_flags(text_instances: pd.DataFrame, published_moderation: pd.DataFrame, erasure,
                   flag_config) -> pd.DataFrame:
        ready = prepare_flag_cache(after_erasure=erasure, flag_config=flag_config)
        entries = [op(ready=ready, text_instances=text_instances, published_moderation=published_moderation)
                   for op in shard_ops]
        return collect_flags(entries, text_instances, published_moderation)

    return text_flags


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
