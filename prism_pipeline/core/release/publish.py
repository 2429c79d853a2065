"""Publishing a release: rebuild it, or carry it forward without removed participants (SPEC §7.7).

A normal run rebuilds every file. A run that applies a removal reads the release on disk once
(a thread per file, while the always-rebuilt files are built): every file's sha256 goes to the
ledger, and when the files are exactly what the pipeline last wrote (``recorded``: sha256 and
rows per file) and nothing they are built from changed since, the dataset's ``carried`` files
are carried forward without the lines of the participants no longer in its ``users_file``
(which equals a rebuild from the redacted tables: a line of a carried file depends on its own
participant's rows only) and the other files are rebuilt; otherwise everything is rebuilt.
Either way the files, and the dataset card built from them, are staged and renamed together
(``writer.py``, ``atomic.py``).

No Dagster import.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from prism_pipeline.core.dataset import CARD_NAME
from prism_pipeline.core.hashing import sha256_file
from prism_pipeline.core.release.writer import (
    EncodedLines,
    Staged,
    WrittenFile,
    commit,
    discard,
    stage,
    stage_all,
    without_users,
)

REBUILT, CARRIED = "rebuilt", "carried forward without removed participants"


@dataclass
class Published:
    written: dict[str, WrittenFile]  # release file -> what was written
    before: dict[str, str | None]  # release file -> sha256 before this run (removal runs only)
    mode: str  # REBUILT or CARRIED


@dataclass(frozen=True)
class Carry:
    """Which files a removal may carry forward: ``carried`` (every line has one top-level
    ``"user_id"``), and ``users_file``, whose lines start with ``{"user_id": "…"`` and list every
    participant of the release (the removed ones are those no longer kept)."""

    carried: tuple[str, ...]
    users_file: str


def publish_release(out: Path, files: tuple[str, ...], fresh: Callable[[], Mapping[str, object]],
                    rebuild: Callable[[Mapping[str, object]], Mapping[str, object]], *, removing: bool,
                    recorded: dict[str, tuple[str, int]] | None, kept_user_ids: set[str], carry: Carry | None,
                    before_commit: Callable[[set[str]], None],
                    card: Callable[[dict[str, WrittenFile], dict[str, Path]], str] | None = None) -> Published:
    """Write the release (``files``) into ``out``. ``fresh()`` builds the records of the files
    that are always rebuilt; ``rebuild(fresh records)`` every file's records
    (``writer.write_release``'s form). ``removing``: this run applies a removal (carry forward
    when ``carry`` allows it and ``recorded`` matches the files on disk). ``kept_user_ids``: the
    release's participants. ``before_commit(kept_user_ids)`` runs when every file is staged,
    right before they are renamed into place; an exception there discards them, leaving the
    previous release (``requests.check_none_arrived``: a removal request that arrived during
    the run). ``card(written)``: the dataset card's text, built from the written files (and
    their staged copies on disk), staged and renamed with them."""
    staged, before, mode = None, {}, REBUILT
    if removing:
        carried = set(carry.carried) if carry else set()
        before = {name: sha256_file(out / name) if (out / name).exists() else None
                  for name in files if name not in carried and (carry is None or name != carry.users_file)}
    if removing and carry is not None:
        staged, carried_before = _carry_forward(out, fresh, recorded, kept_user_ids, carry)
        before.update(carried_before)
        mode = REBUILT if staged is None else CARRIED
    if staged is None:
        staged = stage_all(out, rebuild(fresh()))
    try:
        if card is not None:
            text = card({s.written.name: s.written for s in staged}, {s.written.name: s.tmp for s in staged})
            text = text.encode("utf-8")
            staged.append(stage(out, CARD_NAME, EncodedLines([text], text.count(b"\n"))))
        before_commit(kept_user_ids)
    except BaseException:
        discard(staged)
        raise
    written = commit(staged)
    written.pop(CARD_NAME, None)
    return Published(written, before, mode)


def _carry_forward(out: Path, fresh, recorded, kept_user_ids: set[str],
                   carry: Carry) -> tuple[list[Staged] | None, dict[str, str | None]]:
    """(staged files, sha256 before of the users file and the carried ones) when every carried
    file is what the pipeline last wrote; (None, sha256 before) when the release must be rebuilt."""
    before: dict[str, str | None] = {}
    users_path = out / carry.users_file
    previous = users_path.read_bytes() if users_path.exists() else None
    before[carry.users_file] = hashlib.sha256(previous).hexdigest() if previous is not None else None
    if recorded is not None and before[carry.users_file] != recorded.get(carry.users_file, (None,))[0]:
        recorded = None
    gone = set(_user_ids(previous, carry.users_file)) - kept_user_ids if recorded else set()
    staged: list[Staged | None] = []
    carrying = {}
    try:
        with ThreadPoolExecutor(max_workers=len(carry.carried)) as pool:
            carrying = {f: pool.submit(_carry, out, f, recorded.get(f) if recorded else None, gone)
                        for f in carry.carried}
            records = fresh()
            if recorded is not None:
                staged += stage_all(out, records)
    except BaseException:  # every thread has ended here (the pool waits for them)
        discard(staged + [f.result()[1] for f in carrying.values() if f.exception() is None])
        raise
    for f, future in carrying.items():
        if future.exception() is None:
            before[f], carried = future.result()
            staged.append(carried)
    errors = [future.exception() for future in carrying.values() if future.exception() is not None]
    if errors:
        discard(staged)
        raise errors[0]
    if recorded is not None and None not in staged:
        return staged, before
    discard(staged)
    return None, before


def _carry(out_dir: Path, name: str, recorded: tuple[str, int] | None, gone: set[str]
           ) -> tuple[str | None, Staged | None]:
    """One release file before a removal: its sha256 (for the ledger; None when absent) and,
    when it is exactly what this pipeline last wrote (``recorded``: sha256 and rows, else None),
    the file staged without the lines of the ``gone`` participants. One thread per file, so
    one file's read, hashes and write overlap another's (they release the GIL)."""
    path = out_dir / name
    if not path.exists():
        return None, None
    if recorded is None:
        return sha256_file(path), None
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if sha != recorded[0]:
        return sha, None
    return sha, stage(out_dir, name, without_users(data, recorded[1], gone))


def _user_ids(data: bytes | None, name: str) -> list[str]:
    """user_id of every line of a users file this pipeline wrote (its first key)."""
    if data is None:
        return []
    ids = [m.decode("utf-8") for m in _USER_LINE.findall(data)]
    if len(ids) != data.count(b"\n"):
        raise ValueError(f"{name}: a line does not start with its user_id")
    return ids


_USER_LINE = re.compile(rb'^\{"user_id": "([^"\\]*)"', re.M)
