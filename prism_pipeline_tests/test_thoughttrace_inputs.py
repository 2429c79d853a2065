"""ThoughtTrace's reader and rules without Dagster: the four frames of ThoughtTrace.jsonl, the
reader's located errors, and each rule of the Pandera models as the schema checks report it
(file, line, field, and the value unless it is free text or an id)."""

import json

import pandas as pd
import pytest

from prism_pipeline.core.jsonl import InputError
from prism_pipeline.thoughttrace.inputs import assets
from prism_pipeline.thoughttrace.inputs.normalise import normalise_messages
from prism_pipeline.thoughttrace.inputs.parse import read_thoughttrace
from prism_pipeline_tests.thoughttrace_records import EMAIL, small_file, tiny_records, write_jsonl

FILE = "ThoughtTrace.jsonl"


def _read(tmp_path, records):
    return read_thoughttrace(write_jsonl(tmp_path / FILE, records))


def _failures(tmp_path, records) -> list[str]:
    """Every failed schema check's description, as the run reports them (texts normalised first)."""
    tables = _read(tmp_path, records)
    frames = {"conversations": tables.conversations, "survey_answers": tables.survey_answers,
              "messages": normalise_messages(tables.messages)[0], "thoughts": tables.thoughts}
    results = [check.result(frames[check.asset]) for check in assets.CHECKS]
    return [r.description for r in results if not r.passed]


def test_the_four_frames_of_a_file(tmp_path):
    tables = _read(tmp_path, small_file())
    conversations, survey, messages, thoughts = (tables.conversations, tables.survey_answers, tables.messages,
                                                 tables.thoughts)
    assert conversations.index.tolist() == [1, 2, 3, 4, 5]
    assert conversations["conversation_id"].tolist() == [
        "user12_task1_conversation1", "user12_task2_conversation1", "user7_task1_conversation1",
        "user7_task1_conversation2", "user30_task1_conversation1"]
    assert conversations["user_id"].tolist() == ["user12", "user12", "user7", "user7", "user30"]
    assert survey.index.tolist() == [1, 2, 3, 5]  # line 4 has no survey answers
    assert list(survey.columns) == ["conversation_id", "user_id", "age", "gender", "education", "occupation",
                                    "frequency", "purposes"]
    assert len(messages) == 4 + 6 + 2 + 4 + 3
    assert messages.index.names == ["line", "message", "list"]
    assert messages.index[:2].tolist() == [(1, 0, "reasons"), (1, 1, "reactions")]
    assert list(messages.columns) == ["conversation_id", "user_id", "message_index", "message_id", "type", "timestamp",
                                      "content"]
    assert messages["message_id"].dtype == "int64" and messages.iloc[1]["message_id"] == 1775124060000
    assert thoughts.index.names == ["line", "message", "list", "thought"]
    assert thoughts["kind"].tolist() == ["reason", "reaction"] * 5
    assert _failures(tmp_path, small_file()) == []


def _set(records, path, value):
    target = records
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return records


def _rename_list(records, line, message, new):
    """Give message ``message`` of ``line`` (1-based) the other thought list's key."""
    item = records[line - 1]["messages"][message]
    old = "reasons" if "reasons" in item else "reactions"
    item[new] = item.pop(old)
    return records


