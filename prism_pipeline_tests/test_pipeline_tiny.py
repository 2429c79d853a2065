"""The whole graph on a hand-made six-participant dataset: exact counts and files."""

import json

import pytest

from prism_pipeline.prism import codebook as cb
from prism_pipeline_tests.pipeline import make_defs, run_job, tiny_raw_dir


def test_full_release_on_tiny_dataset(tiny_release):
    out, result = tiny_release.out, tiny_release.result
    checks = [e.asset_check_evaluation_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]

    survey = [json.loads(x) for x in (out / "survey.jsonl").read_text().splitlines()]
    conversations = [json.loads(x) for x in (out / "conversations.jsonl").read_text().splitlines()]
    utterances = [json.loads(x) for x in (out / "utterances.jsonl").read_text().splitlines()]
    assert [list(r) for r in survey[:1]] == [list(cb.SURVEY_COLUMNS)]
    assert list(conversations[0]) == list(cb.CONVERSATION_COLUMNS)
    assert list(utterances[0]) == list(cb.UTTERANCE_COLUMNS)
    assert len(survey) == 6 and len(conversations) == 17
    # user0-3 have all three types (m = 1: one per type), user4 lacks two types, user5 has none.
    assert [r["included_in_balanced_subset"] for r in survey] == [True, True, True, True, False, False]
    assert sum(r["included_in_balanced_subset"] for r in conversations) == 12
    # user items keep three keys, model items eight (SPEC §1.4).
    hist = conversations[0]["conversation_history"]
    assert list(hist[0]) == list(cb.HISTORY_USER_KEYS) and list(hist[1]) == list(cb.HISTORY_MODEL_KEYS)
    assert conversations[0]["choice_attributes"]["safety"] is None
    assert "NaN" not in (out / "conversations.jsonl").read_text()

    metadata = [json.loads(x) for x in (out / "metadata.jsonl").read_text().splitlines()]
    interactions = len({u["interaction_id"] for u in utterances})
    assert len(metadata) == 6 + 6 + 17 + interactions + len(utterances)
    assert [m["column_id"] for m in metadata[:13]] == ["system_string"] * 6 + ["self_description"] * 6 + [
        "open_feedback"]
    first_prompt = next(m for m in metadata if m["column_id"] == "user_prompt")
    assert first_prompt == {
        "column_id": "user_prompt", "user_id": "user0", "conversation_id": "c0", "interaction_id": "int0",
        "utterance_id": None, "pii_flag": False, "pii_manual_flag": None, "language_flag": "en", "en_flag": True,
        "moderation_flag": first_prompt["moderation_flag"]}
    assert list(first_prompt["moderation_flag"]) == ["flagged", "categories", "category_scores"]
    assert list(first_prompt["moderation_flag"]["categories"]) == list(cb.MODERATION_CATEGORIES)


@pytest.mark.slow
def test_release_is_byte_identical_across_runs(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    defs = make_defs(raw, tmp_path / "a", tmp_path / "state_a")
    assert run_job(defs).success
    assert run_job(make_defs(raw, tmp_path / "b", tmp_path / "state_b")).success
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["README.md", "conversations.jsonl", "metadata.jsonl", "survey.jsonl", "utterances.jsonl"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.slow
def test_published_flags_are_recomputed_and_differences_reported(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    # Publish flags: user1's balanced flag and user5's UK flag are wrong; US flags all right.
    survey = [json.loads(x) for x in (raw / "survey.jsonl").read_text().splitlines()]
    for i, rec in enumerate(survey):
        rec["included_in_US_REP"] = False
        rec["included_in_UK_REP"] = i < 4 or i == 5
        rec["included_in_balanced_subset"] = i < 4 and i != 1
    (raw / "survey.jsonl").write_text("".join(json.dumps(r) + "\n" for r in survey))
    out = tmp_path / "release"
    result = run_job(make_defs(raw, out, tmp_path / "state"))
    assert result.success
    check = next(e.asset_check_evaluation_data for e in result.all_events
                 if e.event_type_value == "ASSET_CHECK_EVALUATION"
                 and e.asset_check_evaluation_data.check_name == "published_survey_flags_match")
    assert not check.passed and check.severity.value == "WARN"
    assert check.description == "2 published flag values differ from the recomputation"
    meta = {k: v.value for k, v in check.metadata.items()}
    assert meta["included_in_balanced_subset"] == {
        "compared": 6, "published_true_recomputed_false": 0, "published_false_recomputed_true": 1}
    assert meta["included_in_UK_REP"] == {
        "compared": 6, "published_true_recomputed_false": 1, "published_false_recomputed_true": 0}
    released = [json.loads(x) for x in (out / "survey.jsonl").read_text().splitlines()]
    # The release carries the recomputed flags: the four balanced uk participants fill their
    # (large) census cells, user4 lacks conversation types and user5 is survey-only.
    assert [r["included_in_UK_REP"] for r in released] == [True, True, True, True, False, False]
    assert [r["included_in_balanced_subset"] for r in released] == [True, True, True, True, False, False]
