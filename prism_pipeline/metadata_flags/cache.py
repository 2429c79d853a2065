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

Schema (2): entries are ``(detector key, 32-byte digest, result key)``; the (detector_id,
version) pairs and the distinct result JSONs are stored once each in their own tables (PRISM:
3 detector versions and ~120 distinct results for 305k entries). Schema 1 kept all four as
text in one table: 124 MB for PRISM against ~15 MB, and a removal rebuilds the whole file
after deleting (``removal/footprint.py``), so its size was the removal's largest single cost.
A view named ``flag_cache`` shows the entries in the schema-1 columns, for inspection and
joins with the manual-review table by ``text_sha256``. A schema-1 file is migrated when
opened (:meth:`FlagCache._migrate_schema_1`).

A changed detector version invalidates only its own entries: rows of other versions are
simply not read (:meth:`FlagCache.prune_versions` deletes them to reclaim space).

Snapshots: a columnar copy of the rows, for warm reruns
-------------------------------------------------------
Reading 2 x 102k rows back from SQLite costs ~0.2 s, more than the whole rest of a warm
rerun. So beside the database, each (detector_id, version) may have a *snapshot* file
(``<db name>.snap-<16 hex>``, :class:`Snapshot`): the sorted 32-byte digests of a subset of
its rows, one int32 result code per digest and the distinct result JSONs. It is loaded in
one read (~4 MB for PRISM) and looked up with numpy (a hash table on the digests' first 8
bytes, then all 32 compared); only what it lacks is read from SQLite. SQLite stays the
durable store: the runner commits computed chunks there first and, once at the end of a
run, adds the rows the snapshot lacked (:meth:`FlagCache.extend_snapshot`): few rows go to
a small *delta* file beside it (``.delta``), more rewrite the snapshot whole. Every file is
written to a temp file, fsynced and renamed over the old one, and carries a crc32, so a
crash at any point leaves older or unreadable (ignored) files, which only means more rows
read from SQLite next time.

A snapshot may hold fewer rows than SQLite, never other ones. The database keeps a random
*token* (table ``flag_cache_meta``) that triggers replace whenever a row is deleted or its
result changes; a snapshot records the token it was built under and is ignored when it
differs (so does a snapshot left beside a new, emptied database). A run records the token
before its first read and writes its snapshot only if the token is still the same, checked
under SQLite's write lock, which every deletion also holds, so a run cannot put back rows
deleted while it ran.

Privacy: :meth:`FlagCache.delete_hashes` rewrites every snapshot and delta file without the deleted
hashes (and deletes stale or unreadable ones and temp files left by a crash) inside the
same transaction as the SQL ``DELETE``, before it commits: no file beside the database
keeps a deleted hash, whether the transaction commits or not. Replaced files are rewritten
whole (never patched), so no stale copy survives in them; the old file's disk blocks are
freed like any deleted file's.

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
import hashlib
import json
import os
import sqlite3
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from prism_pipeline.metadata_flags.detectors import encode_result

# Schema 2 (module doc); ``flag_cache`` is the schema-1 columns as a view.
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
CREATE TABLE IF NOT EXISTS flag_cache_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS flag_entry_deleted AFTER DELETE ON flag_entry BEGIN
    UPDATE flag_cache_meta SET value = lower(hex(randomblob(16))) WHERE name = 'token';
END;
CREATE TRIGGER IF NOT EXISTS flag_entry_updated AFTER UPDATE ON flag_entry BEGIN
    UPDATE flag_cache_meta SET value = lower(hex(randomblob(16))) WHERE name = 'token';
END;
CREATE VIEW IF NOT EXISTS flag_cache (detector_id, version, text_sha256, result) AS
    SELECT d.detector_id, d.version, lower(hex(e.text_sha256)), r.result
    FROM flag_entry e JOIN flag_detector d ON d.id = e.detector JOIN flag_result r ON r.id = e.result;
"""
_NEW_TOKEN = "INSERT OR IGNORE INTO flag_cache_meta (name, value) VALUES ('token', lower(hex(randomblob(16))))"
# An unchanged result is not rewritten (no UPDATE, so no token change: snapshots stay valid).
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
    ``-wal``/``-shm``, snapshot, delta and temp files); returns files deleted."""
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


# ---------------------------------------------------------------------------------------
# Snapshots (module doc, "Snapshots")
# ---------------------------------------------------------------------------------------
DIGEST = np.dtype("S32")
_MAGIC = b"PRISMSNP"
_SNAP_INFIX = ".snap-"
_DELTA_SUFFIX = ".delta"
_TMP_INFIX = ".tmp-"
_DELTA_ROWS = 4096


