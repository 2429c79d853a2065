"""Leak scanner: does any byte of a removed participant survive? (SPEC §7.7)

After every removal an asset check scans the outputs and the private state dir for the removed
participant's identifiers (the dataset's ids: PRISM's user, conversation, utterance and
interaction ids, ThoughtTrace's user and conversation ids) and the sha256 of their texts.
Collecting those identifiers is the caller's job; :func:`scan_paths` reports, per file that
matches, HOW MANY matches it holds and never WHICH identifier matched (the report itself must
not leak).

Files are scanned as raw bytes, whatever their format: JSONL, CSV, SQLite databases with
their ``-wal``/``-shm``/``-journal`` files, pickles of pandas frames (pandas 3 without pyarrow
pickles ``str`` columns as Python objects: ``\\x8c\\x03c12\\x94``), PNG, anything.

Matching rules:

* an id (ASCII letters, digits and underscores, starting with a letter and holding a digit:
  ``user12``, ``c12``, ``ut3``, ``int9``, ``user12_task1_conversation2``) matches where it is neither
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

How: two engines that give the same counts (the tests run every case through both).

* **Hyperscan** (Intel's regex engine, ``hyperscan`` wheels on x86-64), for :func:`scan_paths`
  with at most ``_DFA_MAX_PATTERNS`` patterns: each id is compiled with its boundaries
  (``(?:\\A|[^0-9A-Za-z])id(?:[^0-9A-Za-z]|\\z)``) and each hash as a literal, so only real
  matches reach Python. It releases the GIL while it searches. Compiling costs 30 ms for
  150 patterns and 0.23 s for 1,000 (0.53 s for 2,000, hence the limit).
* **Aho-Corasick** (``ahocorasick_rs``, Rust), for more patterns, for :func:`count_in_bytes`
  (small inputs, where compiling would cost more than searching) and where Hyperscan is not
  installed: every pattern goes into one automaton that reports every occurrence of every
  pattern, overlapping ones included, in one pass; the id boundary is then checked on the
  byte before and after each id occurrence (short ids such as ``c3`` are found often inside
  hex strings and rejected there, a little Python per hit). Up to ``_DFA_MAX_PATTERNS``
  patterns the automaton is a full DFA (a few MB, a few ms to build); beyond, a contiguous
  NFA (less memory, 60-75% of the speed).

Both release the GIL, so ``workers`` threads scan files in parallel (the result is still in
sorted file order). Measured on this machine (2 cores) on the 570 MB of outputs and state dir
of the scale-1 removal benchmark, one participant's 66 ids: 0.18 s with Hyperscan and 0.61 s
with the Aho-Corasick DFA (2 workers each, the same 1,722 matches in 39 files); the numpy engine
the automaton replaced took 2.3 s and one big ``re`` alternation runs at ~70 MB/s.

Files are read in windows of 4 MiB (never loaded whole, never memory-mapped: a file truncated
while mapped would crash the process). Each window is read with one byte before it (the
boundary byte before an id) and, after it, the longest pattern's length less one (the rest of
a match starting at the window's last byte) plus one byte (the boundary byte after an id). A
match counts in the window holding its first byte, so matches across window boundaries count
exactly once.

No Dagster import.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ahocorasick_rs

try:
    import hyperscan
except ImportError:  # wheels for x86-64 only: elsewhere the Aho-Corasick automaton does it all
    hyperscan = None

ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
HASH_RE = re.compile(r"[0-9a-f]{64}")
DEFAULT_WINDOW = 4 << 20  # bytes read per window (per worker thread)
_DFA_MAX_PATTERNS = 1000  # a DFA of 1000 patterns takes ~40 ms and a few tens of MB to build
_COUNT_DFA_MIN_BYTES = 16 << 20  # count_in_bytes: below this, a DFA costs more to build than it saves
ENGINES = ("hyperscan", "aho-corasick")
DEFAULT_ENGINE = "hyperscan"
_ALNUM = bytes(1 if chr(b).isascii() and chr(b).isalnum() else 0 for b in range(256))


class ScanInputError(ValueError):
    """An identifier handed to the scanner has the wrong shape (the message gives its position only)."""


@dataclass(frozen=True)
class _Patterns:
    patterns: tuple[bytes, ...]  # the ids first, then the hashes (hex and raw)
    n_ids: int  # patterns[:n_ids] are ids, which need the boundary check
    longest: int

    def automaton(self, dfa: bool) -> ahocorasick_rs.BytesAhoCorasick:
        kind = ahocorasick_rs.Implementation.DFA if dfa else ahocorasick_rs.Implementation.ContiguousNFA
        return ahocorasick_rs.BytesAhoCorasick(list(self.patterns), implementation=kind)


def _patterns(ids: Iterable[str], text_hashes: Iterable[str]) -> _Patterns:
    found: dict[bytes, None] = {}  # ordered set
    for i, ident in enumerate(ids):
        if not (isinstance(ident, str) and ID_RE.fullmatch(ident) and any(c.isdigit() for c in ident)):
            raise ScanInputError(f"ids item {i}: not an id (ASCII letters, digits and underscores, starting with "
                                 "a letter and holding a digit)")
        found[ident.encode("ascii")] = None
    n_ids = len(found)
    for i, digest in enumerate(text_hashes):
        if not (isinstance(digest, str) and HASH_RE.fullmatch(digest)):
            raise ScanInputError(f"text_hashes item {i}: not 64 lowercase hex characters")
        found[digest.encode("ascii")] = None
        found[bytes.fromhex(digest)] = None
    patterns = tuple(found)
    return _Patterns(patterns, n_ids, max(map(len, patterns), default=0))


class _HyperscanCounter:
    """The file scan's engine when Hyperscan is installed and the patterns are few (module doc):
    each id is compiled with its boundaries, ``(?:\\A|[^0-9A-Za-z])id(?:[^0-9A-Za-z]|\\z)``, so
    only real matches come back to Python, through a callback that needs the GIL (the
    automaton returns every ``c12`` inside hex strings, each checked in Python). One scratch
    space per thread."""

    def __init__(self, t: _Patterns):
        def literal(p: bytes) -> bytes:
            return b"".join(b"\\x%02x" % c for c in p)

        expressions = [rb"(?:\A|[^0-9A-Za-z])" + literal(p) + rb"(?:[^0-9A-Za-z]|\z)" for p in t.patterns[:t.n_ids]]
        expressions += [literal(p) for p in t.patterns[t.n_ids:]]
        self.n_ids = t.n_ids
        self.db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self.db.compile(expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions),
                        flags=[hyperscan.HS_FLAG_SOM_LEFTMOST] * len(expressions))
        self._local = threading.local()

    def __call__(self, data, lo: int, hi: int) -> int:
        """Matches starting in data[lo:hi] (same contract as :func:`_count`)."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self.db)
        starts = []

        def found(index, start, end, flags, context):
            # an id's match begins with its boundary byte, except at the start of the data
            starts.append(start + 1 if index < self.n_ids and not _ALNUM[data[start]] else start)

        self.db.scan(data, match_event_handler=found, scratch=scratch)
        return sum(lo <= start < hi for start in starts)


