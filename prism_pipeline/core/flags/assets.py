"""The metadata layer's engine assets (SPEC §2): the manual PII review, the flags of every text
instance, and the evidence behind each PII flag; built per dataset by :func:`flag_assets`.

A dataset supplies ``text_instances`` (one row per text: its kind column, its ids, ``text``)
and builds its own ``metadata_table`` from the flags (``core/flags/table.py``). Flagging is a
graph-backed asset that fans out over hash shards of the texts (``shards``, fixed when the
definitions are built, so the stock executors see every step up front): each shard is its own
step, and a final step reads every result back from the content cache. With one shard the step
writes the main cache; with n > 1 each step writes its own shard file and the final step, the
main cache's only writer, merges them (cache.py, "Shard files"), so the shards may run on
separate machines. With the default in-process executor the shards run one after another on this
machine; with a per-step executor (``dg.multiprocess_executor``, ``dagster_dask.dask_executor``,
``dagster_k8s``'s ``k8s_job_executor``) they run in parallel. A dataset with published moderation
results (PRISM's ``metadata.jsonl``) names the asset holding them and the function that matches
them to its text instances (``frozen``): those texts are never sent to a backend (SPEC §7.3).
Materialisation metadata carries counts and rates only, never text or ids.
"""


import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd

from prism_pipeline.core import schemas
from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.flags import detectors, language, manual_review, moderation, pii, pii_review, runner, table
from prism_pipeline.core.flags.cache import DEFAULT_FILENAME, FlagCache, merge_shard_files, shard_cache_path
from prism_pipeline.core.flags.detectors import LANGUAGE_DETECTOR, PII_DETECTOR
from prism_pipeline.core.flags.moderation import base, local, openai_backend
from prism_pipeline.core.flags.resources import FlagSettings
from prism_pipeline.core.flags.runner import run_detectors, uncached_rows
from prism_pipeline.core.hashing import code_version
from prism_pipeline.core.resources import DatasetPaths
from prism_pipeline.core.validation import SchemaCheck

GROUP = "metadata_flags"
INPUTS_GROUP = "inputs"


def _text_flags_check(dataset: Dataset) -> SchemaCheck:
    return SchemaCheck("text_flags", schemas.TextFlagsSchema, "text_flags", key_prefix=dataset.key_prefix)


@dataclass(frozen=True)
class Frozen:
    """A dataset's published moderation results: the asset holding them and ``match(text
    instances, that table) -> Series`` of the frozen result (or None) per text instance."""

    asset: str
    match: Callable[[pd.DataFrame, pd.DataFrame], pd.Series]


def detector_versions(flag_settings: FlagSettings) -> dict[str, str]:
    """Library and model versions behind the flags, for the audit trail (SPEC §7.3)."""
    return {
        "language_detector": LANGUAGE_DETECTOR.build().version,
        "pii_detector": PII_DETECTOR.build().version,
        "moderation_detector": flag_settings.moderation_spec().build().version
        if flag_settings.moderation_backend == "local" else f"openai:{flag_settings.openai_model}",
    }


def _progress(context, label: str):
    def report(done: int, total: int) -> None:
        context.log.info(f"{label}: {done:,}/{total:,} computations ({100 * done / max(total, 1):.0f}%)")
    return report


@dg.op(ins={"after_erasure": dg.In(dg.Nothing), "flag_config": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing),
       description="Before the shard steps, once the erasure has purged the cache: with more than one shard, "
                   "fold a WAL a killed writer left into the main cache, which the shards then open read-only.")
def prepare_flag_cache(paths: DatasetPaths) -> None:
    main = paths.state / DEFAULT_FILENAME
    if main.exists():
        # The shard steps open the main cache immutable (no locks, no -wal): closing the only
        # connection checkpoints a WAL a killed writer left, while no other step writes it.
        FlagCache(main).close()


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


