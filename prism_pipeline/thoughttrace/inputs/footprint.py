"""ThoughtTrace's removal footprint from the raw file, and its participants' ids.

The engine's removal (``core/removal``) asks a dataset for every participant id of its raw
files (``remove`` refuses an unknown one) and for what a set of requests removes as read from
the unfiltered raw file: the ids (user and conversation ids), the sha256 of the texts only
they had, and the release rows per request and file. ThoughtTrace keeps no store of its own
(no id registry: its ids are the published ones), so it has no ``after_erasure``.

No Dagster import.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from prism_pipeline.core.hashing import hash_texts
from prism_pipeline.core.removal.footprint import Footprint
from prism_pipeline.core.removal.requests import removed_mask, user_hash
from prism_pipeline.thoughttrace import layout
from prism_pipeline.thoughttrace.inputs.normalise import normalise_messages
from prism_pipeline.thoughttrace.inputs.parse import read_thoughttrace
from prism_pipeline.thoughttrace.metadata.text_instances import build_text_instances


def read_user_ids(raw_dir: Path) -> pd.Series:
    """Every participant id of the raw ``ThoughtTrace.jsonl``, in order of first appearance."""
    conversations = read_thoughttrace(Path(raw_dir) / layout.RAW_FILE).conversations
    return conversations["user_id"].drop_duplicates().reset_index(drop=True)


def _text_hashes(texts: pd.DataFrame) -> set[str]:
    return set(hash_texts(texts["text"]).dropna())


def removed_footprint(raw_dir: Path, requests: pd.DataFrame, salt: bytes) -> Footprint:
    """Read the raw file and describe what the requests remove (module doc). Texts are hashed
    as read and as normalised, so the hashes cover whichever ``strict_texts`` stored."""
    if requests.empty:
        return Footprint()
    tables = read_thoughttrace(Path(raw_dir) / layout.RAW_FILE)
    conversations = tables.conversations.reset_index(drop=True)
    messages, thoughts = tables.messages.reset_index(drop=True), tables.thoughts.reset_index(drop=True)
    gone_conv = removed_mask(conversations["user_id"], requests, salt).to_numpy()
    gone_users = set(conversations.loc[gone_conv, "user_id"])

    def texts(keep: bool) -> set[str]:
        conv = conversations.loc[gone_conv != keep]
        users = set(conv["user_id"])
        msg, th = messages.loc[messages["user_id"].isin(users)], thoughts.loc[thoughts["user_id"].isin(users)]
        as_read = build_text_instances(conv, msg, th)
        return _text_hashes(as_read) | _text_hashes(build_text_instances(conv, normalise_messages(msg)[0], th))

    ids = gone_users | set(conversations.loc[gone_conv, "conversation_id"])
    # The release rows of each request, per file (what the ledger records when the stored state
    # cannot tell): one users.jsonl line, one metadata line per text.
    per_user = {
        layout.RAW_FILE: conversations["user_id"].value_counts(),
        "messages.jsonl": messages["user_id"].value_counts(),
        "thoughts.jsonl": thoughts["user_id"].value_counts(),
        "users.jsonl": pd.Series(1, index=list(gone_users), dtype="int64"),
        "metadata.jsonl": build_text_instances(conversations, messages, thoughts)["user_id"].value_counts(),
    }
    request_of = dict(zip(requests["user_hash"], requests["request_id"]))
    rows = {request_of[user_hash(user, salt)]: {file: int(counts.get(user, 0)) for file, counts in per_user.items()}
            for user in sorted(gone_users)}
    return Footprint(ids=ids, removed_only_hashes=texts(keep=False) - texts(keep=True), rows_by_request=rows)