# (edit of small_file(), the exact message of the failed check)
RULES = {
    "id_pattern": (lambda r: _set(r, [1, "id"], "user12-task2"),
                   r"ThoughtTrace.jsonl line 2, field 'id': fails str_matches('^user\d+_task\d+_conversation\d+$')"),
    "unique_ids": (lambda r: _set(r, [1, "id"], "user12_task1_conversation1"),
                   "ThoughtTrace.jsonl line 1, field 'id': fails field_uniqueness\n"
                   "ThoughtTrace.jsonl line 2, field 'id': fails field_uniqueness"),
    "alternation": (lambda r: _set(r, [2, "messages", 0, "type"], "assistant"),
                    "ThoughtTrace.jsonl line 3, fields 'messages[0].type': fails row rule alternates_from_user "
                    "(values type='assistant')"),
    "message_type": (lambda r: _set(r, [1, "messages", 3, "type"], "bot"),
                     "ThoughtTrace.jsonl line 2, field 'messages[3].type': fails isin(('user', 'assistant')) "
                     "(value 'bot')"),
    "reasons_only_on_user_messages": (
        lambda r: _rename_list(r, 2, 3, "reasons"),
        "ThoughtTrace.jsonl line 2, fields 'messages[3].type', 'messages[3].reasons': fails row rule "
        "thoughts_follow_type (values type='assistant')"),
    "reactions_only_on_assistant_messages": (
        lambda r: _rename_list(r, 1, 2, "reactions"),
        "ThoughtTrace.jsonl line 1, fields 'messages[2].type', 'messages[2].reactions': fails row rule "
        "thoughts_follow_type (values type='user')"),
    "label_vocabulary": (lambda r: _set(r, [0, "messages", 0, "reasons", 0, "label"], "curiosity"),
                         "ThoughtTrace.jsonl line 1, field 'messages[0].reasons[0].label': fails isin(("),
    "label_of_its_kind": (lambda r: _set(r, [0, "messages", 0, "reasons", 0, "label"], "scope_fit"),
                          "ThoughtTrace.jsonl line 1, fields 'messages[0].reasons[0].label', 'messages[0].reasons': "
                          "fails row rule label_of_its_kind (values label='scope_fit', kind='reason')"),
    "offset_time": (lambda r: _set(r, [0, "created_at"], "2026-04-02T09:59:50.000Z"),
                    "ThoughtTrace.jsonl line 1, field 'created_at': fails str_matches("),
    "z_time": (lambda r: _set(r, [0, "messages", 2, "timestamp"], "2026-04-02T10:02:00+00:00"),
               "ThoughtTrace.jsonl line 1, field 'messages[2].timestamp': fails str_matches("),
    "real_time": (lambda r: _set(r, [0, "messages", 0, "reasons", 0, "timestamp"], "2026-13-02T10:00:20.000Z"),
                  "ThoughtTrace.jsonl line 1, field 'messages[0].reasons[0].timestamp': fails real_time "
                  "(value '2026-13-02T10:00:20.000Z')"),
    "created_before_updated": (lambda r: _set(r, [0, "updated_at"], "2026-04-01T10:30:00.500000+00:00"),
                               "ThoughtTrace.jsonl line 1, fields 'created_at', 'updated_at': fails row rule "
                               "created_before_updated (values created_at='2026-04-02T09:59:50.000000+00:00', "
                               "updated_at='2026-04-01T10:30:00.500000+00:00')"),
    "same_survey_answers": (lambda r: _set(r, [1, "survey_answers", 0, "education"], "Doctorate"),
                            "ThoughtTrace.jsonl line 2, fields 'survey_answers[0].age', 'survey_answers[0].gender', "
                            "'survey_answers[0].education', 'survey_answers[0].occupation', "
                            "'survey_answers[0].frequency', 'survey_answers[0].purposes': fails row rule "
                            "same_answers_per_user (values age='31', gender='Female', education='Doctorate', "
                            "frequency='4')"),
    "frequency": (lambda r: _set(r, [4, "survey_answers", 0, "frequency"], "6"),
                  "ThoughtTrace.jsonl line 5, field 'survey_answers[0].frequency': fails isin(('1', '2', '3', '4', "
                  "'5')) (value '6')"),
    "age_digits": (lambda r: _set(r, [4, "survey_answers", 0, "age"], "31 years"),
                   "ThoughtTrace.jsonl line 5, field 'survey_answers[0].age': fails str_matches('^[0-9]+$') "
                   "(value '31 years')"),
    "model_name": (lambda r: _set(r, [3, "model_name"], ""),
                   "ThoughtTrace.jsonl line 4, field 'model_name': fails str_length(1, None) (value '')"),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_names_line_field_and_value(tmp_path, rule):
    edit, expected = RULES[rule]
    failures = _failures(tmp_path, edit(small_file()))
    assert any(expected in f for f in failures), failures


def test_a_bad_id_is_reported_once_and_never_shown(tmp_path):
    failures = _failures(tmp_path, _set(small_file(), [1, "id"], "user12-task2"))
    assert failures == [r"ThoughtTrace.jsonl line 2, field 'id': fails str_matches("
                        r"'^user\d+_task\d+_conversation\d+$')"]


def test_free_text_is_never_echoed(tmp_path):
    records = _set(small_file(), [0, "messages", 0, "content"], "  ")  # normalised: EMPTY STRING, valid
    records[1]["messages"][0]["content"] = EMAIL
    records[2]["survey_answers"][0]["occupation"] = 7
    with pytest.raises(InputError) as err:
        _read(tmp_path, records)
    assert str(err.value) == "ThoughtTrace.jsonl line 3, field 'survey_answers[0].occupation': expected str, got int"


# (edit, the reader's exact message): what a frame cannot hold is rejected as it is read.
LAYOUT = {
    "unknown_key": (lambda r: _set(r, [0, "extra"], 1),
                    "ThoughtTrace.jsonl line 1, field 'extra': unknown field (not in the published layout)"),
    "missing_key": (lambda r: r[1].pop("task_expectation") and r,
                    "ThoughtTrace.jsonl line 2, field 'task_expectation': required field is missing"),
    "missing_message_key": (lambda r: r[0]["messages"][1].pop("timestamp") and r,
                            "ThoughtTrace.jsonl line 1, field 'messages[1].timestamp': required field is missing"),
    "unknown_thought_key": (lambda r: _set(r, [0, "messages", 0, "reasons", 0, "why"], "x"),
                            "ThoughtTrace.jsonl line 1, field 'messages[0].reasons[0].why': unknown field (not in "
                            "the published layout)"),
    "two_thought_lists": (lambda r: _set(r, [0, "messages", 1, "reasons"], []),
                          "ThoughtTrace.jsonl line 1, field 'messages[1]': needs exactly one thought list: reasons "
                          "(on a user message) or reactions (on an assistant message); it has 2"),
    "no_messages": (lambda r: _set(r, [2, "messages"], []),
                    "ThoughtTrace.jsonl line 3, field 'messages': expected a non-empty list of messages"),
    "messages_not_a_list": (lambda r: _set(r, [2, "messages"], {"0": {}}),
                            "ThoughtTrace.jsonl line 3, field 'messages': expected a list, got dict"),
    "two_survey_answers": (lambda r: r[0]["survey_answers"].append(dict(r[0]["survey_answers"][0])) or r,
                           "ThoughtTrace.jsonl line 1, field 'survey_answers': expected one object or none, got 2"),
    "answer_not_a_string": (lambda r: _set(r, [0, "survey_answers", 0, "age"], 31),
                            "ThoughtTrace.jsonl line 1, field 'survey_answers[0].age': expected str, got int "
                            "(value 31)"),
    "message_id_not_an_int": (lambda r: _set(r, [4, "messages", 2, "id"], "1775124120000"),
                              "ThoughtTrace.jsonl line 5, field 'messages[2].id': expected int, got str "
                              "(value '1775124120000')"),
    "null_thought": (lambda r: _set(r, [0, "messages", 1, "reactions", 0, "content"], None),
                     "ThoughtTrace.jsonl line 1, field 'messages[1].reactions[0].content': missing value (null) "
                     "where the codebook requires one"),
}


@pytest.mark.parametrize("case", sorted(LAYOUT))
def test_the_reader_rejects_what_a_frame_cannot_hold(tmp_path, case):
    edit, expected = LAYOUT[case]
    with pytest.raises(InputError) as err:
        _read(tmp_path, edit(small_file()))
    assert str(err.value) == expected


def test_malformed_json_names_its_line(tmp_path):
    path = write_jsonl(tmp_path / FILE, small_file())
    lines = path.read_text().splitlines()
    lines[3] = lines[3][:-3]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"^ThoughtTrace.jsonl line 4: malformed JSON: "):
        read_thoughttrace(path)


