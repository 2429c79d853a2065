"""sha256 of files, folders and settings: the one place the pipeline fingerprints its inputs.

File digests name a release file in the ledger and metadata, and give every raw and reference
file its Dagster data version (``sources/``). Text digests are ``metadata_flags.runner.text_sha256``
(the flag cache's key). No Dagster import.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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
