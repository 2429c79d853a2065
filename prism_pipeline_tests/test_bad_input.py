"""Bad input is rejected with file, line, field and value, and the previous release survives.

Each case: a good run writes a release; one line of the raw input is broken; the second run
fails with the exact message; every release file is byte-identical to before.
"""

import json

import pytest

from prism_pipeline_tests.pipeline import failure_messages, make_defs, run_job, tiny_raw_dir


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def _rewrite(path, line_no, edit):
    lines = _lines(path)
    lines[line_no - 1] = edit(lines[line_no - 1])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _set(field, value, nested=None):
    def edit(text):
        obj = json.loads(text)
        target = obj[nested] if nested else obj
        if value is _DELETE:
            del target[field]
        else:
            target[field] = value
        return json.dumps(obj)
    return edit


_DELETE = object()


def _history_score(item, score):
    def edit(text):
        obj = json.loads(text)
        obj["conversation_history"][item]["score"] = score
        return json.dumps(obj)
    return edit


CASES = {
    "malformed_json": ("survey.jsonl", 3, lambda t: t[:-5],
                       "survey.jsonl line 3: malformed JSON: Expecting value at column "),
    "missing_field": ("conversations.jsonl", 2, _set("open_feedback", _DELETE),
                      "conversations.jsonl line 2, field 'open_feedback': required field is missing"),
    "missing_nested_key": ("survey.jsonl", 2, _set("special_region", _DELETE, nested="location"),
                           "survey.jsonl line 2, field 'location.special_region': required field is missing"),
    "wrong_type": ("survey.jsonl", 4, _set("num_completed_conversations", "4"),
                   "survey.jsonl line 4, field 'num_completed_conversations': expected int, got str (value '4')"),
    "bool_for_int": ("conversations.jsonl", 5, _set("conversation_turns", True),
                     "conversations.jsonl line 5, field 'conversation_turns': expected int, got bool (value True)"),
    "out_of_range_score": ("conversations.jsonl", 1, _history_score(1, 101),
                           "conversations.jsonl line 1, field 'conversation_history[1].score': fails "
                           "less_than_or_equal_to(100) (value 101)"),
    "out_of_range_slider": ("survey.jsonl", 5, _set("values", -1, nested="stated_prefs"),
                            "survey.jsonl line 5, field 'stated_prefs.values': fails "
                            "greater_than_or_equal_to(0) (value -1)"),
    "unknown_category": ("survey.jsonl", 2, _set("age", "Over 9000"),
                         "survey.jsonl line 2, field 'age': fails isin("),
    "duplicate_id": ("conversations.jsonl", 4, _set("conversation_id", "c0"),
                     "conversations.jsonl line 4, field 'conversation_id': fails field_uniqueness"),
    "user_not_in_survey": ("conversations.jsonl", 3, _set("user_id", "user99"),
                           "conversations.jsonl line 3, field 'user_id': user is not in survey.jsonl"),
}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    base = tmp_path_factory.mktemp("good")
    raw = tiny_raw_dir(base / "raw")
    return base, raw


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_with_location_and_keeps_previous_release(case, tmp_path):
    file, line, edit, expected = CASES[case]
    raw = tiny_raw_dir(tmp_path / "raw")
    out, state = tmp_path / "release", tmp_path / "state"
    defs = make_defs(raw, out, state)
    assert run_job(defs).success
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["README.md", "conversations.jsonl", "metadata.jsonl", "survey.jsonl", "utterances.jsonl"]

    _rewrite(raw / file, line, edit)
    result = run_job(defs)

    assert not result.success
    messages = failure_messages(result)
    assert any(expected in m for m in messages), messages
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temp files left either


@pytest.mark.slow
def test_free_text_and_ids_are_never_echoed(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    secret = "my phone is 07700 900123"
    _rewrite(raw / "survey.jsonl", 2, _set("self_description", {"text": secret}))
    _rewrite(raw / "conversations.jsonl", 1, _set("open_feedback", None))
    result = run_job(make_defs(raw, tmp_path / "out", tmp_path / "state"))
    assert sorted(failure_messages(result)) == [
        "conversations.jsonl line 1, field 'open_feedback': missing value (null) where the codebook requires one",
        "survey.jsonl line 2, field 'self_description': expected str, got dict",
    ]


@pytest.mark.slow
def test_duplicate_user_id_names_lines_not_the_id(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    _rewrite(raw / "survey.jsonl", 6, _set("user_id", "user1"))
    result = run_job(make_defs(raw, tmp_path / "out", tmp_path / "state"))
    messages = failure_messages(result)
    assert messages[0] == ("survey.jsonl line 2, field 'user_id': fails field_uniqueness\n"
                           "survey.jsonl line 6, field 'user_id': fails field_uniqueness")
    assert "user1" not in messages[0]


@pytest.mark.slow
def test_turn_zero_with_one_response_is_a_warning_with_its_line(tmp_path):
    # Real PRISM has four such conversations (integrity.responses_per_turn): warn, do not block.
    raw = tiny_raw_dir(tmp_path / "raw")

    def drop_answer(text):
        obj = json.loads(text)
        del obj["conversation_history"][1]
        return json.dumps(obj)

    _rewrite(raw / "conversations.jsonl", 1, drop_answer)
    result = run_job(make_defs(raw, tmp_path / "out", tmp_path / "state"))
    assert result.success
    warned = [e.asset_check_evaluation_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed]
    assert [(c.check_name, c.severity.value, c.description) for c in warned] == [
        ("responses_per_turn", "WARN", "conversations.jsonl line 1, field 'conversation_history': turn 0 needs "
                                       "2-4 model responses and later turns exactly 2")]