def test_message_texts_are_normalised_as_prisms_and_thoughts_are_not(tmp_path):
    records = tiny_records()
    records[0]["messages"][0]["reasons"][0]["content"] = "  kept as written \n"
    records[0]["messages"][2]["content"] = None
    records[0]["messages"][3]["content"] = " None "
    tables = _read(tmp_path, records)
    messages, counts = normalise_messages(tables.messages)
    assert counts == {"content_changed": 4, "content_emptied": 3}
    first = messages.loc[1]["content"].tolist()
    assert first == ["Question 0 about a cheap weekend in Lisbon.", "## Answer 0\n* Day 1: walk the old town.",
                     "EMPTY STRING", "EMPTY STRING"]
    assert messages.loc[4]["content"].tolist()[3] == "EMPTY STRING"
    assert tables.thoughts.iloc[0]["content"] == "  kept as written \n"
    # strict mode keeps them as read, and content_normalised rejects them by line and field
    strict = assets.MESSAGES_CHECK.result(tables.messages)
    assert not strict.passed
    assert "ThoughtTrace.jsonl line 1, field 'messages[1].content': fails content_normalised" in strict.description
    assert "Answer 0" not in strict.description


def test_the_bundled_sample_is_the_seeded_generator_output_and_passes_every_rule(tmp_path):
    from prism_pipeline.thoughttrace.dataset import DATASET
    from prism_pipeline_synthetic.thoughttrace import generate

    sample = DATASET.default_dirs["raw"] / FILE
    generate(tmp_path, scale=0.03, seed=0)
    assert (tmp_path / FILE).read_bytes() == sample.read_bytes()
    tables = read_thoughttrace(sample)
    assert len(tables.conversations["user_id"].unique()) == 32
    records = [json.loads(line) for line in sample.read_text().splitlines()]
    assert _failures(tmp_path, records) == []
    assert pd.Series([m["type"] for r in records for m in r["messages"]]).eq("user").sum() == 512
