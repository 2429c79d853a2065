"""Stable utterance and interaction ids across removals (SPEC §1.5, §7.7).

The published ids are positional: ``ut{k}`` numbers the scored responses in file order and
``int{g}`` numbers the (conversation_id, turn) groups in lexicographic order of the
conversation_id string ("c0" < "c1" < "c10" < "c100" < "c2"), then numeric turn. Removing
one participant and recomputing those rules would renumber almost everyone, breaking every
citation and join. So the first build freezes the ids in a registry, and later builds look
them up and hand out new numbers append-only.

The registry is the SQLite file ``<state_dir>/id_registry.sqlite``:

* ``utterances(conversation_id, turn, within_turn_id) -> utterance_id`` (``"ut12"``);
* ``interactions(conversation_id, turn) -> interaction_id`` (``"int7"``);
* ``counters``: ``next_utterance`` and ``next_interaction``, the next numbers to hand out.

:func:`assign_ids` does, in ONE transaction (a crash or an exception at any point leaves the
previous registry exactly as it was; the rollback journal undoes a half-done write on the
next open):

a. empty registry (never seeded): the reference rule over ALL scored rows of the unfiltered
   input, so the ids equal the published ones even if some participants are already removed
   at the first build; only the kept rows are stored, and the counters are one above the
   highest number the rule gave (removed participants' numbers are never handed out again);
b. seeded registry: kept rows are looked up by natural key; keys not in the registry get new
   numbers from the counters in file order (utterances and interactions separately; every
   utterance of an interaction shares its number);
c. purge: registry rows of conversations that occur only in removed rows are deleted, as
   are the keys of removed rows themselves. Counters never go down, so a removed
   participant's numbers are never reused. After a purge the file is rebuilt (Privacy).

Privacy: the registry holds conversation ids and turns, so after a purge nothing of the
removed participant may survive in the file's bytes:

* ``secure_delete=ON``: deleted records and freed pages are overwritten with zeros;
* a ``VACUUM`` after every purge: secure_delete is not enough, because when b-tree pages are
  rebalanced (on inserts and deletes) moved cells can leave stale copies in a page's
  unallocated space (measured: removed ids survived a purge in about half of random trials).
  VACUUM rebuilds the file from the live rows only. It runs after the id transaction has
  committed; a ``vacuum_pending`` flag in the ``meta`` table is committed with the purge,
  so a crash before the VACUUM only defers it to the next run. No purge, no VACUUM;
* the rollback journal in DELETE mode: the journal briefly holds the old pages and is
  deleted at commit (a WAL file would keep old pages after the checkpoint). A run killed
  mid-transaction may leave a journal with the pre-removal pages; the next write deletes it;
* the file is laid out for the raw-byte leak scanner (:mod:`prism_pipeline.core.removal.scan`),
  which matches an id only between non-alphanumeric bytes: ids are stored as text
  (``"ut12"``; a 1-byte integer 48..57 after a conversation id would read as a digit,
  ``"c6" + 0x30`` = ``c60``), and a constant one-space column sits after each conversation id
  and before each utterance / interaction id, in the tables and in their unique indexes, so
  no stored id touches another id or a digit-valued byte.

The tests check all of this with the scanner on the file itself.

No Dagster import.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from prism_pipeline.prism.conversation_tables.ids import id_number, interaction_ids

REGISTRY_FILENAME = "id_registry.sqlite"
UTTERANCE_KEY: list[str] = ["conversation_id", "turn", "within_turn_id"]
INTERACTION_KEY: list[str] = ["conversation_id", "turn"]
COUNTERS: tuple[str, str] = ("next_utterance", "next_interaction")

_SCHEMA = (
    # sep_key / sep_id are constant spaces that put a non-alphanumeric byte on both sides of
    # every stored id (module doc, Privacy); being constant, they change no key's uniqueness.
    """CREATE TABLE IF NOT EXISTS utterances (
        conversation_id TEXT NOT NULL, sep_key TEXT NOT NULL DEFAULT ' ' CHECK (sep_key = ' '),
        turn INTEGER NOT NULL, within_turn_id INTEGER NOT NULL,
        sep_id TEXT NOT NULL DEFAULT ' ' CHECK (sep_id = ' '), utterance_id TEXT NOT NULL,
        PRIMARY KEY (conversation_id, sep_key, turn, within_turn_id)) WITHOUT ROWID""",
    "CREATE UNIQUE INDEX IF NOT EXISTS utterances_by_id ON utterances (utterance_id, sep_id)",
    """CREATE TABLE IF NOT EXISTS interactions (
        conversation_id TEXT NOT NULL, sep_key TEXT NOT NULL DEFAULT ' ' CHECK (sep_key = ' '),
        turn INTEGER NOT NULL,
        sep_id TEXT NOT NULL DEFAULT ' ' CHECK (sep_id = ' '), interaction_id TEXT NOT NULL,
        PRIMARY KEY (conversation_id, sep_key, turn)) WITHOUT ROWID""",
    "CREATE UNIQUE INDEX IF NOT EXISTS interactions_by_id ON interactions (interaction_id, sep_id)",
    """CREATE TABLE IF NOT EXISTS meta (
        name TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS counters (
        name TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID""",
)
_KEYS = {"utterances": UTTERANCE_KEY, "interactions": INTERACTION_KEY}
# The id column of each table and its prefix; ids are stored as text (module doc, Privacy).
_ID = {"utterances": ("utterance_id", "ut"), "interactions": ("interaction_id", "int")}


class RegistryError(RuntimeError):
    """The registry file is inconsistent (never caused by input data)."""


def _connect(path: Path, timeout_s: float = 60.0) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA temp_store=MEMORY")  # no temporary files with keys in them
    return conn


def _read_table(conn: sqlite3.Connection, table: str, numbers: bool = True) -> pd.DataFrame:
    """Key columns and ``number`` (int64), or the stored id text with ``numbers=False``."""
    id_col, prefix = _ID[table]
    columns = _KEYS[table] + [id_col]
    frame = pd.DataFrame(conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), columns=columns)
    frame = frame.astype({c: ("str" if c in ("conversation_id", id_col) else "int64") for c in columns})
    number = id_number(frame[id_col], prefix) if len(frame) else pd.Series(dtype="int64")
    if numbers:
        return frame.drop(columns=id_col).assign(number=number.to_numpy(dtype="int64"))
    return frame.iloc[np.argsort(number.to_numpy(), kind="stable")].reset_index(drop=True)


def _read_counters(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT name, value FROM counters").fetchall())


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    # .tolist() turns numpy integers into Python ints, which sqlite3 needs.
    return list(zip(*(frame[c].tolist() for c in columns)))


def _delete(conn: sqlite3.Connection, table: str, keys: pd.DataFrame) -> None:
    key = _KEYS[table]
    where = " AND ".join(f"{c} = ?" for c in key)
    conn.executemany(f"DELETE FROM {table} WHERE sep_key = ' ' AND {where}", _records(keys, key))


def _id_text(prefix: str, numbers: np.ndarray) -> np.ndarray:
    return np.char.add(prefix, np.asarray(numbers, dtype="int64").astype(str))


def _insert(conn: sqlite3.Connection, table: str, rows: pd.DataFrame) -> None:
    """Insert key columns + ``number`` rows (stored as the id text)."""
    id_col, prefix = _ID[table]
    columns = _KEYS[table] + [id_col]
    rows = rows.assign(**{id_col: _id_text(prefix, rows["number"].to_numpy()).tolist()})
    conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                     _records(rows, columns))


def _set_counters(conn: sqlite3.Connection, values: dict[str, int]) -> None:
    conn.executemany("INSERT INTO counters (name, value) VALUES (?, ?) "
                     "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                     [(k, int(v)) for k, v in values.items()])


def _vacuum_pending(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT value FROM meta WHERE name = 'vacuum_pending'").fetchone()
    return bool(row and row[0])


def _set_vacuum_pending(conn: sqlite3.Connection, value: bool) -> None:
    conn.execute("INSERT INTO meta (name, value) VALUES ('vacuum_pending', ?) "
                 "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (int(value),))


def _validate(scored: pd.DataFrame, keep: pd.Series | np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    missing = [c for c in UTTERANCE_KEY if c not in scored.columns]
    if missing:
        raise ValueError(f"scored lacks columns {missing}")
    conv = scored["conversation_id"]
    if conv.isna().any() or (len(conv) and pd.api.types.infer_dtype(conv, skipna=False) != "string"):
        raise ValueError("scored.conversation_id must be strings without missing values")
    for col in ("turn", "within_turn_id"):
        if not pd.api.types.is_integer_dtype(scored[col]) or scored[col].isna().any():
            raise ValueError(f"scored.{col} must be integers without missing values")
    if isinstance(keep, pd.Series) and not keep.index.equals(scored.index):
        raise ValueError("keep must have the same index as scored")
    keep_arr = np.asarray(keep)
    if keep_arr.shape != (len(scored),) or keep_arr.dtype != bool:
        raise ValueError("keep must be a bool vector with one value per scored row")
    keys = pd.DataFrame({"conversation_id": conv.astype("str").to_numpy(),
                         "turn": scored["turn"].to_numpy(dtype="int64"),
                         "within_turn_id": scored["within_turn_id"].to_numpy(dtype="int64")})
    dup = np.flatnonzero(keys.duplicated(UTTERANCE_KEY).to_numpy())
    if len(dup):
        raise ValueError(f"{len(dup)} scored rows repeat an earlier (conversation_id, turn, within_turn_id); "
                         f"first at row {dup[0]}")
    return keys, keep_arr


def _reference_numbers(keys: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """SPEC §1.5 on the rows given: utterance k = file position; interaction g = rank of
    (conversation_id string, turn) in lexicographic order (the shared ids helper)."""
    ut = np.arange(len(keys), dtype="int64")  # = prism_pipeline.prism.conversation_tables.ids.utterance_ids
    if not len(keys):
        return ut, np.zeros(0, dtype="int64")
    interaction = id_number(interaction_ids(keys["conversation_id"], keys["turn"]), "int").to_numpy(dtype="int64")
    return ut, interaction


def _lookup(rows: pd.DataFrame, registry: pd.DataFrame, key: list[str], start: int) -> tuple[np.ndarray, int]:
    """Registry numbers for ``rows`` (unique keys, file order); unknown keys get ``start``,
    ``start + 1``, ... in file order. Returns the numbers and the next counter value."""
    merged = rows[key].merge(registry[key + ["number"]], on=key, how="left", sort=False)
    numbers = merged["number"].to_numpy(dtype="float64", copy=True)
    new = np.isnan(numbers)
    numbers[new] = start + np.arange(int(new.sum()))
    return numbers.astype("int64"), start + int(new.sum())


def assign_ids(scored: pd.DataFrame, keep: pd.Series | np.ndarray, path: str | Path) -> pd.DataFrame:
    """Frozen ``utterance_id`` / ``interaction_id`` for the kept scored rows (module doc).

    ``scored``: ALL scored model rows of the unfiltered input in file order (columns
    conversation_id, turn, within_turn_id; only model items whose turn equals the last user
    item's turn). ``keep``: bool per row, False for rows of removed participants. ``path``:
    the registry file (``<state_dir>/id_registry.sqlite``), created if missing.

    Returns a frame indexed like the kept rows of ``scored`` (``scored.index[keep]``) with str
    columns ``utterance_id`` ("ut12") and ``interaction_id`` ("int7")."""
    keys, keep_arr = _validate(scored, keep)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = keys.loc[keep_arr].reset_index(drop=True)
    conn = _connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for ddl in _SCHEMA:
                conn.execute(ddl)
            counters = _read_counters(conn)
            if not counters:
                ut, interaction = _seed(conn, keys, keep_arr)
            else:
                if set(counters) != set(COUNTERS):
                    raise RegistryError(f"{path}: counters table must hold exactly {list(COUNTERS)}")
                if _purge(conn, keys, keep_arr):
                    _set_vacuum_pending(conn, True)
                ut, interaction = _extend(conn, kept, counters)
            vacuum = _vacuum_pending(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if vacuum:  # module doc, Privacy
            conn.execute("VACUUM")
            _set_vacuum_pending(conn, False)
    finally:
        conn.close()
    return pd.DataFrame({"utterance_id": pd.Series(_id_text("ut", ut), dtype="str"),
                         "interaction_id": pd.Series(_id_text("int", interaction), dtype="str")}
                        ).set_axis(scored.index[keep_arr])


def _seed(conn: sqlite3.Connection, keys: pd.DataFrame, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if conn.execute("SELECT EXISTS (SELECT 1 FROM utterances UNION ALL SELECT 1 FROM interactions)").fetchone()[0]:
        raise RegistryError("registry has ids but no counters")
    ut, interaction = _reference_numbers(keys)
    kept = keys.loc[keep].assign(number=ut[keep])
    _insert(conn, "utterances", kept)
    groups = kept[INTERACTION_KEY].assign(number=interaction[keep]).drop_duplicates(INTERACTION_KEY)
    _insert(conn, "interactions", groups)
    # One above the highest number the rule gave over ALL rows, removed ones included.
    _set_counters(conn, {"next_utterance": len(keys),
                         "next_interaction": int(interaction.max()) + 1 if len(keys) else 0})
    return ut[keep], interaction[keep]


def _purge(conn: sqlite3.Connection, keys: pd.DataFrame, keep: np.ndarray) -> int:
    """Delete the removed rows' registry entries (module doc, c); returns how many."""
    removed, kept = keys.loc[~keep], keys.loc[keep]
    if not len(removed):
        return 0
    deleted = 0
    gone = np.setdiff1d(removed["conversation_id"].unique(), kept["conversation_id"].unique())
    for table, key in (("utterances", UTTERANCE_KEY), ("interactions", INTERACTION_KEY)):
        registry = _read_table(conn, table)
        # Keys of removed rows that no kept row shares (always all of them for utterances).
        drop = removed[key].drop_duplicates().merge(kept[key].drop_duplicates(), on=key, how="left", indicator=True)
        drop = drop.loc[drop["_merge"] == "left_only", key]
        hit = registry["conversation_id"].isin(gone) | (
            registry[key].merge(drop, on=key, how="left", indicator=True)["_merge"].eq("both").to_numpy())
        _delete(conn, table, registry.loc[hit])
        deleted += int(hit.sum())
    return deleted


def _extend(conn: sqlite3.Connection, kept: pd.DataFrame, counters: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    ut, next_ut = _lookup(kept, _read_table(conn, "utterances"), UTTERANCE_KEY, counters["next_utterance"])
    groups = kept[INTERACTION_KEY].drop_duplicates()  # first appearance = file order
    group_numbers, next_int = _lookup(groups, _read_table(conn, "interactions"), INTERACTION_KEY,
                                      counters["next_interaction"])
    groups = groups.assign(number=group_numbers)
    interaction = kept[INTERACTION_KEY].merge(groups, on=INTERACTION_KEY, how="left", sort=False)["number"]
    new_ut = kept.assign(number=ut).iloc[ut >= counters["next_utterance"]]
    new_groups = groups.loc[groups["number"] >= counters["next_interaction"]]
    _insert(conn, "utterances", new_ut)
    _insert(conn, "interactions", new_groups)
    _set_counters(conn, {"next_utterance": next_ut, "next_interaction": next_int})
    return ut, interaction.to_numpy(dtype="int64")


def forget_conversations(path: str | Path, conversation_ids: Sequence[str]) -> int:
    """Delete every registry row of these conversations (a removal applied to the stored state
    instead of a rebuild, ``removal/redact.py``); returns rows deleted. Same privacy rules as a
    purge in :func:`assign_ids`: secure_delete, then a VACUUM (module doc, Privacy). Counters
    are untouched, so the numbers are never handed out again."""
    path = Path(path)
    ids = sorted(set(conversation_ids))
    if not ids or not path.exists():
        return 0
    conn = _connect(path)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'counters'").fetchone():
            return 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = 0
            for table in _KEYS:
                for start in range(0, len(ids), 500):
                    batch = ids[start:start + 500]
                    deleted += conn.execute(f"DELETE FROM {table} WHERE sep_key = ' ' AND conversation_id IN "
                                            f"({', '.join('?' * len(batch))})", batch).rowcount
            if deleted:
                _set_vacuum_pending(conn, True)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if deleted:
            conn.execute("VACUUM")
            _set_vacuum_pending(conn, False)
        return deleted
    finally:
        conn.close()


def read_registry(path: str | Path) -> dict[str, object]:
    """The registry's content, for checks and tests: ``{"utterances": frame, "interactions":
    frame, "counters": dict}``; frames hold the key columns and the id text (``utterance_id``
    / ``interaction_id``), sorted by id number. A missing or never-seeded file reads as empty."""
    path = Path(path)
    empty = {t: pd.DataFrame({c: pd.Series(dtype="int64" if c in ("turn", "within_turn_id") else "str")
                              for c in _KEYS[t] + [_ID[t][0]]}) for t in _KEYS}
    if not path.exists():
        return {**empty, "counters": {}}
    # Read-write on purpose: a read-only connection cannot roll back the hot journal a crashed
    # run may leave behind. Nothing is written otherwise.
    conn = sqlite3.connect(path, timeout=60.0)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'counters'").fetchone():
            return {**empty, "counters": {}}
        out: dict[str, object] = {t: _read_table(conn, t, numbers=False) for t in _KEYS}
        out["counters"] = _read_counters(conn)
        return out
    finally:
        conn.close()
