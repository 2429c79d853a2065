"""Publishing a release: rebuild it, or carry it forward without removed participants (SPEC §7.7).

A normal run rebuilds all four files. A run that applies a removal reads the release on disk
once (a thread per file, while the survey is built): every file's sha256 goes to the ledger,
and when the files are exactly what the pipeline last wrote (``recorded``: sha256 and rows per
file) and nothing they are built from changed since, the survey is rebuilt (its REP flags may
change) and the other three are carried forward without the lines of the participants no
longer in the survey, which equals a rebuild from the redacted tables; otherwise everything is
rebuilt. Either way the files are staged and renamed together (``writer.py``).

No Dagster import.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from prism_pipeline.core.hashing import sha256_file
from prism_pipeline.core.release.writer import Staged, WrittenFile, commit, discard, stage, without_users, write_release

CARRIED_FILES = ("conversations.jsonl", "utterances.jsonl", "metadata.jsonl")
REBUILT, CARRIED = "rebuilt", "carried forward without removed participants"


@dataclass
class Published:
    written: dict[str, WrittenFile]  # release file -> what was written
    before: dict[str, str | None]  # release file -> sha256 before this run (removal runs only)
    mode: str  # REBUILT or CARRIED


def publish_release(out: Path, survey_records: Callable[[], list[dict]], rebuild: Callable[[list[dict]], dict],
                    removing: bool, recorded: dict[str, tuple[str, int]] | None,
                    kept_user_ids: set[str]) -> Published:
    """Write the release into ``out``: ``survey_records()`` builds the survey's records,
    ``rebuild(records)`` every file's records for :func:`writer.write_release`. ``removing``:
    this run applies a removal (carry forward when ``recorded`` matches the files on disk)."""
    written, before, mode = None, {}, REBUILT
    if not removing:
        records = survey_records()
    else:
        survey_path = out / "survey.jsonl"
        previous = survey_path.read_bytes() if survey_path.exists() else None
        before["survey.jsonl"] = hashlib.sha256(previous).hexdigest() if previous is not None else None
        if recorded is not None and before["survey.jsonl"] != recorded["survey.jsonl"][0]:
            recorded = None
        gone = set(_survey_user_ids(previous)) - kept_user_ids if recorded else set()
        staged: list[Staged | None] = []
        carrying = {}
        try:
            with ThreadPoolExecutor(max_workers=len(CARRIED_FILES)) as pool:
                carrying = {f: pool.submit(_carry, out, f, recorded[f] if recorded else None, gone)
                            for f in CARRIED_FILES}
                records = survey_records()
                if recorded is not None:
                    staged.append(stage(out, "survey.jsonl", records))
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
            mode = CARRIED
            written = commit(staged)
        else:
            discard(staged)
    if written is None:
        written = write_release(out, rebuild(records))
    return Published(written, before, mode)


def _carry(out_dir: Path, name: str, recorded: tuple[str, int] | None, gone: set[str]
           ) -> tuple[str | None, Staged | None]:
    """One release file before a removal: its sha256 (for the ledger; None when absent) and,
    when it is exactly what this asset last wrote (``recorded``: sha256 and rows, else None),
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


def _survey_user_ids(data: bytes) -> list[str]:
    """user_id of every line of a survey.jsonl this asset wrote (its first key, SPEC §1.3)."""
    ids = [m.decode("utf-8") for m in _SURVEY_USER.findall(data)]
    if len(ids) != data.count(b"\n"):
        raise ValueError("survey.jsonl: a line does not start with its user_id")
    return ids


_SURVEY_USER = re.compile(rb'^\{"user_id": "([^"\\]*)"', re.M)
