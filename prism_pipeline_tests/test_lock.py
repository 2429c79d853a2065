"""The state folder's lock (core/lock.py): one writer at a time, across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prism_pipeline.core import lock
from prism_pipeline.core.lock import HELD_ENV, HOLDER_NAME, StateLocked, holder, state_lock

HOLD = """
import sys, time
from pathlib import Path
from prism_pipeline.core.lock import state_lock
with state_lock(Path(sys.argv[1]), "prism-pipeline run --job full_release", run_id="0f1e2d3c"):
    Path(sys.argv[2]).touch()
    time.sleep(600)
"""


@pytest.fixture
def holding(tmp_path):
    """Another process holding the lock of tmp_path/state."""
    state, ready = tmp_path / "state", tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(state), str(ready)])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    yield state, proc
    proc.kill()
    proc.wait()


def test_a_held_folder_is_refused_without_waiting_naming_the_holder(holding):
    state, proc = holding
    with pytest.raises(StateLocked) as err:
        with state_lock(state, "prism-pipeline run", wait=False):
            pass
    message = str(err.value)
    assert message.startswith(f"the state folder {state.resolve()} is in use by run 0f1e2d3c (pid {proc.pid}, "
                              "prism-pipeline run --job full_release, started ")
    assert message.endswith(" UTC): wait for it to finish, or run again without --no-wait to wait")
    assert holder(state)["pid"] == proc.pid


def test_the_lock_of_a_killed_holder_is_taken_over_and_said(holding):
    state, proc = holding
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    said = []
    with state_lock(state, "prism-pipeline run", say=said.append):
        assert holder(state)["pid"] == os.getpid()
    [line] = said
    assert line.startswith(f"took over the state folder's lock from run 0f1e2d3c (pid {proc.pid}, ")
    assert line.endswith("which ended without releasing its record (it was killed)")
    assert not (state / HOLDER_NAME).exists()  # released: the record goes with it


def test_a_waiting_caller_says_whom_it_waits_for_then_gets_the_lock(holding):
    state, proc = holding
    said = []

    def release_soon(line):
        said.append(line)
        os.kill(proc.pid, signal.SIGTERM)  # the holder ends while we wait

    with state_lock(state, "prism-pipeline run", say=release_soon):
        pass
    assert said[0] == (f"waiting for run 0f1e2d3c (pid {proc.pid}, prism-pipeline run --job full_release, "
                       f"started {holder_started(said[0])}) to finish with the state folder {state.resolve()}")


def holder_started(line: str) -> str:
    return line.split("started ", 1)[1].split(")", 1)[0]


CHILD = """
import sys
from pathlib import Path
from prism_pipeline.core.lock import state_lock
with state_lock(Path(sys.argv[1]), "a step process", wait=False):
    print("ok")
"""


def test_the_holder_and_its_child_processes_do_not_wait_for_themselves(tmp_path):
    state = tmp_path / "state"
    assert HELD_ENV not in os.environ
    with state_lock(state, "prism-pipeline run"):
        with state_lock(state, "a full_release run", run_id="abc"):  # the run's resources, same process
            assert holder(state)["run_id"] == "abc"
        child = subprocess.run([sys.executable, "-c", CHILD, str(state)], capture_output=True, text=True)
        assert child.stdout == "ok\n", child.stderr
    assert HELD_ENV not in os.environ
    with state_lock(state, "prism-pipeline run", wait=False):  # released
        pass
    other = subprocess.run([sys.executable, "-c", CHILD, str(state)], capture_output=True, text=True)
    assert other.stdout == "ok\n", other.stderr


def test_instance_lock_is_a_no_op_without_a_home(tmp_path):
    with lock.instance_lock(None), lock.instance_lock(str(tmp_path / "missing")):
        pass
    with lock.instance_lock(str(tmp_path)):
        assert (Path(tmp_path) / ".prism-pipeline-open.lock").exists()
