"""Where and how the pipeline's intermediate tables are stored: pickles under ``<state>/assets``.

One module for the layout, used by the Dagster IO manager (``resources.StateIOManager``) and by
the removal step, which redacts stored tables in place (``removal/redact.py``). An asset's value
lives at ``<state>/assets/<asset key path>``; an op output inside a graph asset at
``<state>/assets/<run id>/<step key>/<output name>`` (the layout of Dagster's filesystem IO
manager, so a state written by earlier versions still loads).

Two forms:

* a **plain pickle** (a file) for every value without a participant key;
* a **partitioned table** (a folder) for a DataFrame of at least :data:`PARTITION_MIN_ROWS` rows
  with a ``user_id`` column, else a ``conversation_id`` column: its rows are split into
  :data:`PARTS` part files by a stable hash of that key (crc32 of the UTF-8 id, mod ``PARTS``),
  so all rows of one participant (or one conversation) sit in one part. Why: a removal request
  drops one participant's rows from every stored table, and then reads and rewrites only the
  parts holding them, about 1/16 of each table, instead of every byte of ~230 MB of pickles
  (SPEC §7.7; measured in ``benchmarks/bench_removal.py``). Reading a partitioned table
  concatenates its parts and restores the original row order (each part stores its rows'
  positions), so readers see the very frame that was written: index, dtypes, column order and
  ``attrs`` included. Smaller tables (the survey, the conversations, the samples: read whole by
  most assets) stay plain: 16 parts cost more to read than they save to redact (measured: the
  REP steps of a removal run took 0.27 s instead of 0.12 s with every keyed table partitioned).

  Folder layout: ``manifest`` (a pickle: format, key column, hash, part count, whether the
  index was a ``RangeIndex``, ``attrs``, generation) and ``<generation>.<i>`` part files, each
  two pickles in a row: the int64 positions of its rows, then its sub-frame. A new write
  puts its parts under a new generation and replaces the manifest last, so a run killed
  mid-write leaves the previous table readable; :func:`drop_rows` rewrites parts of the current
  generation one by one, each atomically (a half-applied drop is still a valid table, and
  dropping again is a no-op). Positions are only an order: after a drop they have gaps, and a
  ``RangeIndex`` table is renumbered when read, as a rebuild would number it.

Every file is written to a temporary file in the same folder and renamed over the old one, so
a run killed mid-write never leaves a truncated file that the next run would load. No fsync:
these are caches of values the pipeline can recompute, and fsync on every write costs more than
the work on small tables (the release files, which cannot be recomputed from here, are fsynced).
Plain pickles on purpose: pandas 3 without pyarrow pickles ``str`` columns as Python strings,
one per value, which the raw-byte leak scanner (``removal/scan.py``) can see.

No Dagster import.
"""

from __future__ import annotations

import os
import pickle
import secrets
import shutil
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prism_pipeline.core.atomic import replacing

ASSETS_DIRNAME = "assets"
PARTS = 16
PARTITION_KEYS = ("user_id", "conversation_id")  # the first one a table has is its key
PARTITION_MIN_ROWS = 20_000  # PRISM: the four text tables and the metadata table (27k-106k rows)
MANIFEST = "manifest"
_FORMAT = 1


def table_path(state_dir: str | Path, key_path: Sequence[str]) -> Path:
    """The file (or partitioned table's folder) of an asset (its key path) or an op output
    (run id, step key, output name)."""
    return Path(state_dir).resolve().joinpath(ASSETS_DIRNAME, *key_path)


