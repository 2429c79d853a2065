"""Atomic file writes and locks for the pipeline's state and outputs.

One implementation for every file the pipeline rewrites (release files use the same
temporary-file-then-rename pattern in ``release/writer.py``, for many files at once): a crash
at any instant leaves either the old or the new content, never a mixture.
No Dagster import.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def replacing(path: Path, durable: bool = True) -> Iterator[BinaryIO]:
    """A file to write ``path``'s new content to, renamed over ``path`` when the block ends
    without error: a temporary file in the same directory (mode 0600), ``os.replace``, and with
    ``durable`` an fsync of the file before and of the directory after. A crash at any instant
    leaves either the old or the new content, never a mixture, and no temporary file on an
    ordinary error."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically and durably (:func:`replacing`)."""
    with replacing(path) as fh:
        fh.write(data)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` (created if missing) for read-modify-write cycles
    of a state file, so two processes adding at once cannot lose one another's row."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(Path(path), text.encode("utf-8"))
