"""Leak scanner: does any byte of a removed participant survive? (SPEC §7.7)

After every removal an asset check scans the outputs and the private state dir for the removed
participant's identifiers (user id, conversation ids, utterance ids, interaction ids) and the
sha256 of their texts. Collecting those identifiers is the caller's job;
:func:`scan_paths` reports, per file that matches, HOW MANY matches it holds and never WHICH
identifier matched (the report itself must not leak).

Files are scanned as raw bytes, whatever their format: JSONL, CSV, SQLite databases with
their ``-wal``/``-shm``/``-journal`` files, pickles of pandas frames (pandas 3 without pyarrow
pickles ``str`` columns as Python objects: ``\\x8c\\x03c12\\x94``), PNG, anything.

Matching rules:

* an id (``user\\d+``, ``c\\d+``, ``ut\\d+``, ``int\\d+``) matches where it is neither
  preceded nor followed by an ASCII letter or digit: ``c12`` does not match inside ``c120``,
  ``abc12``, ``topic12``, ``9c12`` or ``c12a`` but does in ``"c12"``, ``\\x04c12\\x94`` or
  ``,c12\\n``. Hex strings (sha256 keys, run ids) are full of ``c`` + digits, so a looser
  boundary floods the report with false matches; every format this project writes (JSON,
  CSV, pickled Python strings, SQLite text) delimits an id with a non-alphanumeric byte.
  ``c012`` is not ``c12``;
* a text hash matches as its 64 lowercase hex characters and as its raw 32-byte digest.

Not found, by design of a raw-byte scan: compressed content (gzip, zip/xlsx, zlib streams
such as PNG image data), other text encodings (UTF-16/32, e.g. numpy ``<U`` arrays) and
upper-case hex. Outputs of this project are not written that way; a check that needs them
must decompress first.

How: one big ``re`` alternation runs at ~70 MB/s and grows slower with every id, so the
search is done with numpy instead (100-300 MB/s on one core of this machine, whatever the
number of identifiers): files are read in windows of 4 MiB with a few bytes of overlap on
both sides (never loaded whole, never memory-mapped: a file truncated while mapped would
crash the process). Ids: positions where a digit follows the last letter of a searched
prefix (``r``, ``c``, ``t``) are candidates; prefix, letter boundary and digit run are checked
on all candidates at once and encoded as integers compared with ``np.isin``. Hashes: the
8 bytes at every position (eight little-endian u64 views, one per residue mod 8) are hashed
into a 2**20-entry table of the needles' first 8 bytes; survivors are compared exactly. A
match counts in the window holding its anchor (an id's first digit, a hash's first byte),
so matches across window boundaries count exactly once.

No Dagster import.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ID_RE = re.compile(r"(user|c|ut|int)([0-9]{1,14})")
HASH_RE = re.compile(r"[0-9a-f]{64}")
PREFIXES: tuple[bytes, ...] = (b"c", b"ut", b"int", b"user")
# Small windows keep numpy's temporaries in cache; a window costs one seek and one read.
DEFAULT_WINDOW = 4 << 20
_BEFORE = 8  # bytes of context before a window: the longest prefix ("user") + its boundary byte
_HASH_LENGTHS = (32, 64)
_TABLE_BITS = 20
_MIX = np.uint64(0x9E3779B97F4A7C15)  # multiplicative hashing of 8-byte heads into the table


class ScanInputError(ValueError):
    """An identifier handed to the scanner has the wrong shape (the message gives its position only)."""


@dataclass(frozen=True)
class _Targets:
    id_keys: np.ndarray  # sorted int64 codes of the ids, see _id_key
    id_prefixes: tuple[int, ...]  # indices into PREFIXES of the kinds searched
    id_width: int  # digits examined after the first: longest id digits + 1
    table: np.ndarray  # bool[2**_TABLE_BITS]: _slot() of some needle's first eight bytes
    head8: np.ndarray  # sorted uint64: the needles' first eight bytes (little-endian)
    needles: frozenset[bytes]
    after: int  # bytes of context needed after a window

    @property
    def empty(self) -> bool:
        return not len(self.id_keys) and not self.needles


def _id_key(code: np.ndarray | int, ndigits: np.ndarray | int, value: np.ndarray | int) -> np.ndarray | int:
    # prefix code, digit count (leading zeros matter: c012 is not c12) and value in one int64.
    return (np.int64(code) << 56) | (np.int64(ndigits) << 48) | np.int64(value)


def _targets(ids: Iterable[str], text_hashes: Iterable[str]) -> _Targets:
    keys, prefixes, width = set(), set(), 1
    for i, ident in enumerate(ids):
        m = ID_RE.fullmatch(ident) if isinstance(ident, str) else None
        if m is None:
            raise ScanInputError(f"ids item {i}: not user, c, ut or int followed by 1-14 digits")
        code = PREFIXES.index(m[1].encode())
        prefixes.add(code)
        keys.add(int(_id_key(code, len(m[2]), int(m[2]))))
        width = max(width, len(m[2]) + 1)
    needles = set()
    for i, digest in enumerate(text_hashes):
        if not (isinstance(digest, str) and HASH_RE.fullmatch(digest)):
            raise ScanInputError(f"text_hashes item {i}: not 64 lowercase hex characters")
        needles.update((digest.encode("ascii"), bytes.fromhex(digest)))
    head8 = np.unique(np.array([int.from_bytes(n[:8], "little") for n in needles], dtype="uint64"))
    table = np.zeros(1 << _TABLE_BITS, dtype=bool)
    table[(head8 * _MIX) >> np.uint64(64 - _TABLE_BITS)] = True
    return _Targets(np.array(sorted(keys), dtype="int64"), tuple(sorted(prefixes)), width, table, head8,
                    frozenset(needles),
                    after=max(width, max(_HASH_LENGTHS)) + 1)


def _is_letter(x: np.ndarray) -> np.ndarray:
    return ((x | 0x20) - 97).astype(np.uint8) < 26


def _is_alnum(x: np.ndarray) -> np.ndarray:
    return _is_letter(x) | ((x - 48).astype(np.uint8) < 10)


def _count_ids(a: np.ndarray, lo: int, hi: int, t: _Targets) -> int:
    seg, prev = a[lo:hi], a[lo - 1:hi - 1]
    before = np.zeros(hi - lo, dtype=bool)
    for last in {PREFIXES[c][-1] for c in t.id_prefixes}:
        before |= prev == last
    cand = np.flatnonzero(before & ((seg - 48) < 10)) + lo  # first digit after a prefix letter
    if not len(cand):
        return 0
    digits = a[cand[:, None] + np.arange(t.id_width)].astype(np.int64) - 48
    is_digit = (digits >= 0) & (digits < 10)
    run = np.where(is_digit.all(axis=1), t.id_width, is_digit.argmin(axis=1))  # id_width = too long
    col = np.arange(t.id_width)
    exponent = run[:, None] - 1 - col
    value = np.where(col < run[:, None], digits * 10 ** np.maximum(exponent, 0), 0).sum(axis=1)
    ok_run = run < t.id_width
    total = 0
    for code in t.id_prefixes:
        prefix = PREFIXES[code]
        match = ok_run & ~_is_alnum(a[cand - len(prefix) - 1]) & ~_is_letter(a[cand + run])
        for k, byte in enumerate(prefix):
            match &= a[cand - len(prefix) + k] == byte
        if match.any():
            keys = _id_key(code, run[match], value[match])
            total += int(np.isin(keys, t.id_keys).sum())
    return total


def _count_hashes(buf: bytes | bytearray, lo: int, hi: int, real_end: int, t: _Targets) -> int:
    # The 8 bytes at every position, read as little-endian u64 through eight views (one per
    # residue mod 8), hashed into the needle table; survivors are checked exactly.
    hits = []
    for r in range(8):
        start = lo + r
        n = (hi - start + 7) // 8
        if n <= 0:
            continue
        heads = np.frombuffer(buf, dtype="<u8", count=n, offset=start)
        slot = heads * _MIX
        slot >>= np.uint64(64 - _TABLE_BITS)
        idx = np.flatnonzero(t.table[slot])
        if len(idx):
            found = heads[idx]
            at = np.minimum(np.searchsorted(t.head8, found), len(t.head8) - 1)
            hits.append(idx[t.head8[at] == found] * 8 + start)
    total = 0
    for pos in (np.concatenate(hits).tolist() if hits else []):
        for length in _HASH_LENGTHS:
            if pos + length <= real_end and bytes(buf[pos:pos + length]) in t.needles:
                total += 1
    return total


def _windows(fh, window: int, after: int) -> Iterator[tuple[bytearray, int, int, int]]:
    """(buffer, lo, hi, real_end) per window: the window's bytes are buffer[lo:hi], with
    ``_BEFORE`` bytes of the previous data (zeros at the start of the file) before it and
    ``after`` bytes of the following data (zeros past the end) after it; the real data ends at
    real_end. One buffer is reused (read in place, no copies); consume it before the next."""
    buf = bytearray(_BEFORE + window + after)
    view = memoryview(buf)
    start = 0
    while True:
        ctx = min(start, _BEFORE)
        fh.seek(start - ctx)
        off = _BEFORE - ctx
        buf[:off] = bytes(off)
        n = 0
        while off + n < len(buf):
            got = fh.readinto(view[off + n:])
            if not got:
                break
            n += got
        data = n - ctx  # bytes from the window's start on
        if data <= 0:
            return
        real_end = _BEFORE + data
        buf[real_end:] = bytes(len(buf) - real_end)
        yield buf, _BEFORE, _BEFORE + min(data, window), real_end
        if data <= window:
            return
        start += window


def _count_file(path: Path, t: _Targets, window: int) -> int:
    total = 0
    with open(path, "rb", buffering=0) as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return 0
        # Small files get a small buffer; a file that grows while read just takes more windows.
        for buf, lo, hi, real_end in _windows(fh, min(window, info.st_size), t.after):
            a = np.frombuffer(buf, dtype=np.uint8)
            if len(t.id_keys):
                total += _count_ids(a, lo, hi, t)
            if t.needles:
                total += _count_hashes(buf, lo, hi, real_end, t)
    return total


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Every file of ``paths``; directories recursively (symlinked directories not followed),
    each file once, in sorted order within a directory."""
    seen: set[str] = set()
    for p in paths:
        p = Path(os.path.abspath(p))
        if p.is_dir():
            found = []
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames.sort()
                found.extend(Path(dirpath) / f for f in sorted(filenames))
        else:
            found = [p]
        for f in found:
            if str(f) not in seen:
                seen.add(str(f))
                yield f


