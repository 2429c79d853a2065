"""Per-text detector results cached by content hash (SPEC §7.4, §7.7).

Key: ``(detector_id, version, text_sha256)``; value: the detector's JSON result. A re-run
computes only texts whose hash is not stored for the current detector version, so a warm
rerun costs a lookup, a changed participant costs their texts only, and removing a
participant costs no recomputation (:meth:`FlagCache.delete_hashes` drops what only they had).

Why SQLite (stdlib ``sqlite3``), WAL mode
-----------------------------------------
* Crash safety: each ``put_many`` is one transaction, committed when the runner finishes a
  chunk. A run killed at any instant (SIGKILL included) keeps every committed chunk and
  loses only the chunk in flight; the file is never left half-written (the journal rolls
  an incomplete transaction back on next open). A directory of JSON/parquet files would
  need its own atomic-rename and compaction logic for the same guarantees.
* Concurrency: WAL lets readers (a Dagster asset check, a final "collect" step) read while
  a writer commits; several writer processes on one machine queue on the write lock
  (``busy_timeout``), which is enough for shards running as parallel steps on one host.
  SQLite locking is not reliable on network filesystems: shards on different machines
  each write their own file and the collecting step calls :meth:`FlagCache.merge_from`.
* Lookups by primary key are indexed (``WITHOUT ROWID`` table clustered on the key), and
  the whole store for 106,554 texts x 3 detectors is ~15 MB.
* Privacy: only the sha256 of a text is stored, never the text (the tests grep the file
  bytes for sample texts). A hash of a short common text can be confirmed by guessing, so
  the file is treated as private state like the data, not released.

``synchronous=NORMAL`` in WAL mode keeps the database consistent after an application
crash or power loss; after a power loss the last few commits may be lost, which for a
cache only means recomputing them.

Schema: entries are ``(detector key, 32-byte digest, result key)``; the (detector_id, version)
pairs and the distinct result JSONs are stored once each in their own tables (PRISM: 3 detector
versions and ~120 distinct results for 305k entries, ~15 MB), so the rebuild after a removal's
deletion (``removal/footprint.py``) is cheap. A view named ``flag_cache`` shows the entries as
``(detector_id, version, text_sha256 hex, result)``, for inspection and joins with the
manual-review table by ``text_sha256``.

A changed detector version invalidates only its own entries: rows of other versions are
simply not read (:meth:`FlagCache.prune_versions` deletes them to reclaim space). A warm rerun
reads each detector version's rows in one range scan (:meth:`FlagCache.get_series`).

Shard files: one writer per file
--------------------------------
With ```build_defs(flag_shards=n)`, n > 1,`` each flagging step may run on another machine, where
SQLite's locking over a network filesystem cannot be trusted; so no two processes write one
file. Step ``i`` opens the main cache read-only (``FlagCache(path, read_only=True)``) to
find what its texts lack and writes only those results to its own file,
:func:`shard_cache_path` (``<state>/flags/shard-<i>-of-<n>.sqlite``); the collecting step,
the main cache's only writer, merges every shard file (:meth:`FlagCache.merge_from`) and
deletes it (:func:`remove_cache_files`). A shard file left by a killed run is resumed by the
next run's step and merged by its collecting step; a removal request deletes leftover shard
files (``removal/assets.py``), so no removed text's hash survives in one.

No Dagster import.
"""

from __future__ import annotations

import glob
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from prism_pipeline.core.flags.detectors import encode_result

