"""sha256 of files, folders and settings: the one place the pipeline fingerprints its inputs.

File digests name a release file in the ledger and metadata, and give every raw and reference
file its Dagster data version (``sources/``). Text digests key the flag cache, the manual PII
review and the leak scan: sha256 of a text's UTF-8 bytes, lone surrogates kept
(``surrogatepass``), so every text the readers accept has one. No Dagster import.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

ABSENT = "absent"  # the data version of an optional file that is not there


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_folder(path: Path) -> str:
    """Hex sha256 over every file under a folder: sorted relative paths and their digests, so
    renaming, adding, removing or editing any file changes it."""
    path = Path(path)
    lines = [f"{p.relative_to(path).as_posix()} {sha256_file(p)}" for p in sorted(path.rglob("*")) if p.is_file()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def sha256_path(path: Path) -> str:
    """:func:`sha256_file` or :func:`sha256_folder`, or ``ABSENT`` when nothing is there."""
    path = Path(path)
    if path.is_dir():
        return sha256_folder(path)
    return sha256_file(path) if path.exists() else ABSENT


def sha256_json(value: object) -> str:
    """Hex sha256 of a JSON-serialisable value in canonical form (sorted keys)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def code_version(*modules) -> str:
    """A Dagster code version: the sha256 of the Python modules' source files (first 12 hex
    digits), so it changes whenever the rule it names changes (and, conservatively, on any edit
    of those files)."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:12]


def text_sha256(text: str) -> str:
    """sha256 hex digest of a text's UTF-8 bytes (lone surrogates kept via ``surrogatepass``)."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def text_mask(values: np.ndarray, dtype: object = None) -> np.ndarray:
    """True where a value is a ``str``; anything else (null, number) is a null text.
    ``dtype``: the values' pandas dtype; a string dtype holds only str and nulls."""
    if isinstance(dtype, pd.StringDtype) and isinstance(dtype.na_value, float):
        return np.equal(values, values)  # str or NaN only, and NaN != NaN: 4x faster than isna
    mask = ~pd.isna(values)
    if isinstance(dtype, pd.StringDtype):
        return mask
    if mask.any() and pd.api.types.infer_dtype(values[mask], skipna=False) != "string":
        mask = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
    return mask


def text_digests(texts: list[str]) -> list[bytes]:
    """sha256 digest (32 bytes) per text, as in :func:`text_sha256`. This loop is a large part
    of a warm flagging rerun (PRISM's 43 MB of text); hashlib releases no GIL for short texts, so
    it stays one loop in one thread."""
    sha256 = hashlib.sha256
    try:
        # Plain UTF-8 gives the same bytes for every text without a lone surrogate, ~8% faster
        # than passing an error handler per call.
        return [sha256(t.encode()).digest() for t in texts]
    except UnicodeEncodeError:
        return [sha256(t.encode("utf-8", "surrogatepass")).digest() for t in texts]


def hash_texts(texts: pd.Series) -> pd.Series:
    """sha256 per text, null for a null text; same index as ``texts``."""
    values = texts.to_numpy(dtype=object)
    present = text_mask(values, texts.dtype)
    out = np.full(len(values), None, dtype=object)
    out[present] = list(map(bytes.hex, text_digests(values[present].tolist())))
    return pd.Series(out, index=texts.index, dtype=object)
