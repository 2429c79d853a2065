"""A conservative "nothing changed" stamp, so ``prism-pipeline run --unsynced`` can answer
without loading Dagster when nothing can have changed.

Loading the definitions (Dagster, pandera, pandas, the asset modules) costs seconds; hashing
the source files costs a fraction of that. After Dagster's own check finds nothing unsynced
(``staleness.unsynced_assets``), the CLI records here what that answer depended on: the
folders, the sha256 of every source file (the same versions the observations record), the
sha256 of the pipeline's code (every ``prism_pipeline/**/*.py``: code versions and settings
defaults live there), the size and mtime of every file of the instance's run history (any
run or materialisation since, from the CLI or the UI, changes them) and of every release file
and stored table (a file deleted or edited by hand changes them). The next ``--unsynced``
compares these first; if any differs, or anything is missing, it asks Dagster as before. So
the stamp can only skip a check whose answer would be "nothing is unsynced".

No Dagster import.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from prism_pipeline.core.atomic import atomic_write_text
from prism_pipeline.core.hashing import sha256_path

STAMP_FILENAME = "in_sync.json"  # in the state dir
CODE_ROOT = Path(__file__).resolve().parents[2]  # the prism_pipeline package


def _code_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(CODE_ROOT.rglob("*.py")):
        digest.update(path.relative_to(CODE_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _history(dagster_home: str | None) -> list | None:
    """(name, size, mtime_ns) of every file of the instance's SQLite run history; None without one
    (an ephemeral instance or a database server: then the stamp is never trusted)."""
    if not dagster_home:
        return None
    history = Path(dagster_home) / "history"
    if not history.is_dir():
        return None
    return [[p.relative_to(history).as_posix(), p.stat().st_size, p.stat().st_mtime_ns]
            for p in sorted(history.rglob("*")) if p.is_file()]


def _files(paths: list[str]) -> dict[str, list | None]:
    """(name, size, mtime_ns) of every file at or under each path; None for a missing path."""
    out: dict[str, list | None] = {}
    for name in sorted(paths):
        path = Path(name)
        files = sorted(path.rglob("*")) if path.is_dir() else [path] if path.exists() else None
        out[name] = None if files is None else [
            [p.relative_to(path).as_posix() if p != path else "", p.stat().st_size, p.stat().st_mtime_ns]
            for p in files if p.is_file()]
    return out


def fingerprint(dirs: dict[str, str], sources: dict[str, str], dagster_home: str | None,
                written: list[str]) -> dict:
    """What a "nothing is unsynced" answer depends on (module doc). ``sources``: key → path;
    ``written``: the release files and the stored tables' folder."""
    return {"dirs": dict(sorted(dirs.items())),
            "sources": {key: [path, sha256_path(Path(path))] for key, path in sorted(sources.items())},
            "code": _code_digest(), "history": _history(dagster_home), "written": _files(written)}


def record(state_dir: Path, dirs: dict[str, str], sources: dict[str, str], dagster_home: str | None,
           written: list[str]) -> None:
    stamp = fingerprint(dirs, sources, dagster_home, written)
    if stamp["history"] is not None:
        atomic_write_text(Path(state_dir) / STAMP_FILENAME, json.dumps(stamp, sort_keys=True))


def is_current(state_dir: Path, dirs: dict[str, str], dagster_home: str | None) -> bool:
    """True only when the recorded stamp matches the folders, files, code and history now."""
    path = Path(state_dir) / STAMP_FILENAME
    try:
        stamp = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if stamp.get("dirs") != dict(sorted(dirs.items())) or stamp.get("history") is None:
        return False
    sources = {key: value[0] for key, value in stamp.get("sources", {}).items()}
    return fingerprint(dirs, sources, dagster_home, list(stamp.get("written", {}))) == stamp