def digests_of(hashes: Iterable[str]) -> np.ndarray:
    """The 32-byte digests (``S32``) of 64-character hex hashes."""
    return np.frombuffer(b"".join(bytes.fromhex(h) for h in hashes), dtype=DIGEST)


def hex_of(digests: np.ndarray) -> list[str]:
    """The 64-character hex form of each 32-byte digest."""
    # From the raw buffer: numpy's ``S`` items drop trailing zero bytes when read one by one.
    raw = np.ascontiguousarray(digests, dtype=DIGEST).tobytes()
    return [raw[i : i + 32].hex() for i in range(0, len(raw), 32)]


def _heads(digests: np.ndarray) -> np.ndarray:
    """First 8 bytes of each digest as an integer, ordered like the digests themselves."""
    return np.ascontiguousarray(digests).view(">u8")[::4].astype(np.uint64)


def _words(digests: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(digests).view(np.uint64).reshape(-1, 4)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Columnar copy of some of one (detector_id, version)'s rows (module doc, Snapshots).

    ``digests``: sorted distinct sha256 digests (``S32``); ``codes``: per digest, the index
    of its result in ``results`` (distinct stored JSON strings); ``token``: the store's
    token when the rows were read.
    """

    detector_id: str
    version: str
    token: str
    digests: np.ndarray = field(default_factory=lambda: np.empty(0, DIGEST))
    codes: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    results: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.digests)

    def find(self, digests: np.ndarray) -> np.ndarray:
        """Position of each digest in this snapshot, -1 where absent.

        The first 8 bytes are looked up in a hash table (or, should two stored digests share
        them, odds ~1e-9 at PRISM's size, by binary search, which then finds the first of the
        two: the other one costs a SQLite read, never a wrong result); all 32 are then compared.
        """
        digests = np.ascontiguousarray(digests, dtype=DIGEST)
        if not len(self) or not len(digests):
            return np.full(len(digests), -1, dtype=np.intp)
        if "_lookup" not in self.__dict__:  # built once per snapshot (frozen: set directly)
            heads = _heads(self.digests)
            unique = bool((heads[1:] != heads[:-1]).all())
            self.__dict__["_lookup"] = (pd.Index(heads) if unique else heads, np.ascontiguousarray(_words(self.digests).T))
        table, columns = self.__dict__["_lookup"]
        query = _heads(digests)
        if isinstance(table, pd.Index):
            pos = table.get_indexer(query)
        else:
            order = np.argsort(query)
            pos = np.empty(len(digests), dtype=np.intp)
            pos[order] = np.searchsorted(table, query[order])
            np.minimum(pos, len(self) - 1, out=pos)
        words = _words(digests)
        same = pos >= 0  # pos -1 (absent) reads the last row below: compared, and rejected here
        for k in (0, 1, 2, 3) if not isinstance(table, pd.Index) else (1, 2, 3):  # a table hit has equal heads
            same &= columns[k][pos] == words[:, k]
        return np.where(same, pos, -1)

    def merged(self, digests: np.ndarray, results: Sequence[str]) -> Snapshot:
        """This snapshot plus these rows (digest -> JSON result); rows already present are kept."""
        digests = np.ascontiguousarray(digests, dtype=DIGEST)
        if len(digests) != len(results):
            raise ValueError(f"{len(digests)} digests for {len(results)} results")
        index = {r: i for i, r in enumerate(self.results)}
        codes = np.fromiter((index.setdefault(r, len(index)) for r in results), dtype=np.int32, count=len(results))
        digests, first = np.unique(digests, return_index=True)  # sorted, the first of a repeated digest
        codes = codes[first]
        at = np.searchsorted(self.digests, digests)
        new = np.ones(len(digests), dtype=bool)
        if len(self):
            new &= (at == len(self)) | (self.digests[np.minimum(at, len(self) - 1)] != digests)
        return Snapshot(self.detector_id, self.version, self.token,
                        np.insert(self.digests, at[new], digests[new]),
                        np.insert(self.codes, at[new], codes[new]).astype(np.int32), tuple(index))

    def without(self, digests: np.ndarray) -> Snapshot:
        """This snapshot minus these digests, and minus results no remaining row has."""
        keep = ~np.isin(self.digests, np.asarray(digests, dtype=DIGEST))
        used, codes = np.unique(self.codes[keep], return_inverse=True)
        return Snapshot(self.detector_id, self.version, self.token, self.digests[keep],
                        codes.astype(np.int32).reshape(-1), tuple(self.results[i] for i in used))

    def row_results(self) -> list[str]:
        """The JSON result of each row, in digest order."""
        return [self.results[c] for c in self.codes.tolist()]

    def stamped(self, token: str) -> Snapshot:
        return Snapshot(self.detector_id, self.version, token, self.digests, self.codes, self.results)


def _encode_snapshot(snap: Snapshot) -> bytes:
    """Magic, crc32 of the rest, header length, JSON header, zero padding to 8 bytes, then the
    digests (32 bytes each), codes (int32), result lengths (int64, in characters) and the
    results' characters (UTF-8). Results are not a JSON list in the header: a detector with
    a distinct result per text (moderation scores) would make that a slow parse."""
    header = json.dumps({"detector_id": snap.detector_id, "version": snap.version, "token": snap.token,
                         "rows": len(snap), "results": len(snap.results)}, ensure_ascii=False).encode("utf-8")
    parts = [struct.pack("<I", len(header)), header, b"\0" * (-(16 + len(header)) % 8),
             snap.digests.tobytes(), snap.codes.astype("<i4").tobytes(), b"\0" * (4 * (len(snap) % 2)),
             np.array([len(r) for r in snap.results], dtype="<i8").tobytes(),
             "".join(snap.results).encode("utf-8", errors="surrogatepass")]
    body = b"".join(parts)
    return _MAGIC + struct.pack("<I", zlib.crc32(body)) + body


def _decode_snapshot(data: bytes) -> Snapshot | None:
    """The snapshot in these bytes, or None for anything unreadable (truncated, corrupt, foreign)."""
    if len(data) < 16 or data[:8] != _MAGIC:
        return None
    crc, size = struct.unpack_from("<II", data, 8)
    if zlib.crc32(memoryview(data)[12:]) != crc:
        return None
    try:
        header = json.loads(data[16 : 16 + size])
        n, m = int(header["rows"]), int(header["results"])
        at = 16 + size + (-(16 + size) % 8)
        digests = np.frombuffer(data, dtype=DIGEST, count=n, offset=at)
        codes = np.frombuffer(data, dtype="<i4", count=n, offset=at + 32 * n).astype(np.int32)
        at += 36 * n + 4 * (n % 2)
        ends = np.cumsum(np.frombuffer(data, dtype="<i8", count=m, offset=at)).tolist()
        chars = data[at + 8 * m :].decode("utf-8", errors="surrogatepass")
        if (ends[-1] if m else 0) != len(chars) or (n and not (codes.min() >= 0 and codes.max() < m)):
            return None
        results = tuple(chars[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True))
        return Snapshot(str(header["detector_id"]), str(header["version"]), str(header["token"]),
                        digests, codes, results)
    except (ValueError, KeyError, TypeError):  # numpy's short-buffer errors are ValueErrors too
        return None


def _delta_path(path: Path) -> Path:
    return path.with_name(path.name + _DELTA_SUFFIX)


def _write_atomically(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename: readers see the old file or the new one, never a mix."""
    tmp = path.with_name(f"{path.name}{_TMP_INFIX}{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class FlagCache:
    """SQLite store of detector results keyed by (detector_id, version, text_sha256).

    ``path`` is the database file, or a directory in which ``flag_cache.sqlite`` is used.
    Snapshot files (``<file name>.snap-*``) live beside it (module doc, Snapshots): copy or
    delete them together with it, or delete them alone (they are only a fast path).
    Use one instance per process (connections are not shared across ``fork``).

    ``read_only=True`` opens an existing schema-2 file for reads only: nothing is created,
    migrated or written, snapshot files included, so a sharded flagging step can look results
    up in the main cache while only the collecting step writes it. It is opened
    ``immutable=1`` (no locks, no ``-shm``/``-wal`` files, which a plain ``mode=ro`` reader of
    a WAL database creates and which do not work across machines): right while no process
    writes the file, which holds for the main cache while the shard steps run (the step that
    fans them out checkpoints it first, and only the collecting step writes it after them).
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
                raise ValueError(f"{path} is not a schema-2 flag cache: open it writable once (it migrates)")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # A 64 MiB page cache holds the whole B-tree of a PRISM-sized store, and checkpointing
        # every ~40 MB of WAL instead of every 4 MB halves the cost of a cold run's commits.
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        if self._object_type("flag_cache") == "table":  # schema 1: moved aside, then copied below
            self._conn.execute("ALTER TABLE flag_cache RENAME TO flag_cache_v1")
        self._conn.executescript(_SCHEMA)
        if self._object_type("flag_cache_v1") == "table":
            try:
                self._migrate_schema_1()
            except BaseException:
                self._conn.close()
                raise
        if self._conn.execute("SELECT 1 FROM flag_cache_meta WHERE name = 'token'").fetchone() is None:
            self._conn.execute(_NEW_TOKEN)

    def _object_type(self, name: str) -> str | None:
        row = self._conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _migrate_schema_1(self) -> None:
        """Copy a schema-1 cache (one table ``flag_cache``, renamed ``flag_cache_v1`` first) into
        the schema-2 tables and drop it, in one transaction, then rebuild the file so no page
        keeps the old rows. A crash at any point leaves either form, and the next open resumes.
        The token is kept: the entries are the same, so snapshot files stay valid."""
        bad = self._conn.execute("SELECT COUNT(*) FROM flag_cache_v1 WHERE length(text_sha256) != 64 "
                                 "OR text_sha256 GLOB '*[^0-9a-fA-F]*'").fetchone()[0]
        if bad:  # schema 1 checked only the length; nothing is changed, the next open says this again
            raise ValueError(f"{self.path}: {bad} rows of the schema-1 table flag_cache_v1 have a text_sha256 "
                             "that is not 64 hex characters; delete those rows or the file (a cache: it is rebuilt)")
        self._conn.create_function("prism_unhex", 1, bytes.fromhex, deterministic=True)
        with self._transaction():
            self._insert_entries("SELECT detector_id, version, prism_unhex(text_sha256) AS digest, result "
                                 "FROM flag_cache_v1")
            self._conn.execute("DROP TABLE flag_cache_v1")  # its triggers go with it
        self._conn.execute("VACUUM")

    def _insert_entries(self, source: str) -> None:
        """Inside a transaction: add the entries a SELECT gives as (detector_id, version,
        digest, result) rows, with their detector versions and results; entries already
        present are kept (``INSERT OR IGNORE``). For migrating and merging files."""
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

    def token(self) -> str:
        """The store's current token: it changes whenever a row is deleted or its result changes."""
        return self._conn.execute("SELECT value FROM flag_cache_meta WHERE name = 'token'").fetchone()[0]

    def snapshot(self, detector_id: str, version: str) -> Snapshot:
        """The snapshot of this detector version's rows (its file and delta file together), or
        an empty one when there is none valid; either way stamped with the current token,
        read first (module doc, Snapshots)."""
        token = self.token()
        path = self._snapshot_path(detector_id, version)
        snap = self._read_valid(path, detector_id, version, token) or Snapshot(detector_id, version, token)
        delta = self._read_valid(_delta_path(path), detector_id, version, token)
        return snap.merged(delta.digests, delta.row_results()) if delta is not None and len(delta) else snap

    def save_snapshot(self, snapshot: Snapshot) -> bool:
        """Write this snapshot as its detector version's whole snapshot (file replaced, delta
        file removed), unless the store's token has changed since the snapshot's rows were
        read: then return False and write nothing."""
        path = self._snapshot_path(snapshot.detector_id, snapshot.version)
        with self._transaction():  # the write lock: no deletion can commit in between
            if self.token() != snapshot.token:
                return False
            self._write_snapshot(path, snapshot)
        return True

    def extend_snapshot(self, snapshot: Snapshot, digests: np.ndarray, results: Sequence[str]) -> bool:
        """Add rows (digest -> stored JSON) that ``snapshot``, as read by :meth:`snapshot`,
        lacked; False (nothing written) if the token has changed since it was read.

        Few rows go to the small delta file, rewritten whole; once the delta would exceed
        max(4,096 rows, 1/8 of the snapshot) everything is written as one file again. So a
        rerun after a small change writes kilobytes, not the whole snapshot."""
        path = self._snapshot_path(snapshot.detector_id, snapshot.version)
        with self._transaction():
            if self.token() != snapshot.token:
                return False
            delta = self._read_valid(_delta_path(path), snapshot.detector_id, snapshot.version, snapshot.token)
            delta = (delta or Snapshot(snapshot.detector_id, snapshot.version, snapshot.token)).merged(digests, results)
            if len(delta) <= max(_DELTA_ROWS, len(snapshot) // 8):
                self._write_snapshot(_delta_path(path), delta)
            else:
                self._write_snapshot(path, snapshot.merged(delta.digests, delta.row_results()))
        return True

    def _read_valid(self, path: Path, detector_id: str, version: str, token: str) -> Snapshot | None:
        try:
            snap = _decode_snapshot(path.read_bytes())
        except FileNotFoundError:
            return None
        if snap is None or (snap.detector_id, snap.version, snap.token) != (detector_id, version, token):
            return None
        return snap

    def _write_snapshot(self, path: Path, snapshot: Snapshot) -> None:
        """Under the write lock: replace a snapshot or delta file (a whole snapshot also drops
        the delta file it absorbs), removing temp files a crashed writer left."""
        for stale in self._snapshot_files(temps_of=path):
            stale.unlink(missing_ok=True)
        _write_atomically(path, _encode_snapshot(snapshot))
        if not path.name.endswith(_DELTA_SUFFIX):
            _delta_path(path).unlink(missing_ok=True)

    def _snapshot_path(self, detector_id: str, version: str) -> Path:
        # The name hides detector id and version (any characters); the header repeats them.
        key = hashlib.sha256(json.dumps([detector_id, version]).encode("utf-8")).hexdigest()[:16]
        return self.path.with_name(f"{self.path.name}{_SNAP_INFIX}{key}")

    def _snapshot_files(self, temps_of: Path | None = None) -> list[Path]:
        """Every snapshot and temp file beside the database, or only the temp files of one snapshot."""
        prefix = f"{temps_of.name}{_TMP_INFIX}" if temps_of is not None else f"{self.path.name}{_SNAP_INFIX}"
        return sorted(p for p in self.path.parent.iterdir() if p.name.startswith(prefix))

    def _rewrite_snapshots(self, old_token: str, edit: Callable[[Snapshot], Snapshot | None]) -> None:
        """Inside a deleting transaction: pass every valid snapshot through ``edit`` (None: drop
        it) and restamp it with the new token; delete every other snapshot and temp file."""
        new_token = self.token()
        for path in self._snapshot_files():
            try:
                snap = None if _TMP_INFIX in path.name else _decode_snapshot(path.read_bytes())
            except FileNotFoundError:  # removed by hand meanwhile
                continue
            kept = edit(snap) if snap is not None and snap.token == old_token else None
            if kept is None or not len(kept):
                path.unlink(missing_ok=True)
            elif kept is not snap or new_token != old_token:
                _write_atomically(path, _encode_snapshot(kept.stamped(new_token)))

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
        stored result that differs is replaced, which changes the token (so every snapshot is
        ignored until a run rewrites it).
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
        participants had, so no trace of their texts' results remains: the snapshot files
        are rewritten without them before the deletion commits (module doc, Privacy). Freed
        database pages still hold the rows until a ``VACUUM``.
        """
        wanted = [h for h in dict.fromkeys(hashes) if _is_hex64(h)]
        gone = digests_of(wanted)
        blobs = [bytes.fromhex(h) for h in wanted]

        def edit(snap: Snapshot) -> Snapshot:
            kept = snap.without(gone)
            return snap if len(kept) == len(snap) else kept

        deleted = 0
        # Deleted cells and freed pages are overwritten with zeros (per connection, and before
        # the transaction: SQLite ignores the pragma inside one).
        self._conn.execute("PRAGMA secure_delete=ON")
        with self._transaction():
            old_token = self.token()
            # By full primary key, one detector version at a time: index seeks instead of a
            # scan of the whole table per batch (0.2 s on the PRISM cache).
            for (key,) in self._conn.execute("SELECT id FROM flag_detector ORDER BY id").fetchall():
                for batch in _batches(blobs):
                    marks = ",".join("?" * len(batch))
                    cur = self._conn.execute(
                        f"DELETE FROM flag_entry WHERE detector = ? AND text_sha256 IN ({marks})", [key, *batch])
                    deleted += cur.rowcount
            if deleted:
                self._drop_orphan_results()
            # Before COMMIT (module doc, Privacy): the files never hold more than the database.
            self._rewrite_snapshots(old_token, edit)
        return deleted

    def prune_versions(self, detector_id: str, keep_version: str) -> int:
        """Delete this detector's entries of every version except ``keep_version``."""
        with self._transaction():
            old_token = self.token()
            cur = self._conn.execute(
                "DELETE FROM flag_entry WHERE detector IN "
                "(SELECT id FROM flag_detector WHERE detector_id = ? AND version != ?)", (detector_id, keep_version))
            self._conn.execute("DELETE FROM flag_detector WHERE detector_id = ? AND version != ?",
                               (detector_id, keep_version))
            self._drop_orphan_results()
            self._rewrite_snapshots(
                old_token, lambda snap: None if snap.detector_id == detector_id and snap.version != keep_version
                else snap)
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
        FlagCache(other_path).close()  # brings a schema-1 file to schema 2 first
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
