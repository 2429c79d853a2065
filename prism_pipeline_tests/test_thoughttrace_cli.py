"""The documented commands with ``--dataset thoughttrace``, run as a user would (subprocesses):
generate, run, run --unsynced, remove, run --job removal_rerun, review-pii, audit, and a bad
record that fails the run on its line and field with the previous release kept."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the whole graph itself (conftest.py, the two tiers)

BIN = Path(sys.executable).parent
CLI = str(BIN / "prism-pipeline")


def _run(*args, env, check=True):
    proc = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture
def env(tmp_path):
    (tmp_path / "home").mkdir()
    reference = tmp_path / "reference"  # a copy: review-pii import writes the review table
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "thoughttrace" / "reference", reference)
    return {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "THOUGHTTRACE_REFERENCE_DIR": str(reference)}


def test_generate_run_unsynced_remove_and_rerun(tmp_path, env):
    raw, out, state = tmp_path / "raw", tmp_path / "out", tmp_path / "state"
    proc = _run("generate", "--dataset", "thoughttrace", "--out", str(raw), "--scale", "0.01", env=env)
    assert "11 users, 22 conversations, 171 turns" in proc.stdout
    dirs = ["--raw", str(raw), "--out", str(out), "--state", str(state)]
    proc = _run("run", "--dataset", "thoughttrace", *dirs, "--log-level", "WARNING", env=env)
    assert "succeeded in" in proc.stdout and f"release written to {out.resolve()}" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "ThoughtTrace.jsonl", "audit_report.md",
                                                     "messages.jsonl", "metadata.jsonl", "stats.json",
                                                     "thoughts.jsonl", "users.jsonl"]
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["users"], stats["conversations"], stats["turns"]) == (11, 22, 171)

    proc = _run("run", "--dataset", "thoughttrace", *dirs, "--unsynced", env=env)
    assert proc.stdout.startswith("nothing is unsynced")

    # One edited message: rerun what it affects, and the edit is published.
    path = raw / "ThoughtTrace.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["messages"][0]["content"] += " (edited)"
    lines[0] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = _run("run", "--dataset", "thoughttrace", *dirs, "--unsynced", "--log-level", "WARNING", env=env)
    assert "1 sources changed; rerunning" in proc.stdout and "thoughttrace/messages" in proc.stdout
    assert "(edited)" in (out / "messages.jsonl").read_text(encoding="utf-8")

    user = json.loads((out / "users.jsonl").read_text().splitlines()[1])["user_id"]
    proc = _run("remove", "--dataset", "thoughttrace", user, "--raw", str(raw), "--state", str(state), env=env)
    assert "recorded removal request rr-0001" in proc.stdout
    assert "`prism-pipeline run --dataset thoughttrace --job removal_rerun`" in proc.stdout
    assert _run("remove", "--dataset", "thoughttrace", "user99999", "--raw", str(raw), "--state", str(state),
                env=env, check=False).returncode == 2
    proc = _run("run", "--dataset", "thoughttrace", *dirs, "--job", "removal_rerun", "--log-level", "WARNING", env=env)
    assert "succeeded in" in proc.stdout
    released = (out / "ThoughtTrace.jsonl").read_text() + (out / "metadata.jsonl").read_text()
    assert f'"{user}_task' not in released and f'"user_id": "{user}"' not in released
    assert json.loads((out / "stats.json").read_text())["users"] == 10

    proc = _run("review-pii", "--dataset", "thoughttrace", "export", "--state", str(state), env=env)
    assert "pending PII flags" in proc.stdout
    assert "`prism-pipeline review-pii --dataset thoughttrace import`" in proc.stdout
    sheet = state / "pii_review_sheet.csv"
    with sheet.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0])[:2] == ["text_kind", "text_sha256"]
    for row in rows:  # the reviewer's verdicts: every hit a false alarm
        row.update(verdict="false", reviewer="annotator-1")
    with sheet.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    proc = _run("review-pii", "--dataset", "thoughttrace", "import", "--state", str(state), env=env)
    assert f"imported {len(rows)} verdicts" in proc.stdout
    assert "`prism-pipeline run --dataset thoughttrace` applies them" in proc.stdout
    _run("run", "--dataset", "thoughttrace", *dirs, "--unsynced", "--log-level", "WARNING", env=env)
    metadata = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    reviewed = [m for m in metadata if m["pii_manual_flag"] is not None]
    assert reviewed and all(m["pii_flag"] and m["pii_manual_flag"] is False for m in reviewed)
    assert len({(m["text_kind"]) for m in reviewed}) >= 1
    proc = _run("audit", "--dataset", "thoughttrace", "--out", str(out), "--state", str(state), env=env)
    assert "# ThoughtTrace release audit report" in (out / "audit_report.md").read_text()


def test_a_bad_record_fails_the_run_on_its_line_and_keeps_the_release(tmp_path, env):
    raw, out, state = tmp_path / "raw", tmp_path / "out", tmp_path / "state"
    _run("generate", "--dataset", "thoughttrace", "--out", str(raw), "--scale", "0.005", env=env)
    dirs = ["--raw", str(raw), "--out", str(out), "--state", str(state)]
    _run("run", "--dataset", "thoughttrace", *dirs, "--log-level", "WARNING", env=env)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "audit_report.md"}
    path = raw / "ThoughtTrace.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[2])
    record["messages"][3]["type"] = "user"
    lines[2] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = _run("run", "--dataset", "thoughttrace", *dirs, "--log-level", "WARNING", env=env, check=False)
    assert proc.returncode == 1
    assert "[ERROR] check thoughttrace/messages:messages_schema failed" in proc.stdout
    assert "ThoughtTrace.jsonl line 3, fields 'messages[3].type': fails row rule alternates_from_user " \
           "(values type='user')" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "the previous release in" in proc.stdout
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "audit_report.md"} == before


def test_dagster_materializes_the_code_location_from_its_variables(tmp_path, env):
    from prism_pipeline_tests.thoughttrace_records import tiny_raw_dir

    raw = tiny_raw_dir(tmp_path / "raw")
    env = {**env, "THOUGHTTRACE_RAW_DIR": str(raw), "THOUGHTTRACE_OUTPUT_DIR": str(tmp_path / "other"),
           "THOUGHTTRACE_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.run([str(BIN / "dagster"), "asset", "materialize", "-m",
                           "prism_pipeline.thoughttrace.definitions", "--select", "*"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "other" / "stats.json").exists() and (tmp_path / "state" / "assets" / "messages").exists()
