"""The documented command lines, run as a user would (subprocesses, real Dagster CLI)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from prism_pipeline_tests.pipeline import tiny_raw_dir

pytestmark = pytest.mark.slow  # runs the whole graph itself (conftest.py, the two tiers)

BIN = Path(sys.executable).parent


def _env(tmp_path, **extra):
    env = dict(os.environ)
    env.update({"DAGSTER_HOME": str(tmp_path / "home"), **extra})
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def test_dagster_asset_materialize_on_another_dataset(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    env = _env(tmp_path, PRISM_RAW_DIR=str(raw), PRISM_OUTPUT_DIR=str(tmp_path / "other"),
               PRISM_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.run([str(BIN / "dagster"), "asset", "materialize", "-m", "prism_pipeline.prism.definitions",
                           "--select", "*"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == [
        "README.md", "conversations.jsonl", "metadata.jsonl", "survey.jsonl", "utterances.jsonl"]
    assert (tmp_path / "state" / "assets" / "utterances").exists()


def test_prism_pipeline_run_reports_failure_and_location(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    (raw / "survey.jsonl").write_text((raw / "survey.jsonl").read_text().replace('"age": "25-34 years old"',
                                                                                 '"age": "Over 9000"', 1))
    env = _env(tmp_path)
    proc = subprocess.run([str(BIN / "prism-pipeline"), "run", "--raw", str(raw), "--out", str(tmp_path / "out"),
                           "--state", str(tmp_path / "state")], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "[ERROR] check survey_input:survey_schema failed" in proc.stdout
    assert "survey.jsonl line 1, field 'age': fails isin(" in proc.stdout
    assert "the previous release in" in proc.stdout and not (tmp_path / "out").exists()
