"""Assemble the release tables from the validated inputs and the recomputed flags.

SPEC §1.3–§1.5 key orders; the ``included_in_*`` flags always come from the sampling assets,
never from the inputs (SPEC §7.2: derived columns are recomputed, not trusted). No Dagster import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from prism_pipeline.core.release.writer import frame_to_records, history_chunks, iter_records
from prism_pipeline.prism import codebook as cb

FLAG_COLUMNS = ("included_in_US_REP", "included_in_UK_REP", "included_in_balanced_subset")


def survey_release(survey: pd.DataFrame, balanced_users: pd.Series, uk_rep: pd.Series,
                   us_rep: pd.Series) -> pd.DataFrame:
    """The survey with recomputed flags; the flag series are aligned to the survey's rows."""
    out = survey.drop(columns=[c for c in FLAG_COLUMNS if c in survey.columns]).reset_index(drop=True)
    out["included_in_US_REP"] = us_rep.to_numpy(dtype=bool)
    out["included_in_UK_REP"] = uk_rep.to_numpy(dtype=bool)
    out["included_in_balanced_subset"] = balanced_users.to_numpy(dtype=bool)
    return out


def conversations_release(conversations: pd.DataFrame, balanced: pd.DataFrame) -> pd.DataFrame:
    out = conversations.drop(columns=["included_in_balanced_subset"], errors="ignore").reset_index(drop=True)
    flag = out["conversation_id"].map(balanced.set_index("conversation_id")["included_in_balanced_subset"])
    out["included_in_balanced_subset"] = flag.astype(bool)
    return out


def utterances_release(utterances: pd.DataFrame, balanced: pd.DataFrame) -> pd.DataFrame:
    """Utterances with the balanced flag copied from their conversation (SPEC §3.3)."""
    out = utterances.drop(columns=["included_in_balanced_subset"], errors="ignore").copy()
    flag = out["conversation_id"].map(balanced.set_index("conversation_id")["included_in_balanced_subset"])
    out["included_in_balanced_subset"] = flag.astype(bool)
    return out


def survey_records(survey: pd.DataFrame) -> list[dict]:
    return frame_to_records(survey, cb.SURVEY_COLUMNS)


def release_records(survey: list[dict], conversations: pd.DataFrame, history: pd.DataFrame,
                    utterances: pd.DataFrame, metadata: pd.DataFrame) -> Mapping[str, Iterable[dict]]:
    """{file name: records} in the published key orders, ready for ``writer.write_release``
    (``survey``: already :func:`survey_records`, which a removal also needs on its own). The
    large files' records are lazy iterators, built chunk by chunk while they are written."""
    return {
        "survey.jsonl": survey,
        "conversations.jsonl": iter_records(
            conversations, cb.CONVERSATION_COLUMNS,
            extra={"conversation_history": history_chunks(history, conversations["conversation_id"])}),
        "utterances.jsonl": iter_records(utterances, cb.UTTERANCE_COLUMNS),
        "metadata.jsonl": iter_records(metadata, cb.METADATA_COLUMNS),
    }


def published_flag_differences(published: pd.Series, recomputed: pd.Series) -> dict[str, int]:
    """Counts of agreement/disagreement between a published flag and its recomputation."""
    published = published.reset_index(drop=True).astype("boolean")
    recomputed = recomputed.reset_index(drop=True).astype(bool)
    given = published.notna()
    return {
        "compared": int(given.sum()),
        "published_true_recomputed_false": int((given & published.fillna(False) & ~recomputed).sum()),
        "published_false_recomputed_true": int((given & ~published.fillna(True) & recomputed).sum()),
    }


def ledger_entries(pending: pd.DataFrame, erasure: pd.DataFrame, run_id: str, sha_before: Mapping[str, str | None],
                   sha_after: Mapping[str, str]) -> list[dict]:
    """One ledger entry per newly applied removal request (removal/ledger.py): no clear ids."""
    applied_at = _utc_now()
    entries = []
    for request in pending.itertuples(index=False):  # one per request: a handful, not data rows
        rows = erasure.loc[erasure["request_id"] == request.request_id]
        entries.append({
            "request_id": request.request_id,
            "user_hash": request.user_hash,
            "received": request.received,
            "applied_at": applied_at,
            "run_id": run_id,
            "rows_removed": {r.file: int(r.rows) for r in rows.itertuples(index=False)},
            "release_sha256_before": dict(sha_before),
            "release_sha256_after": dict(sha_after),
        })
    return entries


def _utc_now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
