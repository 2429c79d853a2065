"""One writer at a time: the exclusive lock on a state folder that every run holds (docs/operating.md).

Runs on one state folder must not overlap: a removal's erasure rewrites stored tables and the
flag cache that a full run reads, and two runs would publish releases built from different
inputs. So every run holds ``<state>/.run.lock`` from before its Dagster instance is opened until
it ends: ``prism-pipeline run`` takes it for the whole command, and a run launched by the daemon
(the UI, the removal sensor) takes it when its resources are set up (``DatasetPaths``), after
Dagster's run queue let it start (``concurrency: runs: tag_concurrency_limits`` per code location,
``dagster_home/dagster.yaml``).

The lock is ``fcntl.flock`` on the file: the kernel releases it when its process ends, however
it ends (SIGKILL included), so a killed run never leaves a lock behind; the JSON beside the lock
(who holds it: pid, command, run id, start time) is then stale, and the next holder says it
took over. A second process asking for a held lock waits, printing one line naming the holder,
or with ``wait=False`` gets :class:`StateLocked` at once. The holder marks its environment, so
the same process, and the processes it starts (a per-step executor's step processes), do not
wait for themselves.

No Dagster import.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from prism_pipeline.core import clock
from prism_pipeline.core.atomic import atomic_write_text, pid_alive

LOCK_NAME = ".run.lock"  # in the state folder
HOLDER_NAME = ".run.lock.json"  # who holds it: shown to those who wait
HELD_ENV = "PRISM_PIPELINE_HELD_LOCKS"  # lock files this process (or its parent run) holds, os.pathsep-joined


class StateLocked(RuntimeError):
    """Another run holds the state folder's lock (``wait=False``); the message names it."""


def _held() -> set[str]:
    return {p for p in os.environ.get(HELD_ENV, "").split(os.pathsep) if p}


def holder(state_dir: Path) -> dict | None:
    """The lock's last holder as recorded beside it (may be stale), or None."""
    try:
        return json.loads((Path(state_dir) / HOLDER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe(info: dict | None) -> str:
    """"run 1a2b… (pid 4321, prism-pipeline run, started 2026-12-04 12:00:00 UTC)" for a holder."""
    if not info:
        return "another run (no details recorded)"
    run = f"run {info['run_id']}" if info.get("run_id") else "a run whose id is not known yet"
    return f"{run} (pid {info.get('pid')}, {info.get('command', '?')}, started {info.get('started_at', '?')})"


def record_run_id(state_dir: Path, run_id: str) -> None:
    """Add the Dagster run id to the holder's record (the holder calls it once its run exists)."""
    path = Path(state_dir) / HOLDER_NAME
    info = holder(state_dir) or {}
    if info.get("pid") == os.getpid():
        info["run_id"] = run_id
        _write_holder(path, info)


def _write_holder(path: Path, info: dict) -> None:
    atomic_write_text(path, json.dumps(info, sort_keys=True))


@contextlib.contextmanager
def state_lock(state_dir: Path, command: str, wait: bool = True, run_id: str | None = None,
               say: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the state folder's lock for the block (module doc). ``say`` gets the one line a
    waiting caller prints; ``wait=False`` raises :class:`StateLocked` instead of waiting."""
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    lock_path = state_dir / LOCK_NAME
    if str(lock_path) in _held():  # this process, or the run that started it, holds it
        if run_id:
            record_run_id(state_dir, run_id)
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = describe(holder(state_dir))
            if not wait:
                raise StateLocked(f"the state folder {state_dir} is in use by {other}: wait for it to finish, or run "
                                  "again without --no-wait to wait") from None
            say(f"waiting for {other} to finish with the state folder {state_dir}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        previous = holder(state_dir)
        if previous and previous.get("pid") and previous["pid"] != os.getpid() and not pid_alive(previous["pid"]):
            say(f"took over the state folder's lock from {describe(previous)}, which ended without releasing its "
                "record (it was killed)")
        _write_holder(state_dir / HOLDER_NAME, {
            "pid": os.getpid(), "command": command, "run_id": run_id,
            "started_at": clock.now().strftime("%Y-%m-%d %H:%M:%S UTC")})
        held = os.environ.get(HELD_ENV)
        os.environ[HELD_ENV] = os.pathsep.join(sorted(_held() | {str(lock_path)}))
        try:
            yield
        finally:
            if held is None:
                os.environ.pop(HELD_ENV, None)
            else:
                os.environ[HELD_ENV] = held
            with contextlib.suppress(OSError):
                (state_dir / HOLDER_NAME).unlink()
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def instance_lock(dagster_home: str | None) -> Iterator[None]:
    """Around opening a Dagster instance: two processes creating a new instance's SQLite storage
    at once collide on its tables ("table secondary_indexes already exists"), so only one at a
    time opens it (a lock file in ``DAGSTER_HOME``; no-op without one)."""
    if not dagster_home or not Path(dagster_home).is_dir():
        yield
        return
    fd = os.open(Path(dagster_home) / ".prism-pipeline-open.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
