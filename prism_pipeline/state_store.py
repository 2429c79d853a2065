"""Where and how the pipeline's intermediate tables are stored: pickles under ``<state>/assets``.

One module for the layout, used by the Dagster IO manager (``resources.StateIOManager``) and by
the removal step, which redacts stored tables in place (``removal/redact.py``). An asset's value
lives at ``<state>/assets/<asset key path>``; an op output inside a graph asset at
``<state>/assets/<run id>/<step key>/<output name>`` (the layout of Dagster's filesystem IO
manager, so a state written by earlier versions still loads).

Writes go to a temporary file in the same folder and are renamed over the old one, so a run
killed mid-write never leaves a truncated table that the next run would load. No fsync: these
are caches of values the pipeline can recompute, and fsync on every write costs more than the
work on small tables (the release files, which cannot be recomputed from here, are fsynced).
Plain pickles on purpose: pandas 3 without pyarrow pickles ``str`` columns as Python strings,
one per value, which the raw-byte leak scanner (``removal/scan.py``) can see.

No Dagster import.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

from prism_pipeline.atomic import replacing

ASSETS_DIRNAME = "assets"


def table_path(state_dir: str | Path, key_path: Sequence[str]) -> Path:
    """The file of an asset (its key path) or an op output (run id, step key, output name)."""
    return Path(state_dir).resolve().joinpath(ASSETS_DIRNAME, *key_path)


def read(path: Path) -> object:
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _dump(value: object, fh) -> None:
    """Pickle without the memo ("fast" mode): a table of a million strings pickles twice as
    fast (0.06 s against 0.13 s for PRISM's conversation history), and a removal rewrites
    every table. The memo only shares repeated objects, which tables do not need; a
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


def write(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, durable=False) as fh:  # module doc: atomic, no fsync
        _dump(value, fh)