# Module doc, Schema; ``flag_cache`` shows the entries with their detector version and result.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS flag_detector (
    id          INTEGER PRIMARY KEY,
    detector_id TEXT NOT NULL,
    version     TEXT NOT NULL,
    UNIQUE (detector_id, version)
);
CREATE TABLE IF NOT EXISTS flag_result (id INTEGER PRIMARY KEY, result TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS flag_entry (
    detector    INTEGER NOT NULL,
    text_sha256 BLOB NOT NULL,
    result      INTEGER NOT NULL,
    PRIMARY KEY (detector, text_sha256)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS flag_cache (detector_id, version, text_sha256, result) AS
    SELECT d.detector_id, d.version, lower(hex(e.text_sha256)), r.result
    FROM flag_entry e JOIN flag_detector d ON d.id = e.detector JOIN flag_result r ON r.id = e.result;
"""
# An unchanged result is not rewritten.
_UPSERT = (
    "INSERT INTO flag_entry (detector, text_sha256, result) VALUES (?, ?, ?) "
    "ON CONFLICT (detector, text_sha256) DO UPDATE SET result = excluded.result "
    "WHERE result IS NOT excluded.result"
)
# SQLite's default limit on bound parameters is 32,766 (>= 3.32); stay well below it.
_BATCH = 5_000
# From this many keys on, get_many scans the detector version's rows instead of IN lookups.
_SCAN_FROM = 20_000
DEFAULT_FILENAME = "flag_cache.sqlite"
SHARD_DIR = "flags"  # under the state dir: one cache file per flagging shard (module doc, Shard files)


def shard_cache_path(state_dir: str | Path, shard: int, n_shards: int) -> Path:
    """The cache file that flagging shard ``shard`` of ``n_shards`` writes."""
    return Path(state_dir) / SHARD_DIR / f"shard-{shard}-of-{n_shards}.sqlite"


def shard_cache_files(state_dir: str | Path) -> list[Path]:
    """Every shard cache file under the state dir, whatever shard count wrote it, sorted."""
    folder = Path(state_dir) / SHARD_DIR
    return sorted(folder.glob("shard-*-of-*.sqlite")) if folder.is_dir() else []


def remove_cache_files(path: str | Path) -> int:
    """Delete a closed cache file and every file beside it that belongs to it (SQLite's
    ``-wal``/``-shm`` and journal files); returns files deleted."""
    path = Path(path)
    files = list(path.parent.glob(glob.escape(path.name) + "*"))
    for file in files:
        file.unlink(missing_ok=True)
    return len(files)


def _batches(items: list, size: int = _BATCH) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _is_hex64(h: object) -> bool:
    return isinstance(h, str) and len(h) == 64 and all(c in "0123456789abcdefABCDEF" for c in h)


def _check_hashes(hashes: list[str]) -> None:
    bad = [h for h in hashes if not _is_hex64(h)]  # stored as the 32 bytes they spell
    if bad:
        raise ValueError(f"{len(bad)} keys are not 64-character sha256 hex digests (first: {bad[0]!r:.80})")


class FlagCache:
    """SQLite store of detector results keyed by (detector_id, version, text_sha256).

    ``path`` is the database file, or a directory in which ``flag_cache.sqlite`` is used.
    Use one instance per process (connections are not shared across ``fork``).

    ``read_only=True`` opens an existing file for reads only: nothing is created or written, so
    a sharded flagging step can look results up in the main cache while only the collecting step
    writes it. It is opened ``immutable=1`` (no locks, no ``-shm``/``-wal`` files, which a plain
    ``mode=ro`` reader of a WAL database creates and which do not work across machines): right
    while no process writes the file, which holds for the main cache while the shard steps run
    (``prepare_flag_cache`` checkpoints it first, and only the collecting step writes it after).
    """

    def __init__(self, path: str | Path, timeout_s: float = 60.0, *, read_only: bool = False) -> None:
        path = Path(path)
        if path.is_dir() or path.suffix == "":
            path = path / DEFAULT_FILENAME
        self.path, self.read_only = path, read_only
        if read_only:
            if not path.is_file():
                raise FileNotFoundError(f"no cache file at {path}")
            self._conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, timeout=timeout_s,
                                         isolation_level=None)
            self._conn.execute("PRAGMA cache_size=-65536")
            if self._object_type("flag_entry") != "table":
                self._conn.close()
                raise ValueError(f"{path} is not a flag cache (no flag_entry table)")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # A 64 MiB page cache holds the whole B-tree of a PRISM-sized store, and checkpointing
        # every ~40 MB of WAL instead of every 4 MB halves the cost of a cold run's commits.
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        self._conn.executescript(_SCHEMA)
        # An earlier version kept columnar snapshot files beside the database; they may hold
        # hashes a removal has deleted since, so they go.
        for stale in path.parent.glob(glob.escape(path.name) + ".snap-*"):
            stale.unlink(missing_ok=True)

    def _object_type(self, name: str) -> str | None:
        row = self._conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _insert_entries(self, source: str) -> None:
        """Inside a transaction: add the entries a SELECT gives as (detector_id, version,
        digest, result) rows, with their detector versions and results; entries already
        present are kept (``INSERT OR IGNORE``). For merging shard files."""
        self._conn.execute("INSERT OR IGNORE INTO flag_detector (detector_id, version) "
                           f"SELECT DISTINCT detector_id, version FROM ({source})")
        self._conn.execute(f"INSERT OR IGNORE INTO flag_result (result) SELECT DISTINCT result FROM ({source})")
        self._conn.execute(
            "INSERT OR IGNORE INTO flag_entry (detector, text_sha256, result) "
            f"SELECT d.id, s.digest, r.id FROM ({source}) s "
            "JOIN flag_detector d ON d.detector_id = s.detector_id AND d.version = s.version "
            "JOIN flag_result r ON r.result = s.result")

    def _detector_key(self, detector_id: str, version: str, create: bool = False) -> int | None:
        """The integer key of a (detector_id, version); with ``create``, added when new."""
        if create:
            self._conn.execute("INSERT OR IGNORE INTO flag_detector (detector_id, version) VALUES (?, ?)",
                               (detector_id, version))
        row = self._conn.execute("SELECT id FROM flag_detector WHERE detector_id = ? AND version = ?",
                                 (detector_id, version)).fetchone()
        return row[0] if row else None

    def _drop_orphan_results(self) -> None:
        """Results no entry refers to any more: a moderation score may be one deleted text's own."""
        self._conn.execute("DELETE FROM flag_result WHERE id NOT IN (SELECT result FROM flag_entry)")

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> FlagCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads -----------------------------------------------------------------------
    def get_many(self, detector_id: str, version: str, hashes: Iterable[str]) -> dict[str, dict]:
        """Stored results for those of ``hashes`` present under this detector version."""
        memo: dict[str, dict] = {}
        found: dict[str, dict] = {}
        for h, raw in self.get_many_json(detector_id, version, hashes).items():
            # Results repeat a lot ({"pii_flag": false}); decode each distinct string once.
            if raw not in memo:
                memo[raw] = json.loads(raw)
            found[h] = memo[raw]
        return found

    def get_many_json(self, detector_id: str, version: str, hashes: Iterable[str]) -> dict[str, str]:
        """Like :meth:`get_many`, with each result as its stored JSON string (no decoding)."""
        wanted = list(dict.fromkeys(hashes))
        found = self.get_series(detector_id, version, wanted)
        found = found[found.index.isin(wanted)]
        return dict(zip(found.index, found.to_numpy(), strict=True))

    def get_series(self, detector_id: str, version: str, hashes: Sequence[str] | pd.Index) -> pd.Series:
        """Stored JSON results as a Series indexed by text hash (unique).

        For many keys this scans the detector version's rows and may return MORE hashes than
        asked (callers align with ``Index.get_indexer``); for few keys it returns only those
        asked that are present. Either way it is one pass in C, not a dict per key.
        """
        key = self._detector_key(detector_id, version)
        select = ("SELECT lower(hex(e.text_sha256)), r.result FROM flag_entry e JOIN flag_result r "
                  "ON r.id = e.result WHERE e.detector = ?")
        rows = []
        if key is None:
            pass
        elif len(hashes) >= _SCAN_FROM:
            # Many keys: one range scan of this (detector_id, version) beats batched IN lookups.
            rows = self._conn.execute(select, (key,)).fetchall()
        else:
            wanted = [bytes.fromhex(h) for h in dict.fromkeys(hashes) if _is_hex64(h)]
            for batch in _batches(wanted):
                marks = ",".join("?" * len(batch))
                rows += self._conn.execute(f"{select} AND e.text_sha256 IN ({marks})", (key, *batch)).fetchall()
        frame = pd.DataFrame(rows, columns=["text_sha256", "result"], dtype=object)
        return pd.Series(frame["result"].to_numpy(), index=pd.Index(frame["text_sha256"], dtype=object), dtype=object)

    def stats(self) -> dict:
        """Row counts per (detector_id, version), total rows and the file size in bytes."""
        rows = self._conn.execute(
            "SELECT d.detector_id, d.version, COUNT(*) FROM flag_entry e JOIN flag_detector d ON d.id = e.detector "
            "GROUP BY d.detector_id, d.version ORDER BY d.detector_id, d.version"
        ).fetchall()
        return {
            "path": str(self.path),
            "entries": {(d, v): n for d, v, n in rows},
            "total": sum(n for _, _, n in rows),
            "file_bytes": self.path.stat().st_size if self.path.exists() else 0,
        }

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a sound file."""
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0]

    # -- writes (each call is one transaction) ----------------------------------------
    def put_many(
        self, detector_id: str, version: str, items: Mapping[str, dict] | Iterable[tuple[str, dict]]
    ) -> int:
        """Store results (hash -> JSON-serialisable result) in one transaction; returns the count.

        NaN/inf are rejected (``allow_nan=False``) so the store only ever holds valid JSON. A
        stored result that differs is replaced.
        """
        pairs = items.items() if isinstance(items, Mapping) else items
        return self.put_many_json(detector_id, version, [(h, encode_result(r)) for h, r in pairs])

    def put_many_json(self, detector_id: str, version: str, items: Iterable[tuple[str, str]]) -> int:
        """Like :meth:`put_many`, with each result already encoded by :func:`encode_result`."""
        latest = dict(items)  # a hash given twice: the last result wins
        # Key order: inserts walk the B-tree once instead of jumping between random pages.
        _check_hashes(list(latest))
        hashes = sorted(latest)
        with self._transaction():
            key = self._detector_key(detector_id, version, create=True)
            distinct = list(dict.fromkeys(latest.values()))
            self._conn.executemany("INSERT OR IGNORE INTO flag_result (result) VALUES (?)", ((r,) for r in distinct))
            ids: dict[str, int] = {}
            for batch in _batches(distinct):
                marks = ",".join("?" * len(batch))
                ids.update((r, i) for i, r in self._conn.execute(
                    f"SELECT id, result FROM flag_result WHERE result IN ({marks})", batch))
            self._conn.executemany(_UPSERT, ((key, bytes.fromhex(h), ids[latest[h]]) for h in hashes))
        return len(hashes)

    def delete_hashes(self, hashes: Iterable[str]) -> int:
        """Delete every detector's entries for these text hashes; returns rows deleted.

        For participant removal (SPEC §7.7): pass the hashes of texts that only removed
        participants had, so no trace of their texts' results remains. Deleted cells are
        zeroed (``secure_delete``); freed pages may still hold moved copies until the file is
        rebuilt (``removal/footprint.py``'s ``purge_flag_cache`` does both).
        """
        blobs = [bytes.fromhex(h) for h in dict.fromkeys(hashes) if _is_hex64(h)]
        deleted = 0
        # Per connection, and before the transaction: SQLite ignores the pragma inside one.
        self._conn.execute("PRAGMA secure_delete=ON")
        with self._transaction():
            # By full primary key, one detector version at a time: index seeks instead of a
            # scan of the whole table per batch.
            for (key,) in self._conn.execute("SELECT id FROM flag_detector ORDER BY id").fetchall():
                for batch in _batches(blobs):
                    marks = ",".join("?" * len(batch))
                    cur = self._conn.execute(
                        f"DELETE FROM flag_entry WHERE detector = ? AND text_sha256 IN ({marks})", [key, *batch])
                    deleted += cur.rowcount
            if deleted:
                self._drop_orphan_results()
        return deleted

    def prune_versions(self, detector_id: str, keep_version: str) -> int:
        """Delete this detector's entries of every version except ``keep_version``."""
        with self._transaction():
            cur = self._conn.execute(
                "DELETE FROM flag_entry WHERE detector IN "
                "(SELECT id FROM flag_detector WHERE detector_id = ? AND version != ?)", (detector_id, keep_version))
            self._conn.execute("DELETE FROM flag_detector WHERE detector_id = ? AND version != ?",
                               (detector_id, keep_version))
            self._drop_orphan_results()
        return cur.rowcount

    def merge_from(self, other: str | Path | FlagCache) -> int:
        """Copy all entries of another cache file (e.g. one shard's) into this one.

        Entries already present here win (``INSERT OR IGNORE``); returns rows added.
        """
        other_path = other.path if isinstance(other, FlagCache) else Path(other)
        if other_path.is_dir():
            other_path = other_path / DEFAULT_FILENAME
        if not other_path.exists():
            raise FileNotFoundError(f"no cache file at {other_path}")
        before = self._count()
        self._conn.execute("ATTACH DATABASE ? AS other", (str(other_path),))
        try:
            with self._transaction():
                self._insert_entries(
                    "SELECT d.detector_id, d.version, e.text_sha256 AS digest, r.result FROM other.flag_entry e "
                    "JOIN other.flag_detector d ON d.id = e.detector JOIN other.flag_result r ON r.id = e.result")
        finally:
            self._conn.execute("DETACH DATABASE other")
        return self._count() - before

    def _count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM flag_entry").fetchone()[0]

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        # IMMEDIATE takes the write lock up front, so a busy writer waits instead of failing mid-way.
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def merge_shard_files(cache: FlagCache, state_dir: str | Path) -> tuple[int, int]:
    """Merge every shard cache file under the state dir into ``cache`` (entries already there
    win) and delete each file once its merge has committed; returns (files, entries added).
    Files of any shard count are merged: entries are keyed by content and detector version,
    so a file that a killed run left with another ``shards`` value is as valid as this run's."""
    files = shard_cache_files(state_dir)
    added = 0
    for path in files:
        added += cache.merge_from(path)
        remove_cache_files(path)
    return len(files), added
