"""Apply removal requests to the stored state by dropping rows (SPEC §7.7).

SPEC §7.7: "Keep per-text metadata cached by content hash. Removal then only drops rows, with
no recompute." A dataset's stored tables are *separable by participant* when a kept
participant's rows do not depend on anyone else's (PRISM: ids come from the frozen registry,
flags from the content cache, the balanced subset is drawn per user). Dropping a removed
participant's rows from them then gives exactly the tables a rebuild from the filtered inputs
would give, in a fraction of the time (PRISM's ``test_removal_run_equals_a_full_rebuild`` checks
that table by table and byte for byte on the release). Tables that are not separable are
recomputed by the removal job instead (PRISM: the REP samples and the census weights).

:func:`redact_state` walks the dataset's ``stored_tables`` in order, drops the rows of the requested
participants, rewrites a table only when it lost rows, and returns what it removed: the
removed participants' ids and the hashes of texts only they had (:class:`Footprint`, which the
leak scan looks for: it is kept in memory and never written anywhere), and rows removed per
participant and release file (for the ledger).

A table indexed by ``RangeIndex`` is renumbered after the drop, as a rebuild would number it;
tables indexed by source line keep their index.

No Dagster import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prism_pipeline.core import state_store
from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.hashing import hash_texts
from prism_pipeline.core.removal.footprint import Footprint
from prism_pipeline.core.removal.requests import user_hash

TEXT_INSTANCES = "text_instances"  # the engine's text table: its text hashes are the ones to purge


@dataclass
class Redaction:
    """Result of :func:`redact_state`."""

    footprint: Footprint
    found_user_hashes: set[str]  # salted hashes of the requested participants found in the state
    rows_by_user_hash: dict[str, dict[str, int]]  # {salted hash: {release file: rows}}
    rows_by_table: dict[str, int]  # {asset: rows dropped}


def redact_state(state_dir: str | Path, dataset: Dataset, request_hashes: set[str], salt: bytes,
                 on_removed_only: Callable[[set[str]], None] | None = None) -> Redaction | None:
    """Drop the rows of the participants whose salted hash is in ``request_hashes`` from every
    stored table of ``dataset`` under ``state_dir`` (module doc). ``None`` when nothing is
    stored yet (no ``users_table``): then there is nothing to redact and the caller works from
    the raw files. ``on_removed_only`` is called once with the hashes of texts only they had,
    as soon as they are known (before the remaining tables are redacted). A table partitioned
    by participant (``state_store``) is read and rewritten only in the parts holding them."""
    if not state_store.table_path(state_dir, [dataset.users_table]).exists():
        return None
    id_column = dataset.id_column_re
    footprint = Footprint()
    removed_users: set[str] = set()
    removed_conversations: set[str] = set()
    instances: state_store.Dropped | None = None  # what text_instances lost
    text_hashes_known = False  # from the stored text_flags, else by hashing text_instances' texts
    rows_by_table: dict[str, int] = {}
    rows_by_user: dict[str, dict[str, int]] = {}
    for asset, rule in dataset.stored_tables:
        path = state_store.table_path(state_dir, [asset])
        if not path.exists():
            continue
        if asset in (dataset.users_table, dataset.conversations_table):
            frame = state_store.read(path)
            if isinstance(frame, pd.DataFrame) and "user_id" in frame.columns:
                users = frame["user_id"].dropna().unique()
                hashes = user_hash(pd.Series(users, dtype="str"), salt)
                removed_users |= set(users[hashes.isin(request_hashes).to_numpy()])
        if rule == "user_id":
            dropped = state_store.drop_rows(path, "user_id", removed_users)
        elif rule == "conversation_id":
            dropped = state_store.drop_rows(path, "conversation_id", removed_conversations)
        elif rule.startswith("aligned:"):
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
        if asset == dataset.conversations_table:
            removed_conversations = set(rows["conversation_id"])
        if asset == TEXT_INSTANCES:
            instances = dropped
        if asset in dataset.release_rows:
            for user, n in rows["user_id"].value_counts().items():
                rows_by_user.setdefault(user, {})[dataset.release_rows[asset]] = int(n)
        if rows.empty:
            continue
        for column in rows.columns:
            if id_column.fullmatch(str(column)):
                footprint.ids.update(v for v in rows[column].dropna().unique() if isinstance(v, str))
        rows_by_table[asset] = len(rows)
    if not text_hashes_known and instances is not None:
        footprint.removed_only_hashes = _instance_hashes(state_dir, instances)
    hashes_of = {u: user_hash(u, salt) for u in removed_users}
    files = tuple(dataset.release_rows.values())
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
    kept = state_store.read(state_store.table_path(state_dir, [TEXT_INSTANCES]))
    return _removed_only(hash_texts(instances.rows["text"]), hash_texts(kept["text"]))


def _removed_only(removed: pd.Series, kept: pd.Series) -> set[str]:
    """Hashes of the dropped rows that no kept row has (a text two participants share stays)."""
    gone = pd.Index(removed.dropna().unique())
    return set(gone[~gone.isin(kept)])
