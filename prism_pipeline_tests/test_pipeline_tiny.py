"""The whole graph on a hand-made six-participant dataset: exact counts and files."""

import json

from prism_pipeline import codebook as cb
from prism_pipeline_tests.pipeline import make_defs, run_job, tiny_raw_dir


def test_full_release_on_tiny_dataset(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    out, state = tmp_path / "release", tmp_path / "state"
    result = run_job(make_defs(raw, out, state))
    assert result.success
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


def test_release_is_byte_identical_across_runs(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    defs = make_defs(raw, tmp_path / "a", tmp_path / "state_a")
    assert run_job(defs).success
    assert run_job(make_defs(raw, tmp_path / "b", tmp_path / "state_b")).success
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["conversations.jsonl", "metadata.jsonl", "survey.jsonl", "utterances.jsonl"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
