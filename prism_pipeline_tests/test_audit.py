"""The audit report, built from a real run's history."""

import dagster as dg
import pytest

from prism_pipeline.core.hashing import sha256_file
from prism_pipeline.core.release.audit import build_audit_report, write_audit_report
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline_tests.pipeline import make_defs, run_job, tiny_raw_dir

pytestmark = pytest.mark.slow  # runs the whole graph itself (conftest.py, the two tiers)


def test_audit_report_lists_files_runs_versions_and_checks(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    out, state = tmp_path / "release", tmp_path / "state"
    defs = make_defs(raw, out, state)
    instance = dg.DagsterInstance.ephemeral()
    result = run_job(defs, instance=instance)
    assert result.success
    path = write_audit_report(instance, defs.resolve_asset_graph(), out, state, DATASET)
    report = path.read_text()
    rows = len((out / "utterances.jsonl").read_text().splitlines())
    digest = sha256_file(out / "utterances.jsonl")
    assert f"| utterances.jsonl | {rows} | `{digest}` | yes | {result.run_id} |" in report
    version = defs.resolve_asset_graph().get(dg.AssetKey("survey_input")).code_version  # sha256 of its rules
    assert len(version) == 12
    assert f"| survey_input | inputs | {version} | {result.run_id} |" in report
    assert f"| survey_input | survey_schema | passed | - | {result.run_id} |" in report
    assert "No removal request has been applied." in report
    # every raw and reference file with the data version (sha256) this run observed
    assert f"| survey_jsonl | raw_files | `{sha256_file(raw / 'survey.jsonl')}` |" in report
    assert "| utterances_jsonl | raw_files | `absent` |" in report
    assert "user0" not in report and "c0 " not in report

    # A release file changed outside the pipeline is called out.
    (out / "survey.jsonl").write_text("tampered\n")
    assert "| survey.jsonl | 6 | `" in build_audit_report(instance, defs.resolve_asset_graph(), out, state, DATASET)
    assert "| **NO** |" in build_audit_report(instance, defs.resolve_asset_graph(), out, state, DATASET)
