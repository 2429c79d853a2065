"""Faults and overlaps as a user meets them: real ``prism-pipeline`` processes on one set of
folders, killed with SIGKILL at exact moments (``faults/sitecustomize.py``), or started while
another run holds the state folder (``core/lock.py``). After each, the next run gives the exact
release (or, after a removal, the release without the participant and zero residue), every
SQLite file passes ``integrity_check`` and no process printed a traceback.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from prism_pipeline.core.locations import REPO_ROOT
from prism_pipeline.core.release.audit import REPORT_NAME
from prism_pipeline.core.removal.event_log import event_log_matches
from prism_pipeline.core.removal.ledger import LEDGER_FILENAME, read_ledger
from prism_pipeline.core.removal.requests import (
    REQUESTS_FILENAME,
    SALT_FILENAME,
    load_or_create_salt,
    load_requests,
)
from prism_pipeline.core.removal.scan import scan_paths
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline_tests.pipeline import tiny_raw_dir

pytestmark = pytest.mark.slow  # real processes, each a whole run

BIN = Path(sys.executable).parent
FAULTS = Path(__file__).resolve().parent / "faults"  # the sitecustomize that injects the faults
REMOVED = "user1"
# Every site's installation salt: then its requests file, a source of the release (the dataset
# card names its version), is the same bytes in every site.
SALT = b"5a" * 32 + b"\n"


class Site:
    """One installation: raw files, release, state and a Dagster home (the repository's
    dagster.yaml), driven through the command line."""

    def __init__(self, root: Path, raw: Path | None = None):
        self.root = root
        self.raw, self.out, self.state, self.home = root / "raw", root / "release", root / "state", root / "home"
        if raw is not None:
            shutil.copytree(raw, self.raw)
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", self.home / "dagster.yaml")
        self.outputs: list[str] = []

    def copy(self, root: Path) -> Site:
        for name in ("raw", "release", "state", "home"):
            if (self.root / name).exists():
                shutil.copytree(self.root / name, root / name)
        return Site(root)

    def env(self, fault: str | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PRISM_", "DAGSTER_"))}
        env["DAGSTER_HOME"] = str(self.home)
        if fault:
            env["PRISM_TEST_FAULT"] = fault
            env["PYTHONPATH"] = os.pathsep.join([str(FAULTS), env.get("PYTHONPATH", "")])
        return env

    def args(self, *args: str) -> list[str]:
        folders = ["--raw", str(self.raw), "--out", str(self.out), "--state", str(self.state)]
        command, rest = args[0], list(args[1:])
        options = {"run": folders, "remove": folders[:2] + folders[4:]}[command]
        return [str(BIN / "prism-pipeline"), command, *rest, *options]

    def cli(self, *args: str, fault: str | None = None, code: int | None = 0) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.args(*args), env=self.env(fault), capture_output=True, text=True, timeout=600)
        self.outputs.append(proc.stdout + proc.stderr)
        if code is not None:
            assert proc.returncode == code, (proc.stdout + proc.stderr)[-4000:]
        return proc

    def remove(self, user_id: str) -> None:
        self.state.mkdir(exist_ok=True)
        if not (self.state / SALT_FILENAME).exists():
            (self.state / SALT_FILENAME).write_bytes(SALT)
            (self.state / SALT_FILENAME).chmod(0o600)
        self.cli("remove", user_id)

    def start(self, *args: str, fault: str | None = None) -> subprocess.Popen:
        return subprocess.Popen(self.args(*args), env=self.env(fault), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def finish(self, proc: subprocess.Popen) -> tuple[int, str]:
        output, _ = proc.communicate(timeout=600)
        self.outputs.append(output)
        return proc.returncode, output

    def release(self) -> dict[str, bytes]:
        """Every file in the release folder (temporary ones included) but the audit report,
        which names run ids and times by design."""
        return {p.name: p.read_bytes() for p in sorted(self.out.iterdir()) if p.name != REPORT_NAME}

    def assert_clean(self) -> None:
        """Every SQLite file intact, no traceback printed by any command."""
        databases = [p for folder in (self.state, self.home) for p in folder.rglob("*")
                     if p.suffix in (".db", ".sqlite") and p.is_file()]
        assert databases
        for path in databases:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", path
        for output in self.outputs:
            assert "Traceback" not in output, output[-4000:]

    def assert_no_residue(self) -> None:
        """Nothing of the removed participant in the release, the state or the run history."""
        requests = load_requests(self.state / REQUESTS_FILENAME)
        footprint = DATASET.function(DATASET.raw_footprint)(self.raw, requests, load_or_create_salt(self.state))
        assert footprint.ids
        assert scan_paths([self.out, self.state], footprint.ids, footprint.removed_only_hashes) == {}
        instance = dg.DagsterInstance.from_config(str(self.home))
        try:
            assert event_log_matches(instance, footprint.ids, footprint.removed_only_hashes) == 0
        finally:
            instance.dispose()
        assert [e["request_id"] for e in read_ledger(self.state / LEDGER_FILENAME)] == ["rr-0001"]


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the process ended (code {proc.returncode}) before {path.name}"
        assert time.monotonic() < deadline, f"no {path.name} after {timeout}s"
        time.sleep(0.05)


def _read_until(proc: subprocess.Popen, text: str, timeout: float = 300) -> str:
    """Lines of ``proc`` (stdout and stderr) up to the one containing ``text``."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"ended without {text!r}: {''.join(seen)[-3000:]}")
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"no {text!r} after {timeout}s")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> tuple[Site, dict[str, bytes]]:
    """The tiny sample released by a clean run: the exact release every fault must end with."""
    root = tmp_path_factory.mktemp("baseline")
    site = Site(root, tiny_raw_dir(root / "tiny"))
    site.cli("run")
    return site, site.release()


