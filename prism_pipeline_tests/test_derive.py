"""Utterance and interaction derivation (SPEC §1.5, §5) on hand-made conversations."""

import pandas as pd
import pytest

from prism_pipeline.prism.conversation_tables.derive import derive_interactions, derive_utterances
from prism_pipeline.prism.conversation_tables.ids import interaction_ids
from prism_pipeline.prism.inputs.parse import read_conversations
from prism_pipeline_tests.records import conversation_record, write_jsonl


@pytest.fixture
def twelve_conversations(tmp_path):
    # c0..c11, two turns each except c1 (three turns) and c10 (turn 0 with 4 answers).
    records = []
    for c in range(12):
        turns = 3 if c == 1 else 2
        r0 = 4 if c == 10 else (3 if c == 2 else 2)
        records.append(conversation_record(c, user=c % 3, turns=turns, r0=r0))
    path = write_jsonl(tmp_path / "conversations.jsonl", records)
    return read_conversations(path)


def test_interaction_ids_follow_lexicographic_conversation_order(twelve_conversations):
    conversations, history = twelve_conversations
    utts = derive_utterances(conversations, history)
    first = utts.drop_duplicates("interaction_id").set_index(["conversation_id", "turn"])["interaction_id"]
    # Sorted groups: c0 t0,t1 | c1 t0,t1,t2 | c10 t0,t1 | c11 t0,t1 | c2 t0,t1 | ...
    assert first[("c0", 0)] == "int0"
    assert first[("c0", 1)] == "int1"
    assert first[("c1", 2)] == "int4"
    assert first[("c10", 0)] == "int5"
    assert first[("c11", 1)] == "int8"
    assert first[("c2", 0)] == "int9"
    assert first[("c9", 1)] == "int24"
    assert len(first) == 25


def test_utterance_ids_follow_file_order(twelve_conversations):
    conversations, history = twelve_conversations
    utts = derive_utterances(conversations, history)
    # c0: 2 + 2, c1: 2 + 2 + 2, c2: 3 + 2 ...
    assert utts["utterance_id"].tolist()[:6] == [f"ut{k}" for k in range(6)]
    assert utts.loc[4, ["conversation_id", "turn", "within_turn_id"]].tolist() == ["c1", 0, 0]
    assert utts.loc[10, ["conversation_id", "turn", "within_turn_id"]].tolist() == ["c2", 0, 0]
    assert len(utts) == 12 * 4 + 2 + 1 + 2  # c1 has a third turn, c2 one extra and c10 two extra answers
    assert list(utts.columns) == [
        "utterance_id", "interaction_id", "conversation_id", "user_id", "turn", "within_turn_id",
        "conversation_type", "user_prompt", "model_response", "model_name", "model_provider", "score",
        "if_chosen"]
    assert utts.loc[5, "user_prompt"] == "Opening prompt of c1"
    assert utts.loc[6, "user_prompt"] == "c1 follow-up 1"
    assert utts.loc[6, "model_response"] == "c1 t1 answer 0"
    assert utts.loc[6, "user_id"] == "user1"


def test_model_item_without_its_user_item_gives_no_row(tmp_path):
    rec = conversation_record(0, user=0, turns=2)
    # Move the turn-1 user item after its model items: the reference remembers the *last* user
    # item, so the two turn-1 model items now follow a turn-0 user item and give no row.
    hist = rec["conversation_history"]
    hist[3], hist[4], hist[5] = hist[4], hist[5], hist[3]
    conversations, history = read_conversations(write_jsonl(tmp_path / "conversations.jsonl", [rec]))
    utts = derive_utterances(conversations, history)
    assert utts["turn"].tolist() == [0, 0]


def test_interaction_ids_pure_rule():
    ids = interaction_ids(pd.Series(["c2", "c10", "c2", "c1"]), pd.Series([0, 0, 1, 0]))
    assert ids.tolist() == ["int2", "int1", "int3", "int0"]


def test_interactions_wide_table(twelve_conversations):
    conversations, history = twelve_conversations
    wide = derive_interactions(derive_utterances(conversations, history))
    assert len(wide) == 25
    # Sorted by interaction_id as a string, as the reference's unstack did.
    assert wide["interaction_id"].tolist()[:4] == ["int0", "int1", "int10", "int11"]
    row = wide.set_index("interaction_id").loc["int5"]  # c10 turn 0 with four answers
    assert row["n_responses"] == 4
    assert [row[f"within_turn_id_{s}"] for s in "abcd"] == [0, 1, 2, 3]
    assert [row[f"if_chosen_{s}"] for s in "abcd"] == [False, False, False, True]
    later = wide.set_index("interaction_id").loc["int6"]  # c10 turn 1
    assert later["n_responses"] == 2 and pd.isna(later["model_response_c"]) and pd.isna(later["score_d"])
    assert later["n_chosen"] == 1
    assert str(wide["score_a"].dtype) == "Int64" and str(wide["if_chosen_c"].dtype) == "boolean"
