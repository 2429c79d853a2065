"""Apply removal requests to the stored state by dropping rows (SPEC §7.7).

SPEC §7.7: "Keep per-text metadata cached by content hash. Removal then only drops rows, with
no recompute." Every stored table of this pipeline is *separable by participant*: a kept
participant's rows do not depend on anyone else's (ids come from the frozen registry, flags
from the content cache, the balanced subset is drawn per user). So dropping a removed
participant's rows from the stored tables gives exactly the tables a rebuild from the filtered
inputs would give, in a fraction of the time; ``test_removal_run_equals_a_full_rebuild``
checks that equality table by table and byte for byte on the release. The exceptions are
recomputed by the removal job instead of being filtered: the REP samples (a stable-mode cell
may take in one replacement) and the census weights (pool shares change).

:func:`redact_state` walks :data:`STORED_TABLES` in order, drops the rows of the requested
participants, rewrites a table only when it lost rows, and returns what it removed: the
removed participants' ids and the hashes of texts only they had (:class:`Footprint`, which the
leak scan looks for: it is kept in memory and never written anywhere), and rows removed per
participant and release file (for the ledger).

A table indexed by ``RangeIndex`` is renumbered after the drop, as a rebuild would number it;
tables indexed by source line keep their index.

No Dagster import.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prism_pipeline.core import state_store
from prism_pipeline.core.flags.runner import hash_texts
from prism_pipeline.core.removal.footprint import Footprint
from prism_pipeline.core.removal.requests import user_hash

# (asset, how a row belongs to a participant). Order matters: the survey and the conversations
# come first because later tables are matched through them.
STORED_TABLES: tuple[tuple[str, str], ...] = (
    ("survey_input", "user_id"),
    ("conversations_input", "user_id"),
    # The texts next, so the hashes of texts only removed participants had are known early
    # (``on_removed_only``: the caller purges the flag cache meanwhile).
    ("text_instances", "user_id"),
    ("text_flags", "text_instances"),  # one row per text instance, aligned with text_instances
    ("conversation_history", "conversation_id"),
    ("utterances_input", "user_id"),
    ("balanced_subset", "conversation_id"),
    ("utterances", "user_id"),
    ("interactions", "user_id"),
    ("metadata_table", "user_id"),
    ("published_moderation", "user_id"),
    ("uk_rep_sample", "user_id"),
    ("us_rep_sample", "user_id"),
    ("census_weights", "user_id"),
    ("pii_manual_review", "text_sha256"),  # reviews of texts only removed participants had
    ("pii_review_evidence", "text_sha256"),  # the filth behind flags of texts only they had
)
# The stored table each release file is built from, row for row (SPEC §1.3-§1.6).
RELEASE_ROWS = {"survey_input": "survey.jsonl", "conversations_input": "conversations.jsonl",
                "utterances": "utterances.jsonl", "metadata_table": "metadata.jsonl"}
# user_id, conversation_id, utterance_id, interaction_id and the wide table's utterance_id_a...
ID_COLUMN = re.compile(r"(user|conversation|utterance|interaction)_id(_[a-z])?")


@dataclass
class Redaction:
    """Result of :func:`redact_state`."""

    footprint: Footprint
    found_user_hashes: set[str]  # salted hashes of the requested participants found in the state
    rows_by_user_hash: dict[str, dict[str, int]]  # {salted hash: {release file: rows}}
    rows_by_table: dict[str, int]  # {asset: rows dropped}


def redact_state(state_dir: str | Path, request_hashes: set[str], salt: bytes,
                 on_removed_only: Callable[[set[str]], None] | None = None) -> Redaction | None:
    """Drop the rows of the participants whose salted hash is in ``request_hashes`` from every
    stored table under ``state_dir`` (module doc). ``None`` when nothing is stored yet (no
    ``survey_input``): then there is nothing to redact and the caller works from the raw files.
    ``on_removed_only`` is called once with the hashes of texts only they had, as soon as they
    are known (before the remaining tables are redacted). A table partitioned by participant
    (``state_store``) is read and rewritten only in the parts holding them."""
    if not state_store.table_path(state_dir, ["survey_input"]).exists():
        return None
    footprint = Footprint()
    removed_users: set[str] = set()
    removed_conversations: set[str] = set()
    instances: state_store.Dropped | None = None  # what text_instances lost
    text_hashes_known = False  # from the stored text_flags, else by hashing text_instances' texts
    rows_by_table: dict[str, int] = {}
    rows_by_user: dict[str, dict[str, int]] = {}
    for asset, rule in STORED_TABLES:
        path = state_store.table_path(state_dir, [asset])
        if not path.exists():
            continue
        if asset in ("survey_input", "conversations_input"):
            frame = state_store.read(path)
            if isinstance(frame, pd.DataFrame) and "user_id" in frame.columns:
                users = frame["user_id"].dropna().unique()
                hashes = user_hash(pd.Series(users, dtype="str"), salt)
                removed_users |= set(users[hashes.isin(request_hashes).to_numpy()])
        if rule == "user_id":
            dropped = state_store.drop_rows(path, "user_id", removed_users)
        elif rule == "conversation_id":
            dropped = state_store.drop_rows(path, "conversation_id", removed_conversations)
        elif rule == "text_instances":
            dropped, kept = _drop_aligned(path, asset, instances)
            if dropped is not None:
                footprint.removed_only_hashes = _removed_only(dropped.rows["text_sha256"], kept["text_sha256"])
                text_hashes_known = True
                if on_removed_only is not None:
                    on_removed_only(set(footprint.removed_only_hashes))
        else:  # text_sha256
            if not text_hashes_known and instances is not None:
                footprint.removed_only_hashes = _instance_hashes(state_dir, instances)
                text_hashes_known = True
            dropped = state_store.drop_rows(path, "text_sha256", footprint.removed_only_hashes)
        if dropped is None:
            continue
        rows = dropped.rows
        if asset == "conversations_input":
            removed_conversations = set(rows["conversation_id"])
        if asset == "text_instances":
            instances = dropped
        if asset in RELEASE_ROWS:
            for user, n in rows["user_id"].value_counts().items():
                rows_by_user.setdefault(user, {})[RELEASE_ROWS[asset]] = int(n)
        if rows.empty:
            continue
        for column in rows.columns:
            if ID_COLUMN.fullmatch(str(column)):
                footprint.ids.update(v for v in rows[column].dropna().unique() if isinstance(v, str))
        rows_by_table[asset] = len(rows)
    if not text_hashes_known and instances is not None:
        footprint.removed_only_hashes = _instance_hashes(state_dir, instances)
    hashes_of = {u: user_hash(u, salt) for u in removed_users}
    files = tuple(RELEASE_ROWS.values())
    return Redaction(
        footprint=footprint,
        found_user_hashes=set(hashes_of.values()),
        rows_by_user_hash={hashes_of[u]: {f: rows_by_user.get(u, {}).get(f, 0) for f in files}
                           for u in removed_users},
        rows_by_table=rows_by_table,
    )


def _drop_aligned(path: Path, asset: str, instances: state_store.Dropped | None
                  ) -> tuple[state_store.Dropped | None, pd.DataFrame | None]:
    """Drop from a table row-aligned with text_instances (text_flags: one row per text
    instance, same order) the rows at the positions text_instances lost; returns them and the
    kept rows."""
    frame = state_store.read(path)
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        return None, None
    if instances is None or instances.table_rows != len(frame):
        raise ValueError(f"stored {asset} is not aligned with text_instances; rebuild with full_release")
    gone = np.zeros(len(frame), dtype=bool)
    gone[instances.positions] = True
    kept = frame.loc[~gone]
    if gone.any():
        state_store.write(path, kept.reset_index(drop=True) if isinstance(frame.index, pd.RangeIndex) else kept)
    return state_store.Dropped(frame.loc[gone], instances.positions, len(frame)), kept


def _instance_hashes(state_dir, instances: state_store.Dropped) -> set[str]:
    """Hashes of texts only the dropped text instances had, by hashing texts (no text_flags
    stored): the dropped rows' texts against the kept ones (the table is already redacted)."""
    kept = state_store.read(state_store.table_path(state_dir, ["text_instances"]))
    return _removed_only(hash_texts(instances.rows["text"]), hash_texts(kept["text"]))


def _removed_only(removed: pd.Series, kept: pd.Series) -> set[str]:
    """Hashes of the dropped rows that no kept row has (a text two participants share stays)."""
    gone = pd.Index(removed.dropna().unique())
    return set(gone[~gone.isin(kept)])