@pytest.fixture(scope="module")
def removed(baseline, tmp_path_factory) -> dict[str, bytes]:
    """The baseline after a clean removal of user1: the exact release every removal must end with."""
    site = baseline[0].copy(tmp_path_factory.mktemp("removed"))
    site.remove(REMOVED)
    site.cli("run", "--job", "removal_rerun")
    site.assert_no_residue()
    return site.release()


def test_killed_while_flagging_another_run_refuses_or_takes_over_and_writes_the_exact_release(baseline, tmp_path):
    site = Site(tmp_path, baseline[0].raw)
    barrier = tmp_path / "flagging"
    first = site.start("run", fault=f"pause:prism_pipeline.core.flags.cache:FlagCache.put_many_json:2:{barrier}")
    _wait_for(Path(f"{barrier}.reached"), first)  # one detector's results are in the cache
    refused = site.cli("run", "--no-wait", code=3)
    pid = Path(f"{barrier}.reached").read_text()
    assert refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert line.startswith(f"prism-pipeline: the state folder {site.state.resolve()} is in use by run ")
    assert f"(pid {pid}, prism-pipeline run --job full_release, started " in line
    assert line.endswith("wait for it to finish, or run again without --no-wait to wait")
    os.kill(first.pid, signal.SIGKILL)
    assert site.finish(first)[0] == -signal.SIGKILL
    second = site.cli("run")
    assert "took over the state folder's lock from run " in second.stdout
    assert f"(pid {pid}, prism-pipeline run --job full_release" in second.stdout
    assert site.release() == baseline[1]
    site.assert_clean()


