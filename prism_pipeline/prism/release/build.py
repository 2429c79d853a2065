"""Assemble the release tables from the validated inputs and the recomputed flags.

SPEC §1.3–§1.5 key orders; the ``included_in_*`` flags always come from the sampling assets,
never from the inputs (SPEC §7.2: derived columns are recomputed, not trusted). No Dagster import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from prism_pipeline.core.release.writer import frame_to_records, iter_records, python_values
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


def history_chunks(history: pd.DataFrame, conversation_ids: pd.Series) -> Callable[[int, int], list[list[dict]]]:
    """``(start, stop) -> history_lists`` of conversations ``start:stop`` of ``conversation_ids``
    (unique), for :func:`iter_records`: the history rows are ordered by conversation once
    (stable, so file order within a conversation is kept) and each chunk takes its slice."""
    ids = conversation_ids.reset_index(drop=True)
    codes = pd.Index(ids).get_indexer(history["conversation_id"])  # -1: not in the release, sorts first
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]

    def lists(start: int, stop: int) -> list[list[dict]]:
        lo, hi = np.searchsorted(sorted_codes, [start, stop])
        return history_lists(history.iloc[order[lo:hi]], ids.iloc[start:stop])

    return lists


def history_lists(history: pd.DataFrame, conversation_ids: pd.Series) -> list[list[dict]]:
    """``conversation_history`` per conversation, in the published item key order: user items
    carry turn/role/content only, model items all eight keys (SPEC §1.4)."""
    items = python_values(history.reset_index(drop=True))
    is_user = (items["role"] == "user").tolist()
    cols = {k: items[k].tolist() for k in cb.HISTORY_MODEL_KEYS}
    conv = items["conversation_id"].tolist()
    grouped: dict[str, list[dict]] = {}
    user_keys, model_keys = cb.HISTORY_USER_KEYS, cb.HISTORY_MODEL_KEYS
    for i, cid in enumerate(conv):
        keys = user_keys if is_user[i] else model_keys
        grouped.setdefault(cid, []).append({k: cols[k][i] for k in keys})
    return [grouped.get(cid, []) for cid in conversation_ids.tolist()]
