"""Per-text detector results cached by content hash (SPEC §7.4, §7.7).

Key: ``(detector_id, version, text_sha256)``; value: the detector's JSON result. A re-run
computes only texts whose hash is not stored for the current detector version, so a warm
rerun costs a lookup, a changed participant costs their texts only, and removing a
participant costs no recomputation (:meth:`FlagCache.delete_hashes` drops what only they had).

Why SQLite (stdlib ``sqlite3``), one table, WAL mode
-----------------------------------------------------
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
  the whole store for 106,554 texts x 3 detectors is tens of MB.
* Privacy: only the sha256 of a text is stored, never the text (the tests grep the file
  bytes for sample texts). A hash of a short common text can be confirmed by guessing, so
  the file is treated as private state like the data, not released.

``synchronous=NORMAL`` in WAL mode keeps the database consistent after an application
crash or power loss; after a power loss the last few commits may be lost, which for a
cache only means recomputing them.

Schema trade-off: the key repeats ``detector_id`` and ``version`` as text and the hash as
64 hex characters, which is simple to inspect and join with the manual-review table; an
integer (detector, version) id and 32-byte BLOB hashes would make the file ~40% smaller and
warm reads ~2x faster (measured), at the price of a second table. At PRISM's size a warm
read of 2 x 102k results takes ~0.15 s either way, so the simple form is kept.

A changed detector version invalidates only its own entries: rows of other versions are
simply not read (:meth:`FlagCache.prune_versions` deletes them to reclaim space).

No Dagster import.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from prism_pipeline.metadata_flags.detectors import encode_result

_SCHEMA = """
CREATE TABLE IF NOT EXISTS flag_cache (
    detector_id TEXT NOT NULL,
    version     TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    result      TEXT NOT NULL,
    PRIMARY KEY (detector_id, version, text_sha256)
) WITHOUT ROWID
"""
# SQLite's default limit on bound parameters is 32,766 (>= 3.32); stay well below it.
_BATCH = 5_000
# From this many keys on, get_many scans the detector version's rows instead of IN lookups.
_SCAN_FROM = 20_000
DEFAULT_FILENAME = "flag_cache.sqlite"


def _batches(items: list, size: int = _BATCH) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_hashes(hashes: list[str]) -> None:
    bad = [h for h in hashes if not (isinstance(h, str) and len(h) == 64)]
    if bad:
        raise ValueError(f"{len(bad)} keys are not 64-character sha256 hex digests (first: {bad[0]!r:.80})")


class FlagCache:
    """SQLite store of detector results keyed by (detector_id, version, text_sha256).

    ``path`` is the database file, or a directory in which ``flag_cache.sqlite`` is used.
    Use one instance per process (connections are not shared across ``fork``).
    """

    def __init__(self, path: str | Path, timeout_s: float = 60.0) -> None:
        path = Path(path)
        if path.is_dir() or path.suffix == "":
            path = path / DEFAULT_FILENAME
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # A 64 MiB page cache holds the whole B-tree of a PRISM-sized store, and checkpointing
        # every ~40 MB of WAL instead of every 4 MB halves the cost of a cold run's commits.
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        self._conn.execute(_SCHEMA)

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
        if len(hashes) >= _SCAN_FROM:
            # Many keys: one range scan of this (detector_id, version) beats batched IN lookups.
            rows = self._conn.execute(
                "SELECT text_sha256, result FROM flag_cache WHERE detector_id = ? AND version = ?",
                (detector_id, version),
            ).fetchall()
        else:
            wanted = list(dict.fromkeys(hashes))
            rows = []
            for batch in _batches(wanted):
                marks = ",".join("?" * len(batch))
                rows += self._conn.execute(
                    "SELECT text_sha256, result FROM flag_cache "
                    f"WHERE detector_id = ? AND version = ? AND text_sha256 IN ({marks})",
                    (detector_id, version, *batch),
                ).fetchall()
        frame = pd.DataFrame(rows, columns=["text_sha256", "result"], dtype=object)
        return pd.Series(frame["result"].to_numpy(), index=pd.Index(frame["text_sha256"], dtype=object), dtype=object)

    def stats(self) -> dict:
        """Row counts per (detector_id, version), total rows and the file size in bytes."""
        rows = self._conn.execute(
            "SELECT detector_id, version, COUNT(*) FROM flag_cache GROUP BY detector_id, version "
            "ORDER BY detector_id, version"
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

        NaN/inf are rejected (``allow_nan=False``) so the store only ever holds valid JSON.
        """
        pairs = items.items() if isinstance(items, Mapping) else items
        return self.put_many_json(detector_id, version, [(h, encode_result(r)) for h, r in pairs])

    def put_many_json(self, detector_id: str, version: str, items: Iterable[tuple[str, str]]) -> int:
        """Like :meth:`put_many`, with each result already encoded by :func:`encode_result`."""
        latest = dict(items)  # a hash given twice: the last result wins
        # Key order: inserts walk the B-tree once instead of jumping between random pages.
        rows = [(detector_id, version, h, latest[h]) for h in sorted(latest)]
        _check_hashes([r[2] for r in rows])
        with self._transaction():
            self._conn.executemany(
                "INSERT OR REPLACE INTO flag_cache (detector_id, version, text_sha256, result) VALUES (?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def delete_hashes(self, hashes: Iterable[str]) -> int:
        """Delete every detector's entries for these text hashes; returns rows deleted.

        For participant removal (SPEC §7.7): pass the hashes of texts that only removed
        participants had, so no trace of their texts' results remains.
        """
        wanted = list(dict.fromkeys(hashes))
        deleted = 0
        with self._transaction():
            for batch in _batches(wanted):
                marks = ",".join("?" * len(batch))
                cur = self._conn.execute(f"DELETE FROM flag_cache WHERE text_sha256 IN ({marks})", batch)
                deleted += cur.rowcount
        return deleted

    def prune_versions(self, detector_id: str, keep_version: str) -> int:
        """Delete this detector's entries of every version except ``keep_version``."""
        with self._transaction():
            cur = self._conn.execute(
                "DELETE FROM flag_cache WHERE detector_id = ? AND version != ?", (detector_id, keep_version)
            )
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
                self._conn.execute("INSERT OR IGNORE INTO flag_cache SELECT * FROM other.flag_cache")
        finally:
            self._conn.execute("DETACH DATABASE other")
        return self._count() - before

    def _count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM flag_cache").fetchone()[0]

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
