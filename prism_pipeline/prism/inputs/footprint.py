"""PRISM's removal footprint from the raw files, its participants' ids, and its id registry.

The engine's removal (``core/removal``) asks a dataset three things: every participant id of
its raw files (``remove`` refuses an unknown one), what a set of requests removes as read from
the unfiltered raw files (the leak check's list when the stored state cannot tell), and to
forget removed participants in stores of its own: PRISM's utterance and interaction id registry
(``conversation_tables/registry.py``). SPEC §7.7. No Dagster import.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from prism_pipeline.core.hashing import hash_texts
from prism_pipeline.core.removal.footprint import Footprint
from prism_pipeline.core.removal.requests import removed_mask, user_hash
from prism_pipeline.prism.conversation_tables.derive import scored_mask
from prism_pipeline.prism.conversation_tables.ids import interaction_ids, utterance_ids
from prism_pipeline.prism.conversation_tables.registry import REGISTRY_FILENAME, forget_conversations
from prism_pipeline.prism.inputs import parse

CONVERSATION_ID = re.compile(r"c[0-9]+")


def read_user_ids(raw_dir: Path) -> pd.Series:
    """Every participant id of the raw survey (``prism-pipeline remove`` refuses others)."""
    return parse.read_survey(Path(raw_dir) / parse.SURVEY.file_name)["user_id"]


def forget_registry_ids(state_dir: Path, footprint: Footprint) -> dict[str, int]:
    """After the erasure: delete the removed conversations' utterance and interaction ids from
    the registry (their numbers are never handed out again)."""
    ids = [i for i in footprint.ids if CONVERSATION_ID.fullmatch(i)]
    return {"registry_rows_deleted": forget_conversations(Path(state_dir) / REGISTRY_FILENAME, ids)}


def _texts(survey: pd.DataFrame, conversations: pd.DataFrame, history: pd.DataFrame) -> pd.Series:
    return pd.concat([survey["system_string"], survey["self_description"], conversations["open_feedback"],
                      history["content"]], ignore_index=True)


def removed_footprint(raw_dir: Path, requests: pd.DataFrame, salt: bytes) -> Footprint:
    """Read the raw survey and conversations and describe what the requests remove."""
    if requests.empty:
        return Footprint()
    survey = parse.read_survey(raw_dir / parse.SURVEY.file_name).reset_index(drop=True)
    conversations, history = parse.read_conversations(raw_dir / parse.CONVERSATIONS.file_name)
    conversations, history = conversations.reset_index(drop=True), history.reset_index(drop=True)

    gone_users = removed_mask(survey["user_id"], requests, salt)
    gone_conv = removed_mask(conversations["user_id"], requests, salt)
    gone_items = history["conversation_id"].isin(conversations.loc[gone_conv, "conversation_id"])
    scored = scored_mask(history)
    # Reference ids of the removed rows (what a release built before the removal carried).
    ut = pd.Series(utterance_ids(int(scored.sum())), index=history.index[scored])
    it = interaction_ids(history.loc[scored, "conversation_id"], history.loc[scored, "turn"])
    gone_scored = gone_items[scored]
    ids = (set(survey.loc[gone_users, "user_id"]) | set(conversations.loc[gone_conv, "conversation_id"])
           | set(ut[gone_scored.to_numpy()]) | set(it[gone_scored.to_numpy()]))

    removed_texts = _texts(survey[gone_users], conversations[gone_conv], history[gone_items])
    kept_texts = _texts(survey[~gone_users], conversations[~gone_conv], history[~gone_items])
    removed_only = set(hash_texts(removed_texts).dropna()) - set(hash_texts(kept_texts).dropna())

    owner = user_hash(survey["user_id"], salt)
    request_of = dict(zip(requests["user_hash"], requests["request_id"]))
    rows: dict[str, dict[str, int]] = {}
    conv_owner = user_hash(conversations["user_id"], salt)
    item_conv = history["conversation_id"].map(pd.Series(conv_owner.to_numpy(), index=conversations["conversation_id"]))
    for h in owner[gone_users]:
        n_conv = int((conv_owner == h).sum())
        mine = (item_conv == h) & scored
        n_utt = int(mine.sum())
        n_int = int(history.loc[mine, ["conversation_id", "turn"]].drop_duplicates().shape[0])
        rows[request_of[h]] = {"survey.jsonl": 1, "conversations.jsonl": n_conv, "utterances.jsonl": n_utt,
                               "metadata.jsonl": 2 + n_conv + n_int + n_utt}
    return Footprint(ids=ids, removed_only_hashes=removed_only, rows_by_request=rows)
