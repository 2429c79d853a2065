"""Apply removal requests to the stored state by dropping rows (SPEC §7.7).

SPEC §7.7: "Keep per-text metadata cached by content hash. Removal then only drops rows, with
no recompute." A dataset's stored tables are *separable by participant* when a kept
participant's rows do not depend on anyone else's (PRISM: ids come from the frozen registry,
flags from the content cache, the balanced subset is drawn per user). Dropping a removed
participant's rows from them then gives exactly the tables a rebuild from the filtered inputs
would give, in a fraction of the time (PRISM's ``test_removal_run_equals_a_full_rebuild`` checks
that table by table and byte for byte on the release). Tables that are not separable are
recomputed by the removal job instead (PRISM: the REP samples and the census weights).

:func:`redact_state` walks the dataset's ``stored_tables``, drops the rows of the requested
participants, rewrites a table only when it lost rows, and returns what it removed: the
removed participants' ids and the hashes of texts only they had (:class:`Footprint`, which the
leak scan looks for: it is kept in memory and never written anywhere), and rows removed per
participant and release file (for the ledger).

A table indexed by ``RangeIndex`` is renumbered after the drop, as a rebuild would number it;
tables indexed by source line keep their index.

Killed midway: what to drop is learnt from the stored state before anything is dropped (the
participants from the users and conversations tables, their conversations, the positions of
their text instances, the texts only they had from the stored text hashes), and the tables
that tell it are redacted last (:func:`redaction_order`). So an erasure killed at any point
leaves a state from which the next one learns the same and drops the rest: every table is
either untouched or has lost exactly those rows (a partitioned table part by part, each part
atomically; a table aligned with the text instances is recognised by its length). While tables
are being dropped, ``erasure_in_progress.json`` (a count, no ids) marks the state, so the next
erasure knows its own counts cover only the rest and takes the ledger's counts and the leak
scan's ids from the raw files.

No Dagster import.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prism_pipeline.core import state_store
from prism_pipeline.core.atomic import atomic_write_text
from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.hashing import hash_texts
from prism_pipeline.core.removal.footprint import Footprint
from prism_pipeline.core.removal.requests import user_hash

TEXT_INSTANCES = "text_instances"  # the engine's text table: its text hashes are the ones to purge
PROGRESS_FILENAME = "erasure_in_progress.json"  # in the state dir while tables are being redacted


@dataclass
class Redaction:
    """Result of :func:`redact_state`."""

    footprint: Footprint
    found_user_hashes: set[str]  # salted hashes of the requested participants found in the state
    rows_by_user_hash: dict[str, dict[str, int]]  # {salted hash: {release file: rows}}
    rows_by_table: dict[str, int]  # {asset: rows dropped}
    resumed: bool = False  # it completed an erasure that was killed midway: the counts are this run's only


def redaction_order(dataset: Dataset) -> list[tuple[str, str]]:
    """The dataset's stored tables in the order they are redacted (module doc, "Killed midway"):
    the tables that tell what to drop elsewhere go last (the text hashes' tables, then the
    tables aligned with the text instances, then the text instances, the conversations and the
    users), every other table first, in the dataset's order."""
    last = list(dict.fromkeys([TEXT_INSTANCES, dataset.conversations_table, dataset.users_table]))
    rank = {"text_sha256": 1}  # aligned tables: 2; every other rule: 0
    rest = sorted((t for t in dataset.stored_tables if t[0] not in last),
                  key=lambda t: 2 if t[1].startswith("aligned:") else rank.get(t[1], 0))
    return rest + [t for name in last for t in dataset.stored_tables if t[0] == name]


