"""A published metadata.jsonl in the raw dir: its moderation results are reused (SPEC §7.3)."""

import json
import shutil

import pytest

from prism_pipeline_tests.pipeline import make_defs, run_job, tiny_raw_dir

pytestmark = pytest.mark.slow  # runs the whole graph itself (conftest.py, the two tiers)


def test_published_moderation_covering_every_text_is_reused(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    assert run_job(make_defs(raw, tmp_path / "first", tmp_path / "state1")).success
    # Publish the first release's metadata with one recognisable change: a flagged harassment score.
    rows = [json.loads(x) for x in (tmp_path / "first" / "metadata.jsonl").read_text().splitlines()]
    rows[0]["moderation_flag"]["flagged"] = True
    rows[0]["moderation_flag"]["categories"]["harassment"] = True
    rows[0]["moderation_flag"]["category_scores"]["harassment"] = 0.97
    (raw / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    shutil.copy(raw / "metadata.jsonl", tmp_path / "published.jsonl")

    out = tmp_path / "second"
    result = run_job(make_defs(raw, out, tmp_path / "state2"))
    assert result.success
    released = (out / "metadata.jsonl").read_text()
    assert released == (tmp_path / "published.jsonl").read_text()
    [flags] = list(result.asset_materializations_for_node("text_flags"))
    assert flags.metadata["moderation_sources"].value == {"frozen": len(rows)}