def scan_paths(paths: Iterable[str | Path], ids: Iterable[str], text_hashes: Iterable[str], *,
               root: str | Path | None = None, window_bytes: int = DEFAULT_WINDOW) -> dict[str, int]:
    """``{file: number of matches}`` for every file holding at least one of ``ids`` or
    ``text_hashes`` (module doc for the rules). ``paths`` are files or directories (scanned
    recursively); files that vanish while scanning are skipped. Keys are POSIX paths relative
    to ``root`` when given and the file is under it, else absolute paths. ``window_bytes``
    only changes memory use (tests make it small to exercise window boundaries)."""
    targets = _targets(list(ids), list(text_hashes))
    if window_bytes < 1:
        raise ValueError("window_bytes must be positive")
    if targets.empty:
        return {}
    base = Path(os.path.abspath(root)) if root is not None else None
    found: dict[str, int] = {}
    for path in _files(paths):
        try:
            count = _count_file(path, targets, window_bytes)
        except (FileNotFoundError, IsADirectoryError):
            continue
        if count:
            key = path.relative_to(base).as_posix() if base is not None and path.is_relative_to(base) else str(path)
            found[key] = count
    return found


def count_in_bytes(data: bytes, ids: Iterable[str], text_hashes: Iterable[str]) -> int:
    """Number of matches in one byte string (same rules as :func:`scan_paths`)."""
    targets = _targets(list(ids), list(text_hashes))
    if targets.empty or not data:
        return 0
    buf = b"\0" * _BEFORE + data + b"\0" * targets.after
    a = np.frombuffer(buf, dtype=np.uint8)
    lo, hi = _BEFORE, _BEFORE + len(data)
    total = _count_ids(a, lo, hi, targets) if len(targets.id_keys) else 0
    if targets.needles:
        total += _count_hashes(buf, lo, hi, hi, targets)
    return total