def redact_state(state_dir: str | Path, dataset: Dataset, request_hashes: set[str], salt: bytes,
                 on_removed_only: Callable[[set[str]], None] | None = None) -> Redaction | None:
    """Drop the rows of the participants whose salted hash is in ``request_hashes`` from every
    stored table of ``dataset`` under ``state_dir`` (module doc). ``None`` when nothing is
    stored yet (no ``users_table``): then there is nothing to redact and the caller works from
    the raw files. ``on_removed_only`` is called once with the hashes of texts only they had,
    as soon as they are known (before any table is redacted). A table partitioned by
    participant (``state_store``) is read and rewritten only in the parts holding them."""
    state_dir = Path(state_dir)
    if not state_store.table_path(state_dir, [dataset.users_table]).exists():
        return None
    progress = state_dir / PROGRESS_FILENAME
    resumed = progress.exists()
    # What to drop, learnt before anything is dropped: the participants, their conversations,
    # their text instances' positions and the texts only they had.
    removed_users: set[str] = set()
    known = {}
    for asset in dict.fromkeys((dataset.users_table, dataset.conversations_table)):
        frame = state_store.read(state_store.table_path(state_dir, [asset]))
        known[asset] = frame
        if isinstance(frame, pd.DataFrame) and "user_id" in frame.columns:
            users = frame["user_id"].dropna().unique()
            removed_users |= set(users[user_hash(pd.Series(users, dtype="str"), salt).isin(request_hashes).to_numpy()])
    conversations = known[dataset.conversations_table]
    removed_conversations = set(conversations.loc[conversations["user_id"].isin(removed_users), "conversation_id"]) \
        if isinstance(conversations, pd.DataFrame) and "conversation_id" in conversations.columns else set()
    instances = state_store.find_rows(state_store.table_path(state_dir, [TEXT_INSTANCES]), "user_id", removed_users)
    aligned = {asset: state_store.read(state_store.table_path(state_dir, [asset]))
               for asset, rule in dataset.stored_tables if rule.startswith("aligned:")
               and state_store.table_path(state_dir, [asset]).exists()}
    removed_only = _removed_only_hashes(state_dir, instances, aligned)
    if on_removed_only is not None and removed_only:
        on_removed_only(set(removed_only))
    atomic_write_text(progress, json.dumps({"requests": len(request_hashes)}))  # no ids, no hashes

    footprint = Footprint(set(), set(removed_only))
    id_column = dataset.id_column_re
    values = {"user_id": removed_users, "conversation_id": removed_conversations, "text_sha256": removed_only}
    rows_by_table: dict[str, int] = {}
    rows_by_user: dict[str, dict[str, int]] = {}
    for asset, rule in redaction_order(dataset):
        path = state_store.table_path(state_dir, [asset])
        if rule.startswith("aligned:"):
            dropped = _drop_aligned(path, asset, aligned.get(asset), instances)
        else:
            dropped = state_store.drop_rows(path, rule, values[rule])
        if dropped is None:
            continue
        rows = dropped.rows
        if asset in dataset.release_rows:
            for user, n in rows["user_id"].value_counts().items():
                rows_by_user.setdefault(user, {})[dataset.release_rows[asset]] = int(n)
        if rows.empty:
            continue
        for column in rows.columns:
            if id_column.fullmatch(str(column)):
                footprint.ids.update(v for v in rows[column].dropna().unique() if isinstance(v, str))
        rows_by_table[asset] = len(rows)
    progress.unlink()
    hashes_of = {u: user_hash(u, salt) for u in removed_users}
    files = tuple(dataset.release_rows.values())
    return Redaction(
        footprint=footprint,
        found_user_hashes=set(hashes_of.values()),
        rows_by_user_hash={hashes_of[u]: {f: rows_by_user.get(u, {}).get(f, 0) for f in files}
                           for u in removed_users},
        rows_by_table=rows_by_table,
        resumed=resumed,
    )


def _aligned_state(frame: pd.DataFrame, instances: state_store.Dropped, asset: str) -> bool:
    """True when a table aligned with text_instances still has the removed instances' rows,
    False when it lost them already (a redaction killed between the two: module doc)."""
    if len(frame) == instances.table_rows:
        return True
    if len(frame) == instances.table_rows - len(instances.positions):
        return False
    raise ValueError(f"stored {asset} is not aligned with text_instances; rebuild with full_release")


def _removed_only_hashes(state_dir: Path, instances: state_store.Dropped | None,
                         aligned: dict[str, object]) -> set[str]:
    """Hashes of the texts only the removed text instances had: from the stored text hashes
    (a table aligned with text_instances that has ``text_sha256``), else by hashing texts."""
    if instances is None or instances.rows.empty:
        return set()
    for asset, frame in aligned.items():
        if isinstance(frame, pd.DataFrame) and "text_sha256" in frame.columns and len(frame):
            hashes = frame["text_sha256"]
            if _aligned_state(frame, instances, asset):
                gone = np.zeros(len(frame), dtype=bool)
                gone[instances.positions] = True
                return _removed_only(hashes[gone], hashes[~gone])
            return _removed_only(hash_texts(instances.rows["text"]), hashes)  # it holds the kept rows only
    return _instance_hashes(state_dir, instances)


def _drop_aligned(path: Path, asset: str, frame: object, instances: state_store.Dropped | None
                  ) -> state_store.Dropped | None:
    """Drop from a table row-aligned with text_instances (text_flags: one row per text
    instance, same order) the rows at the positions of the removed instances; returns them."""
    if not isinstance(frame, pd.DataFrame) or frame.empty or instances is None:
        return None
    if not _aligned_state(frame, instances, asset):
        return state_store.Dropped(frame.iloc[:0], np.empty(0, dtype=np.int64), len(frame))
    gone = np.zeros(len(frame), dtype=bool)
    gone[instances.positions] = True
    if gone.any():
        state_store.write(path, frame.loc[~gone].reset_index(drop=True) if isinstance(frame.index, pd.RangeIndex)
                          else frame.loc[~gone])
    return state_store.Dropped(frame.loc[gone], instances.positions, len(frame))


def _instance_hashes(state_dir, instances: state_store.Dropped) -> set[str]:
    """Hashes of texts only the removed text instances had, by hashing texts (no text hashes
    stored): their texts against the others' (text_instances is not redacted yet)."""
    table = state_store.read(state_store.table_path(state_dir, [TEXT_INSTANCES]))
    gone = np.zeros(len(table), dtype=bool)
    gone[instances.positions] = True
    return _removed_only(hash_texts(instances.rows["text"]), hash_texts(table.loc[~gone, "text"]))


def _removed_only(removed: pd.Series, kept: pd.Series) -> set[str]:
    """Hashes of the dropped rows that no kept row has (a text two participants share stays)."""
    gone = pd.Index(removed.dropna().unique())
    return set(gone[~gone.isin(kept)])
