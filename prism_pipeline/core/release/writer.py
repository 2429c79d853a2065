"""The one writer for every release file (SPEC §1.3–§1.6, §7.5 "JSON output").

* published key order, nested objects rebuilt from the flat ``parent.key`` columns;
* ``null``, never ``NaN`` (``allow_nan=False`` makes a stray NaN an error, not a bad file);
* ``/`` is not escaped and non-ASCII is kept, as ``json.dumps`` in the reference did;
* byte-identical across runs: no timestamps, dict order fixed by the layout;
* a removal can carry a file forward instead of re-encoding it: :func:`without_users` drops
  the removed participants' lines from the previous file, as byte slices (a release line
  depends only on its own participant's rows, ``core/removal/redact.py``);
* atomic as a set: every file is written and fsynced to a temporary name in the output
  directory first, and only when all are complete are they renamed over the old files, so a
  failure while writing leaves the previous release untouched.

No Dagster import.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ahocorasick_rs
import pandas as pd

from prism_pipeline.core import atomic


def python_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Object frame of plain Python scalars with None for every missing value."""
    return frame.astype(object).where(frame.notna(), None)


def _nest(flat: pd.DataFrame, prefix: str) -> list[dict]:
    """Rebuild nested dicts from ``prefix.a.b`` columns (any depth), keeping column order."""
    columns = [c for c in flat.columns if c.startswith(prefix + ".")]
    return _nested([c[len(prefix) + 1:].split(".") for c in columns], [flat[c].tolist() for c in columns])


def _nested(paths: list[list[str]], values: list[list]) -> list[dict]:
    """One dict per row from columns named by key paths: the keys of each level in the order
    they first appear among the columns, each level built for all rows at once (a dict per row
    from zipped columns, never a Python loop per row and column)."""
    levels: dict[str, list | tuple[list, list]] = {}
    for path, column in zip(paths, values):
        if len(path) == 1:
            levels[path[0]] = column
        else:
            sub_paths, sub_values = levels.setdefault(path[0], ([], []))
            sub_paths.append(path[1:])
            sub_values.append(column)
    keys = list(levels)
    columns = [_nested(*v) if isinstance(v, tuple) else v for v in levels.values()]
    return [dict(zip(keys, row)) for row in zip(*columns)]


def frame_to_records(frame: pd.DataFrame, columns: Sequence[str],
                     extra: Mapping[str, Sequence] | None = None) -> list[dict]:
    """Records with top-level keys in ``columns`` order. A key is taken from ``extra`` (a
    ready list, e.g. conversation_history), else from a flat column of that name, else from
    its ``key.*`` columns rebuilt as a nested object."""
    extra = extra or {}
    flat = python_values(frame)
    parts: list[list] = []
    for col in columns:
        if col in extra:
            parts.append(list(extra[col]))
        elif col in flat.columns:
            parts.append(flat[col].tolist())
        else:
            nested = _nest(flat, col)
            if not any(c.startswith(col + ".") for c in flat.columns):
                raise KeyError(f"no column or nested columns for release key {col!r}")
            parts.append(nested)
    return [dict(zip(columns, row)) for row in zip(*parts)]


# Rows converted to Python records at a time by :func:`iter_records`.
RECORD_CHUNK_ROWS = 20_000


def iter_records(frame: pd.DataFrame, columns: Sequence[str],
                 extra: Mapping[str, Sequence | Callable[[int, int], Sequence]] | None = None,
                 chunk_rows: int = RECORD_CHUNK_ROWS) -> Iterator[dict]:
    """:func:`frame_to_records`, ``chunk_rows`` rows at a time, lazily: the records of a file
    exist as Python objects one chunk at a time while it is encoded. Built whole, the four
    files' records were the largest allocation of a scale-10 run (README, "Benchmarks").
    An ``extra`` value is a sequence (sliced per chunk) or a function of (start, stop)
    returning the chunk's values (PRISM: ``prism/release/build.history_chunks``). Same records, same order."""
    extra = extra or {}
    for start in range(0, len(frame), chunk_rows):
        stop = min(start + chunk_rows, len(frame))
        chunk_extra = {k: v(start, stop) if callable(v) else v[start:stop] for k, v in extra.items()}
        yield from frame_to_records(frame.iloc[start:stop], columns, chunk_extra)


@dataclass(frozen=True)
class WrittenFile:
    name: str
    path: Path
    rows: int
    sha256: str
    bytes: int


def _encode(records: Iterable[Mapping]) -> Iterable[bytes]:
    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": ")).encode
    for rec in records:
        yield (dumps(rec) + "\n").encode("utf-8")


@dataclass(frozen=True)
class EncodedLines:
    """Ready release lines (bytes, each ending in a newline; a slice may hold many lines)."""

    chunks: Sequence[bytes | memoryview]
    rows: int