def _count(automaton: ahocorasick_rs.BytesAhoCorasick, n_ids: int, data, lo: int, hi: int) -> int:
    """Matches starting in data[lo:hi]. ``data`` holds the byte before data[lo] when lo is 1 (lo 0:
    the start of the file) and, after data[hi], either enough bytes to finish any match plus the
    boundary byte after it, or the end of the file."""
    total = 0
    end_of_data = len(data)
    for index, start, end in automaton.find_matches_as_indexes(data, overlapping=True):
        if start < lo or start >= hi:
            continue
        if index < n_ids and ((start and _ALNUM[data[start - 1]]) or (end < end_of_data and _ALNUM[data[end]])):
            continue
        total += 1
    return total


def _count_file(path: Path, count: Callable[[memoryview, int, int], int], t: _Patterns, window: int) -> int:
    with open(path, "rb", buffering=0) as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return 0
        # Small files get a small buffer; a file that grows while read just takes more windows.
        window = min(window, info.st_size)
        buf = bytearray(1 + window + t.longest)
        view = memoryview(buf)
        total, start = 0, 0
        while True:
            before = 1 if start else 0
            fh.seek(start - before)
            n = 0
            while n < len(buf):
                got = fh.readinto(view[n:])
                if not got:
                    break
                n += got
            data = n - before  # bytes from the window's start on
            if data <= 0:
                return total
            total += count(view[:n], before, before + min(data, window))
            if data <= window:
                return total
            start += window


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
               root: str | Path | None = None, window_bytes: int = DEFAULT_WINDOW,
               workers: int = 2, engine: str | None = None) -> dict[str, int]:
    """``{file: number of matches}`` for every file holding at least one of ``ids`` or
    ``text_hashes`` (module doc for the rules). ``paths`` are files or directories (scanned
    recursively); files that vanish while scanning are skipped. Keys are POSIX paths relative
    to ``root`` when given and the file is under it, else absolute paths, in sorted file order.
    ``window_bytes`` only changes memory use (tests make it small to exercise window
    boundaries); ``workers`` threads scan files in parallel (the result does not depend on it);
    ``engine`` "hyperscan" (used when installed and the patterns are at most
    ``_DFA_MAX_PATTERNS``) or "aho-corasick", by default :data:`DEFAULT_ENGINE` (the result
    does not depend on it either)."""
    engine = engine or DEFAULT_ENGINE
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}")
    t = _patterns(list(ids), list(text_hashes))
    if window_bytes < 1:
        raise ValueError("window_bytes must be positive")
    if workers < 1:
        raise ValueError("workers must be positive")
    if not t.patterns:
        return {}
    few = len(t.patterns) <= _DFA_MAX_PATTERNS
    if engine == "hyperscan" and hyperscan is not None and few:
        counter = _HyperscanCounter(t)
    else:
        automaton = t.automaton(dfa=few)

        def counter(data, lo, hi):
            return _count(automaton, t.n_ids, data, lo, hi)

    def count(path: Path) -> int:
        try:
            return _count_file(path, counter, t, window_bytes)
        except (FileNotFoundError, IsADirectoryError):
            return 0

    files = list(_files(paths))
    if workers == 1 or len(files) <= 1:
        counts = [count(f) for f in files]
    else:
        pool = ThreadPoolExecutor(min(workers, len(files)), thread_name_prefix="leak-scan")
        try:
            counts = list(pool.map(count, files))
        finally:
            pool.shutdown(cancel_futures=True)
    base = Path(os.path.abspath(root)) if root is not None else None
    found: dict[str, int] = {}
    for path, n in zip(files, counts):
        if n:
            key = path.relative_to(base).as_posix() if base is not None and path.is_relative_to(base) else str(path)
            found[key] = n
    return found


def count_in_bytes(data: bytes, ids: Iterable[str], text_hashes: Iterable[str]) -> int:
    """Number of matches in one byte string (same rules as :func:`scan_paths`)."""
    t = _patterns(list(ids), list(text_hashes))
    if not t.patterns or not data:
        return 0
    dfa = len(t.patterns) <= _DFA_MAX_PATTERNS and len(data) >= _COUNT_DFA_MIN_BYTES
    return _count(t.automaton(dfa), t.n_ids, data, 0, len(data))
