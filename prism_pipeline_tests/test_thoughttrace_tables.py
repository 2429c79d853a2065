"""ThoughtTrace's derived tables without Dagster: users, turns and stats, text instances in
canonical order, the release records in the published layout, and the removal footprint."""

import json

import pandas as pd

from prism_pipeline.core.removal.requests import user_hash
from prism_pipeline.thoughttrace import layout
from prism_pipeline.thoughttrace.inputs.footprint import read_user_ids, removed_footprint
from prism_pipeline.thoughttrace.inputs.normalise import normalise_messages
from prism_pipeline.thoughttrace.inputs.parse import read_thoughttrace
from prism_pipeline.thoughttrace.metadata.text_instances import build_text_instances
from prism_pipeline.thoughttrace.release import build
from prism_pipeline.thoughttrace.tables import derive
from prism_pipeline_tests.thoughttrace_records import SURVEY, small_file, tiny_records, write_jsonl


def _tables(tmp_path, records=None):
    tables = read_thoughttrace(write_jsonl(tmp_path / "ThoughtTrace.jsonl", records or small_file()))
    return tables.conversations, tables.survey_answers, normalise_messages(tables.messages)[0], tables.thoughts


def test_users_in_order_of_first_appearance_with_their_answers(tmp_path):
    conversations, survey, _, _ = _tables(tmp_path)
    users = derive.users_table(conversations, survey)
    assert list(users.columns) == list(layout.USERS_COLUMNS)
    assert users["user_id"].tolist() == ["user12", "user7", "user30"]
    assert users["num_conversations"].tolist() == [2, 2, 1]
    assert users.iloc[1][list(layout.SURVEY_KEYS)].to_dict() == SURVEY  # from the conversation that has them


def test_a_user_without_any_answers_gets_nulls(tmp_path):
    records = small_file()
    records[4]["survey_answers"] = []
    conversations, survey, _, _ = _tables(tmp_path, records)
    users = derive.users_table(conversations, survey)
    assert users.iloc[2][list(layout.SURVEY_KEYS)].isna().all()


def test_a_turn_is_a_user_message_and_its_reply(tmp_path):
    conversations, survey, messages, thoughts = _tables(tmp_path)
    # user30's last user message has no reply: it is still a turn
    assert derive.turns_per_conversation(messages).tolist() == [2, 3, 1, 2, 2]
    stats = derive.stats(conversations, messages, thoughts, derive.users_table(conversations, survey))
    assert list(stats) == list(layout.STATS_KEYS)
    assert {k: v for k, v in stats.items() if k != "thoughts_by_label"} == {
        "users": 3, "conversations": 5, "messages": 19, "turns": 10, "thoughts": 10, "models": 1}
    assert list(stats["thoughts_by_label"]) == list(layout.LABELS)
    assert stats["thoughts_by_label"]["task_motivation"] == 5 and stats["thoughts_by_label"]["scope_fit"] == 0


def test_text_instances_follow_each_conversation(tmp_path):
    conversations, _, messages, thoughts = _tables(tmp_path, tiny_records())
    texts = build_text_instances(conversations, messages, thoughts)
    assert list(texts.columns) == ["text_kind", "conversation_id", "user_id", "message_index", "thought_index", "text"]
    first = texts.loc[texts["conversation_id"] == "user12_task1_conversation1"]
    assert first["text_kind"].tolist() == ["user_message", "reason", "assistant_message", "reaction", "user_message",
                                           "assistant_message", "task_summary", "task_expectation"]
    assert first["message_index"].tolist() == [0, 0, 1, 1, 2, 3, pd.NA, pd.NA]
    assert first["thought_index"].tolist() == [pd.NA, 0, pd.NA, 0, pd.NA, pd.NA, pd.NA, pd.NA]
    assert texts["conversation_id"].drop_duplicates().tolist() == conversations["conversation_id"].tolist()
    last = texts.loc[texts["conversation_id"] == "user30_task1_conversation1"]
    assert last["text_kind"].tolist()[:5] == ["user_message", "reason", "assistant_message", "reaction", "reaction"]
    assert len(texts) == 19 + 12 + 2 * 5
    assert isinstance(texts.index, pd.RangeIndex)


def test_thoughttrace_records_rebuild_the_input_in_the_published_layout(tmp_path):
    records = small_file()
    records[0]["messages"][0]["content"] = " padded \n"
    shuffled = {k: records[1][k] for k in reversed(layout.CONVERSATION_KEYS)}  # another key order in the input
    records[1] = shuffled
    conversations, survey, messages, thoughts = _tables(tmp_path, records)
    rebuilt = build.thoughttrace_records(conversations, survey, messages, thoughts)
    expected = small_file()
    expected[0]["messages"][0]["content"] = "padded"
    assert rebuilt == expected
    assert [list(r) for r in rebuilt] == [list(layout.CONVERSATION_KEYS)] * 5
    assert list(rebuilt[0]["messages"][1]) == [*layout.MESSAGE_KEYS, "reactions"]
    assert json.dumps(rebuilt, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def test_release_records_in_release_order(tmp_path):
    conversations, survey, messages, thoughts = _tables(tmp_path)
    users = derive.users_table(conversations, survey)
    fresh = build.fresh_records(conversations, survey, messages, thoughts, users,
                                derive.stats(conversations, messages, thoughts, users))
    metadata = pd.DataFrame(columns=layout.METADATA_COLUMNS[:-1])
    files = build.release_records(fresh, messages, thoughts, metadata)
    assert list(files) == ["ThoughtTrace.jsonl", "messages.jsonl", "thoughts.jsonl", "users.jsonl",
                           "metadata.jsonl", "stats.json"]
    first_message = next(iter(files["messages.jsonl"]))
    assert first_message == {"conversation_id": "user12_task1_conversation1", "user_id": "user12", "message_index": 0,
                             "message_id": 1775124000000, "type": "user", "timestamp": "2026-04-02T10:00:00.000Z",
                             "content": "Question 0 about a cheap weekend in Lisbon."}
    first_thought = next(iter(files["thoughts.jsonl"]))
    assert first_thought == {"conversation_id": "user12_task1_conversation1", "user_id": "user12",
                             "message_index": 0, "thought_index": 0, "kind": "reason", "label": "task_motivation",
                             "timestamp": "2026-04-02T10:00:20.000Z",
                             "content": "I want to see if it can budget well."}
    assert fresh["users.jsonl"][0] == {"user_id": "user12", **SURVEY, "num_conversations": 2}


def test_the_raw_footprint_of_a_removal(tmp_path):
    raw = tmp_path / "raw"
    write_jsonl(raw / "ThoughtTrace.jsonl", tiny_records())
    assert read_user_ids(raw).tolist() == ["user12", "user7", "user30"]
    salt = b"s" * 32
    requests = pd.DataFrame({"request_id": ["rr-0001"], "user_hash": [user_hash("user7", salt)],
                             "received": ["2026-11-01"], "note": [""]})
    footprint = removed_footprint(raw, requests, salt)
    assert footprint.ids == {"user7", "user7_task1_conversation1", "user7_task1_conversation2"}
    assert footprint.rows_by_request == {"rr-0001": {"ThoughtTrace.jsonl": 2, "messages.jsonl": 6,
                                                     "thoughts.jsonl": 4, "users.jsonl": 1, "metadata.jsonl": 14}}
    # Only the Spanish opening and the empty answer (as read and as normalised) are user7's own:
    # every other text of theirs is shared with a kept user (the records repeat them).
    assert len(footprint.removed_only_hashes) == 3