class _Flagging:
    """The flagging steps of one dataset (``frozen``: its published results, or None)."""

    def __init__(self, frozen: Frozen | None):
        self.frozen = frozen

    def to_moderate(self, text_instances: pd.DataFrame, frozen_table) -> tuple[pd.Series, pd.Series]:
        """(frozen result or None per row, texts that still need the backend)."""
        if self.frozen is None or frozen_table is None or frozen_table.empty:
            frozen = pd.Series([None] * len(text_instances), index=text_instances.index, dtype=object)
        else:
            frozen = self.frozen.match(text_instances, frozen_table)
        return frozen, text_instances["text"][frozen.isna()]

    def runs(self, text_instances: pd.DataFrame, frozen_table,
             flag_settings: FlagSettings) -> list[tuple[str, pd.Series, list, int | None]]:
        """(label, texts, detector specs, workers) of each detector run of a flagging step."""
        _, to_moderate = self.to_moderate(text_instances, frozen_table)
        backend = flag_settings.moderation_backend
        return [("language+pii", text_instances["text"], [LANGUAGE_DETECTOR, PII_DETECTOR],
                 flag_settings.workers or None),
                (f"moderation ({backend})", to_moderate, [flag_settings.moderation_spec()],
                 flag_settings.workers_for(backend))]

    def shard_op(self, shard: int, n: int) -> dg.OpDefinition:
        """The step that flags hash shard ``shard`` of ``n`` (one op per shard: the fan-out is
        fixed when the definitions are built, so every executor sees the whole plan up front)."""

        @dg.op(name=f"flag_shard_{shard}_of_{n}", ins={"ready": dg.In(dg.Nothing)},
               description=f"Language, PII and moderation for the texts of hash shard {shard} of {n}, computing "
                           "only what the content cache lacks and committing each chunk as it completes. With more "
                           "than one shard the step reads the main cache only and writes its own shard file "
                           "(state/flags/).")
        def flag_shard(context: dg.OpExecutionContext, text_instances: pd.DataFrame, paths: DatasetPaths,
                       flag_settings: FlagSettings, frozen_table: pd.DataFrame | None = None) -> int:
            runs = self.runs(text_instances, frozen_table, flag_settings)
            if n == 1:  # the only writer: straight into the main cache
                path, work, restrict = paths.state / DEFAULT_FILENAME, runs, (shard, n)
            else:  # maybe on another machine: read the main cache, write only this shard's own file
                path, restrict = shard_cache_path(paths.state, shard, n), None
                work = _uncached_work(runs, paths.state / DEFAULT_FILENAME, (shard, n))
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

        return flag_shard

    def collect_op(self) -> dg.OpDefinition:
        @dg.op(name="collect_flags",
               description="Merge the shard cache files into the main cache (more than one shard), then read every "
                           "text's flags back from it (raises if a shard left any uncomputed).")
        def collect_flags(context: dg.OpExecutionContext, shard_entries: list[int], text_instances: pd.DataFrame,
                          paths: DatasetPaths, flag_settings: FlagSettings,
                          frozen_table: pd.DataFrame | None = None) -> dg.Output[pd.DataFrame]:
            frozen, to_moderate = self.to_moderate(text_instances, frozen_table)
            with FlagCache(paths.state / DEFAULT_FILENAME) as cache:
                files, merged = merge_shard_files(cache, paths.state)
                if files:
                    context.log.info(f"merged {files} shard cache files ({merged:,} entries) into the main cache")
                basic = run_detectors(text_instances["text"], [LANGUAGE_DETECTOR, PII_DETECTOR], cache,
                                      compute_missing=False)
                moderated = run_detectors(to_moderate, [flag_settings.moderation_spec()], cache,
                                          compute_missing=False)
            flags = table.assemble_flags(basic, moderated, frozen)
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

        return collect_flags