@pytest.mark.parametrize("moment", [
    "prism_pipeline.prism.conversation_tables.registry:_insert:1",  # assigning ids
    "prism_pipeline.core.release.writer:stage:2",  # one release file staged
    "prism_pipeline.core.release.card:dataset_card:1",  # every file staged, the card next
    "prism_pipeline.core.release.writer:commit:1",  # everything staged, nothing renamed
])
def test_a_run_killed_while_writing_is_completed_exactly_by_the_next(baseline, tmp_path, moment):
    site = Site(tmp_path, baseline[0].raw)
    killed = site.cli("run", fault=f"kill:{moment}", code=-signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert not site.out.exists() or sorted(p.name for p in site.out.iterdir() if not p.name.startswith(".")) == []
    site.cli("run")
    assert site.release() == baseline[1]  # and no temporary file left beside it
    site.assert_clean()


@pytest.mark.parametrize("moment", [
    "prism_pipeline.core.state_store:drop_rows:1",  # the first stored table
    "prism_pipeline.core.state_store:drop_rows:6",  # halfway through the stored tables
    "prism_pipeline.core.removal.footprint:purge_flag_cache:1",
    "prism_pipeline.prism.inputs.footprint:forget_registry_ids:1",  # the id registry
    "prism_pipeline.core.removal.footprint:purge_reviews:1",
    "prism_pipeline.core.release.writer:commit:1",  # the release without them staged
    "prism_pipeline.core.removal.ledger:append_entries:1",  # release written, ledger next
])
def test_a_removal_killed_anywhere_ends_clean_when_run_again(baseline, removed, tmp_path, moment):
    site = baseline[0].copy(tmp_path)
    site.remove(REMOVED)
    site.cli("run", "--job", "removal_rerun", fault=f"kill:{moment}", code=-signal.SIGKILL)
    site.cli("run", "--job", "removal_rerun")
    assert site.release() == removed
    site.assert_no_residue()
    site.assert_clean()


def test_two_runs_started_at_once_on_a_new_instance_wait_for_each_other(baseline, tmp_path):
    site = Site(tmp_path, baseline[0].raw)
    shutil.rmtree(site.home)  # a new DAGSTER_HOME, created by the runs themselves
    runs = [site.start("run"), site.start("run")]
    results = [site.finish(run) for run in runs]
    assert [code for code, _ in results] == [0, 0], results
    # The one that waited names the other: its run id once it has one, its pid and start time.
    assert sum("prism-pipeline: waiting for " in output for _, output in results) == 1
    assert site.release() == baseline[1]
    site.assert_clean()


def test_a_removal_requested_during_a_run_is_applied_after_it_and_never_published_before(
        baseline, removed, tmp_path):
    site = Site(tmp_path, baseline[0].raw)
    barrier = tmp_path / "flagging"
    full = site.start("run", fault=f"pause:prism_pipeline.core.flags.cache:FlagCache.put_many_json:1:{barrier}")
    _wait_for(Path(f"{barrier}.reached"), full)  # the inputs are read, the flagging has begun
    site.remove(REMOVED)
    removal = site.start("run", "--job", "removal_rerun")
    _read_until(removal, "prism-pipeline: waiting for run ")
    Path(f"{barrier}.go").touch()
    code, output = site.finish(full)
    assert code == 1
    assert ("[ERROR] step release_files failed: dagster._core.definitions.events.Failure: removal request rr-0001 "
            "arrived during this run for participants of this release, so it was not published (the previous "
            "release is unchanged): apply it with `prism-pipeline run --job removal_rerun`") in output
    assert not site.out.exists() or not list(site.out.glob("*.jsonl"))
    assert site.finish(removal)[0] == 0
    assert site.release() == removed
    site.assert_no_residue()
    site.assert_clean()


def test_unsynced_restores_a_deleted_release_file_and_a_deleted_state_folder(baseline, tmp_path):
    site = baseline[0].copy(tmp_path)
    (site.out / "metadata.jsonl").unlink()
    restored = site.cli("run", "--unsynced")
    assert "metadata_release is out of sync: metadata.jsonl is missing from the release folder" in restored.stdout
    assert site.release() == baseline[1]
    (site.out / "survey.jsonl").write_bytes(b"{}\n")
    assert "survey.jsonl is not the file this pipeline wrote" in site.cli("run", "--unsynced").stdout
    assert site.release() == baseline[1]
    assert "nothing is unsynced" in site.cli("run", "--unsynced").stdout
    shutil.rmtree(site.state)
    restored = site.cli("run", "--unsynced")
    assert "its stored table assets/text_flags is missing from the state folder" in restored.stdout
    assert site.release() == baseline[1]
    assert "nothing is unsynced" in site.cli("run", "--unsynced").stdout
    site.remove(REMOVED)  # the restored state carries a removal run
    site.cli("run", "--job", "removal_rerun")
    site.assert_no_residue()
    site.assert_clean()


def test_a_removal_run_with_a_stored_table_missing_says_what_to_run_first(baseline, tmp_path):
    site = baseline[0].copy(tmp_path)
    (site.state / "assets" / "metadata_table").unlink()  # a plain pickle at this size
    site.remove(REMOVED)
    refused = site.cli("run", "--job", "removal_rerun", code=2)
    assert refused.stderr.splitlines() == [
        f"prism-pipeline: cannot apply removal requests: 1 stored tables are missing from {site.state.resolve()} "
        "(metadata_table): a full run failed or was stopped before writing them, or they were deleted; run "
        "`prism-pipeline run --unsynced` first, which restores them and applies every removal request"]
    site.cli("run", "--unsynced")
    site.assert_no_residue()
    site.assert_clean()
