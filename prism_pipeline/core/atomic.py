"""Atomic file writes and locks for the pipeline's state and outputs.

One implementation for every file the pipeline rewrites: a temporary file in the same folder,
fsynced, renamed over the old one, then the folder fsynced, so a crash at any instant leaves
either the old or the new content, never a mixture. :func:`replacing` does it for one file;
:func:`staged` and :func:`commit` for a set that must change together (the release files: every
file is staged first, then all are renamed); :func:`install` for a file another writer produced
(SQLite's ``VACUUM INTO``); :func:`create_once` for a file that must never be replaced.
No Dagster import.
"""

from __future__ import annotations

import fcntl
import glob
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (of any user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


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


@contextmanager
def staged(path: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A temporary file beside ``path`` to write its new content to, fsynced when the block
    ends; ``path`` itself is untouched until :func:`commit`. Yields (file, temporary path); the
    temporary file is deleted if the block fails. Its name is ``.<name>.tmp-<pid>``, created
    exclusively (mode 0600): one writer per file at a time. The temporary files a killed
    process left beside ``path`` (its pid no longer alive, or this process's own pid) are
    deleted first, so a killed release write leaves nothing behind once the next one ran."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    for left in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        pid = left.name.rpartition("-")[2]
        if left.is_file() and not left.is_symlink() and pid.isdigit() and (
                int(pid) == os.getpid() or not pid_alive(int(pid))):
            left.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, Path(tmp)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def commit(renames: Iterable[tuple[Path, Path]]) -> None:
    """Rename every staged (temporary, final) pair, then fsync their folders: call it only once
    every file of the set is staged."""
    renames = list(renames)
    for tmp, path in renames:
        os.replace(tmp, path)
    for folder in {Path(path).parent for _, path in renames}:
        fsync_dir(folder)


def install(tmp: Path, path: Path) -> None:
    """Put a complete file another writer produced beside ``path`` in its place: fsync it,
    rename it over ``path`` (keeping ``path``'s permissions when it exists), fsync the folder.
    The temporary file is deleted on error."""
    tmp, path = Path(tmp), Path(path)
    try:
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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


def create_once(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` (mode 0600) unless it exists, atomically and durably: the
    bytes go to a private temporary file that is hard-linked to the final name, which fails if
    another process got there first. Never overwrites (a secret such as a salt must not be
    replaced). True when this call created it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True