def _dump(value: object, fh) -> None:
    """Pickle without the memo ("fast" mode): a table of a million strings pickles twice as
    fast (0.06 s against 0.13 s for PRISM's conversation history), and a removal rewrites
    tables. The memo only shares repeated objects, which tables do not need; a
    self-referential value, which fast mode cannot pickle, falls back to the normal pickler."""
    start = fh.tell()
    pickler = pickle.Pickler(fh, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    try:
        pickler.dump(value)
    except (ValueError, RecursionError):  # "fast mode: can't pickle cyclic objects"
        fh.seek(start)
        fh.truncate()
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _write_file(path: Path, *values: object) -> None:
    with replacing(path, durable=False) as fh:  # module doc: atomic, no fsync
        for value in values:
            _dump(value, fh)


def partition_key(value: object, min_rows: int = PARTITION_MIN_ROWS) -> str | None:
    """The column a value is partitioned by, or None when it is stored as a plain pickle."""
    if isinstance(value, pd.DataFrame) and len(value) >= max(min_rows, 1) and isinstance(value.columns, pd.Index):
        return next((c for c in PARTITION_KEYS if c in value.columns), None)
    return None


def part_of(ids: Collection) -> np.ndarray:
    """The part number of each id (crc32 of its UTF-8 bytes mod PARTS; a missing id: part 0).
    Computed once per distinct id, never per row."""
    codes, uniques = pd.factorize(pd.Series(list(ids) if not isinstance(ids, pd.Series) else ids, dtype=object))
    if len(uniques) == 0:
        return np.zeros(len(codes), dtype=np.int64)
    parts = np.fromiter((zlib.crc32(str(u).encode("utf-8")) % PARTS for u in uniques), dtype=np.int64,
                        count=len(uniques))
    return np.where(codes >= 0, parts[np.maximum(codes, 0)], 0)


def write(path: Path, value: object, partition_min_rows: int = PARTITION_MIN_ROWS) -> None:
    """Store ``value`` at ``path``: partitioned when it is a table of at least
    ``partition_min_rows`` rows with a participant key, else plain."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_siblings(path)
    key = partition_key(value, partition_min_rows)
    if key is None:
        if path.is_dir():  # was partitioned: write the file beside it, then swap
            tmp = path.with_name(f".{path.name}.plain-{secrets.token_hex(4)}")
            _write_file(tmp, value)
            _swap_in(tmp, path)
        else:
            _write_file(path, value)
        return
    if path.exists() and not path.is_dir():  # was a plain pickle: build the folder beside it, then swap
        tmp = path.with_name(f".{path.name}.parts-{secrets.token_hex(4)}")
        tmp.mkdir()
        try:
            _write_parts(tmp, value, key)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _swap_in(tmp, path)
        return
    path.mkdir(exist_ok=True)
    _write_parts(path, value, key)


def _sweep_siblings(path: Path) -> None:
    """Delete what a run killed while switching this table between its two forms left beside
    it (``.<name>.old-*``, ``.parts-*``, ``.plain-*``): old rows, which may be a removed
    participant's. The run holds the state folder's lock (core/lock.py), so none is in use."""
    for stale in path.parent.glob(f".{path.name}.*-*"):
        if stale.name.split(".")[-1].split("-")[0] in ("old", "parts", "plain"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()


def _swap_in(new: Path, path: Path) -> None:
    """Replace ``path`` (a file or folder) by ``new`` of the other kind: the old one is renamed
    aside first and deleted last, so no reader ever sees a half-deleted table."""
    old = path.with_name(f".{path.name}.old-{secrets.token_hex(4)}")
    os.replace(path, old)
    os.replace(new, path)
    shutil.rmtree(old) if old.is_dir() else old.unlink()


def _write_parts(folder: Path, frame: pd.DataFrame, key: str) -> None:
    generation = secrets.token_hex(4)
    parts = part_of(frame[key])
    try:
        for i in range(PARTS):
            positions = np.flatnonzero(parts == i).astype(np.int64)
            _write_file(folder / f"{generation}.{i}", positions, frame.iloc[positions])
    except BaseException:  # the previous generation stays the table; no orphan parts
        for i in range(PARTS):
            (folder / f"{generation}.{i}").unlink(missing_ok=True)
        raise
    manifest = {"format": _FORMAT, "key": key, "hash": "crc32", "parts": PARTS, "generation": generation,
                # a RangeIndex is rebuilt from its start and step when read (renumbered after a drop)
                "range_index": ((frame.index.start, frame.index.step, frame.index.name)
                                if isinstance(frame.index, pd.RangeIndex)
                                else None), "attrs": dict(frame.attrs)}
    _write_file(folder / MANIFEST, manifest)
    _sweep(folder, generation)


def _sweep(folder: Path, generation: str) -> None:
    """Delete every file of the folder but the manifest and this generation's parts: the
    previous generation and anything a killed run left (which may hold removed rows)."""
    for stale in folder.iterdir():
        if stale.name != MANIFEST and not stale.name.startswith(f"{generation}."):
            stale.unlink()


def _manifest(folder: Path) -> dict:
    try:
        with open(folder / MANIFEST, "rb") as fh:
            manifest = pickle.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder}: partitioned table without its manifest (its first write was "
                                "interrupted); materialise the asset again, e.g. with full_release") from None
    if manifest.get("format") != _FORMAT:
        raise ValueError(f"{folder}: unknown partitioned-table format {manifest.get('format')!r}")
    return manifest


def _read_part(path: Path, frame: bool = True) -> tuple[np.ndarray, pd.DataFrame | None]:
    with open(path, "rb") as fh:
        positions = pickle.load(fh)
        return positions, (pickle.load(fh) if frame else None)


def _assemble(manifest: dict, parts: Sequence[tuple[np.ndarray, pd.DataFrame]]) -> pd.DataFrame:
    frame = pd.concat([f for _, f in parts])
    frame = frame.take(np.argsort(np.concatenate([p for p, _ in parts]), kind="stable"))
    if manifest["range_index"] is not None:
        start, step, name = manifest["range_index"]
        frame.index = pd.RangeIndex(start, start + step * len(frame), step, name=name)
    frame.attrs = dict(manifest["attrs"])
    return frame


def is_stored(path: Path) -> bool:
    """Whether a readable table is stored at ``path``: a plain pickle, or a partitioned table's
    manifest with every part of its generation (files only are looked at, none is read whole)."""
    path = Path(path)
    if path.is_file():
        return True
    if not path.is_dir():
        return False
    try:
        manifest = _manifest(path)
    except (FileNotFoundError, ValueError, pickle.UnpicklingError, EOFError):
        return False
    return all((path / f"{manifest['generation']}.{i}").is_file() for i in range(manifest["parts"]))


def read(path: Path) -> object:
    path = Path(path)
    if path.is_dir():
        manifest = _manifest(path)
        return _assemble(manifest, [_read_part(path / f"{manifest['generation']}.{i}")
                                    for i in range(manifest["parts"])])
    with open(path, "rb") as fh:
        return pickle.load(fh)


@dataclass
class Dropped:
    """What :func:`drop_rows` removed: the rows (in table order, original index) and their
    positions in the table as it was before the drop."""

    rows: pd.DataFrame
    positions: np.ndarray
    table_rows: int  # rows in the table before the drop


def drop_rows(path: Path, column: str, values: Collection) -> Dropped | None:
    """Delete the rows whose ``column`` is in ``values`` from the table stored at ``path``
    and return them (None when nothing is stored or the value is not a table). A partitioned
    table keyed by ``column`` reads and rewrites only the parts those values hash to."""
    return _rows(Path(path), column, values, drop=True)


def find_rows(path: Path, column: str, values: Collection) -> Dropped | None:
    """What :func:`drop_rows` would delete, without deleting it (the same parts are read)."""
    return _rows(Path(path), column, values, drop=False)


def _rows(path: Path, column: str, values: Collection, drop: bool) -> Dropped | None:
    if drop:
        _sweep_siblings(path)
    if not path.exists():
        return None
    if not path.is_dir():
        frame = read(path)
        if not isinstance(frame, pd.DataFrame) or column not in frame.columns:
            return None
        gone = frame[column].isin(values).to_numpy()
        if drop and gone.any():  # stays a plain pickle
            kept = frame.loc[~gone]
            _write_file(path, kept.reset_index(drop=True) if isinstance(frame.index, pd.RangeIndex) else kept)
        return Dropped(frame.loc[gone], np.flatnonzero(gone), len(frame))
    manifest = _manifest(path)
    names = [path / f"{manifest['generation']}.{i}" for i in range(manifest["parts"])]
    if manifest["key"] == column:
        touched = sorted(set(part_of(values).tolist())) if len(values) else []
    else:
        touched = list(range(manifest["parts"]))
    if drop:
        _sweep(path, manifest["generation"])
    loaded = {i: _read_part(names[i]) for i in touched}
    all_positions = [loaded[i][0] if i in loaded else _read_part(n, frame=False)[0] for i, n in enumerate(names)]
    dropped = []
    for i in touched:
        positions, frame = loaded[i]
        if column not in frame.columns:
            return None
        gone = frame[column].isin(values).to_numpy()
        if gone.any():
            if drop:
                _write_file(names[i], positions[~gone], frame.loc[~gone])
            dropped.append((positions[gone], frame.loc[gone]))
    if dropped:
        rows = _assemble({**manifest, "range_index": None}, dropped)
        lost = np.sort(np.concatenate([p for p, _ in dropped]))
    else:
        # the table's columns and dtypes, no rows
        any_part = next(iter(loaded.values()), None) or _read_part(names[0])
        rows, lost = any_part[1].iloc[:0], np.empty(0, dtype=np.int64)
    order = np.sort(np.concatenate(all_positions))
    return Dropped(rows, np.searchsorted(order, lost), len(order))