def flag_assets(dataset: Dataset, shards: int = 1, frozen: Frozen | None = None) -> list[dg.AssetsDefinition]:
    """``pii_manual_review``, ``text_flags`` (``shards`` flagging steps) and ``pii_review_evidence``
    for one dataset (module doc)."""
    if shards < 1:
        raise ValueError(f"flag shards must be >= 1, got {shards}")
    kinds, owners, prefix = dataset.text_kinds, list(dataset.owners), list(dataset.key_prefix)
    # The rules these assets run (the detectors' library versions are in the flag cache's keys):
    # a change in any of these files marks them unsynced.
    version = code_version(sys.modules[__name__], table, manual_review, pii_review, runner, detectors, language, pii,
                           moderation, base, local, openai_backend,
                           *([sys.modules[frozen.match.__module__]] if frozen else []))
    review_check = SchemaCheck("pii_manual_review", schemas.pii_manual_review_schema(kinds),
                               manual_review.REVIEW_FILENAME, key_prefix=dataset.key_prefix)
    evidence_check = SchemaCheck("pii_review_evidence", schemas.pii_review_evidence_schema(kinds),
                                 "pii_review_evidence", key_prefix=dataset.key_prefix)
    flags_check = _text_flags_check(dataset)

    @dg.asset(
        # erasure: a removal deletes the reviews of texts only the removed participants had
        group_name=INPUTS_GROUP, owners=owners, kinds={"csv"}, code_version=version, key_prefix=prefix,
        deps=[dg.AssetKey(dataset.key("pii_manual_review_csv")), dg.AssetKey(dataset.key("erasure"))],
        check_specs=[review_check.spec()],
        description=f"Versioned manual PII review (SPEC §2.3): ({kinds.column}, sha256 of the text) → verdict, "
                    "reviewer, date. Keyed by the text's hash so a review follows its text and never stores it.",
        metadata={"dagster/column_schema": review_check.column_schema()},
    )
    def pii_manual_review(paths: DatasetPaths):
        path = paths.reference / manual_review.REVIEW_FILENAME
        review = manual_review.load_review(path, kinds)
        yield dg.Output(review, metadata={"dagster/row_count": len(review), "path": str(path)})
        yield review_check.result(review)

    flagging = _Flagging(frozen)
    shard_ops = [flagging.shard_op(i, shards) for i in range(shards)]
    collect_flags = flagging.collect_op()
    ins = {"text_instances": dg.AssetIn(key_prefix=prefix),
           "erasure": dg.AssetIn(key_prefix=prefix, dagster_type=dg.Nothing),
           "flag_config": dg.AssetIn(key_prefix=prefix, dagster_type=dg.Nothing)}
    spec = dict(
        name="text_flags", key_prefix=prefix, group_name=GROUP, owners=owners, kinds={"python", "sqlite"},
        code_version=version,
        description="Per text instance: language_flag (langid 1.1.6, SPEC §2.2), pii_flag (scrubadub 2.0.1 default "
                    "cleaning changes the text) and moderation_flag (published results where the dataset has them, "
                    "else the configured backend), cached by (detector, version, sha256 of the text) in the state "
                    f"dir; {shards} flagging step(s), one per hash shard of the texts.",
        metadata={"dagster/column_schema": flags_check.column_schema()},
    )

    def compose(text_instances, erasure, flag_config, **frozen_input):
        # The erasure purges removed texts from the cache: flagging must not run beside it (a
        # per-step executor would otherwise start both at once) nor read what it is deleting.
        # flag_config: the result settings, so a changed threshold marks the flags unsynced.
        ready = prepare_flag_cache(after_erasure=erasure, flag_config=flag_config)
        entries = [op(ready=ready, text_instances=text_instances, **frozen_input) for op in shard_ops]
        return collect_flags(entries, text_instances, **frozen_input)

    if frozen is None:
        @dg.graph_asset(ins=ins, **spec)
        def text_flags(text_instances: pd.DataFrame, erasure, flag_config) -> pd.DataFrame:
            return compose(text_instances, erasure, flag_config)
    else:
        @dg.graph_asset(ins={**ins, "frozen_table": dg.AssetIn(dataset.key(frozen.asset))}, **spec)
        def text_flags(text_instances: pd.DataFrame, erasure, flag_config, frozen_table: pd.DataFrame) -> pd.DataFrame:
            return compose(text_instances, erasure, flag_config, frozen_table=frozen_table)

    @dg.asset(
        group_name=GROUP, owners=owners, kinds={"pandas"}, code_version=version, check_specs=[evidence_check.spec()],
        key_prefix=prefix, ins={name: dg.AssetIn(key_prefix=prefix)
                                for name in ("text_instances", "text_flags", "pii_manual_review")},
        description="Private, never released (SPEC §2.3): per PII-flagged human text (its kind, sha256 of the "
                    "text), the scrubadub filth types that fired and their character spans, and whether it has a "
                    "verdict in pii_manual_review.csv. `prism-pipeline review-pii export` turns the pending ones "
                    "into a reviewer sheet. Metadata: counts per filth type only.",
        metadata={"dagster/column_schema": evidence_check.column_schema()},
    )
    def pii_review_evidence(paths: DatasetPaths, text_instances: pd.DataFrame, text_flags: pd.DataFrame,
                            pii_manual_review: pd.DataFrame):
        with FlagCache(paths.state / DEFAULT_FILENAME) as cache:
            evidence = pii_review.review_evidence(text_instances, text_flags, pii_manual_review, kinds, cache=cache)
        yield dg.Output(evidence, metadata={
            "dagster/row_count": len(evidence),
            "pending_distinct_texts": int((~evidence["reviewed"]).sum()),
            "flagged_texts_by_filth_type": dg.MetadataValue.json(pii_review.filth_type_counts(evidence)),
        })
        yield evidence_check.result(evidence)

    return [pii_manual_review, text_flags, pii_review_evidence]


def flag_checks(dataset: Dataset) -> list[dg.AssetChecksDefinition]:
    """The flags' checks of their own steps: the schema of the graph-backed ``text_flags`` (which
    cannot yield checks itself) and the review backlog."""
    return [_text_flags_check(dataset).definition(), pii_reviews_pending_check(dataset)]


def pii_reviews_pending_check(dataset: Dataset) -> dg.AssetChecksDefinition:
    """A warning on the dataset's ``metadata_table``: human texts flagged for PII that await a
    manual review (their ``pii_manual_flag`` stays null = not checked)."""
    kinds, prefix = dataset.text_kinds, list(dataset.key_prefix)

    @dg.asset_check(asset=dg.AssetKey(dataset.key("metadata_table")),
                    additional_ins={"text_flags": dg.AssetIn(key_prefix=prefix),
                                    "pii_manual_review": dg.AssetIn(key_prefix=prefix)},
                    description="Human texts flagged for PII that await a manual review (SPEC §2.3; their "
                                "pii_manual_flag stays null = not checked). A warning.")
    def pii_reviews_pending(metadata_table: pd.DataFrame, text_flags: pd.DataFrame,
                            pii_manual_review: pd.DataFrame) -> dg.AssetCheckResult:
        # the metadata table carries each text instance's kind, row for row
        summary = table.review_backlog(metadata_table, text_flags, pii_manual_review, kinds)
        message = manual_review.pending_message(summary)
        return dg.AssetCheckResult(passed=message is None, severity=dg.AssetCheckSeverity.WARN,
                                   description=message, metadata=summary)

    return pii_reviews_pending