def without_users(data: bytes, rows: int, user_ids: Iterable[str]) -> EncodedLines:
    """A release file written by :func:`write_release` (its bytes ``data``, ``rows`` lines)
    without the lines of ``user_ids``, in file order, as slices of ``data`` (a handful of large
    slices when few lines go). Only for a file known to be this writer's output (the caller
    compares its sha256 with the one recorded when it was written): every line then has exactly
    one ``"user_id": "…"`` key, and inside a JSON string a quote is always escaped, so free text
    cannot fake it."""
    needles = [b'"user_id": "' + user.encode("utf-8") + b'"' for user in sorted(set(user_ids))]
    spans = []  # (start, end) of every dropped line
    if needles and data:
        # One pass for every participant with an Aho-Corasick automaton (Rust), which releases
        # the GIL: ``bytes.find`` holds it for the whole file (~0.1 s per 85 MB), which stalled
        # the step's thread building the survey while the files were carried in parallel.
        for _, at, _ in ahocorasick_rs.BytesAhoCorasick(needles).find_matches_as_indexes(data):
            spans.append((data.rfind(b"\n", 0, at) + 1, data.index(b"\n", at) + 1))
    view, chunks, pos = memoryview(data), [], 0
    for start, end in sorted(spans):
        if start > pos:
            chunks.append(view[pos:start])
        pos = end
    if pos < len(data):
        chunks.append(view[pos:])
    return EncodedLines(chunks, rows - len(spans))


@dataclass(frozen=True)
class Staged:
    """A release file written and fsynced under a temporary name, not yet renamed."""

    tmp: Path
    written: WrittenFile


def stage(out_dir: Path, name: str, records: Iterable[Mapping] | EncodedLines) -> Staged:
    """Write one release file to its temporary name in ``out_dir`` (``atomic.staged``: fsynced),
    hashing it on the way; :func:`commit` renames it into place. The temporary file is deleted
    on error."""
    out_dir = Path(out_dir)
    digest, rows, size = hashlib.sha256(), 0, 0
    ready = isinstance(records, EncodedLines)
    with atomic.staged(out_dir / name) as (fh, tmp):
        for chunk in (records.chunks if ready else _encode(records)):
            fh.write(chunk)
            digest.update(chunk)
            rows += 1
            size += len(chunk)
        if ready:
            rows = records.rows
    return Staged(tmp, WrittenFile(name, out_dir / name, rows, digest.hexdigest(), size))


def commit(staged: Iterable[Staged]) -> dict[str, WrittenFile]:
    """Rename staged files over the release's (``atomic.commit``): only once every file of the
    set is staged (module doc)."""
    staged = list(staged)
    atomic.commit((item.tmp, item.written.path) for item in staged)
    return {item.written.name: item.written for item in staged}


def discard(staged: Iterable[Staged | None]) -> None:
    """Delete staged files that will not be committed."""
    for item in staged:
        if item is not None:
            item.tmp.unlink(missing_ok=True)


def stage_all(out_dir: Path, files: Mapping[str, Iterable[Mapping] | EncodedLines | bytes]) -> list[Staged]:
    """Stage every file of ``{file name: records, ready lines or bytes}`` in ``out_dir``; if any
    fails, none stays staged (the error is raised)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {name: EncodedLines([data], data.count(b"\n")) if isinstance(data, bytes) else data
             for name, data in files.items()}
    ready = [name for name, data in files.items() if isinstance(data, EncodedLines)]
    staged: list[Staged] = []
    try:
        # Ready bytes in a thread each: writing, hashing and fsync release the GIL, so the carried
        # files are written side by side while this thread encodes the records of the others.
        # Encoding holds the GIL: records are encoded one file after another in this thread
        # (in threads they only contend for the GIL, and take longer).
        with ThreadPoolExecutor(max_workers=max(len(ready), 1)) as pool:
            futures = [pool.submit(stage, out_dir, name, files[name]) for name in ready]
            errors = []
            for name in files:
                if name not in ready:
                    try:
                        staged.append(stage(out_dir, name, files[name]))
                    except BaseException as err:  # the pool's files are discarded below
                        errors.append(err)
                        break
        for future in futures:
            if future.exception() is None:
                staged.append(future.result())
            else:
                errors.append(future.exception())
        if errors:
            raise errors[0]
    except BaseException:
        discard(staged)
        raise
    order = list(files)
    return sorted(staged, key=lambda s: order.index(s.written.name))


def write_release(out_dir: Path, files: Mapping[str, Iterable[Mapping] | EncodedLines]) -> dict[str, WrittenFile]:
    """Write ``{file name: records or ready lines}`` into ``out_dir`` atomically as a set (see
    module doc)."""
    return commit(stage_all(out_dir, files))
