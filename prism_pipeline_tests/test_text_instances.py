"""Text instances: which texts, which ids, canonical order (SPEC §2.1)."""

from __future__ import annotations

import pandas as pd
import pytest

from prism_pipeline.prism.metadata.text_instances import TEXT_INSTANCE_COLUMNS, build_text_instances, id_number

N = None


def _inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    survey = pd.DataFrame(
        {
            "user_id": ["user10", "user2", "user0"],
            "system_string": ["sys ten", "sys two", "sys zero"],
            "self_description": ["me ten", None, "me zero"],
            "age": ["18-24 years old"] * 3,  # extra columns are ignored
        }
    )
    conversations = pd.DataFrame(
        {
            "conversation_id": ["c10", "c2", "c1"],
            "user_id": ["user2", "user0", "user2"],
            "open_feedback": ["fb c10", "fb c2", "EMPTY STRING"],
        }
    )
    # File order: int10 before int2 before int1; int10 appears twice, int2 twice.
    utterances = pd.DataFrame(
        {
            "utterance_id": ["ut0", "ut1", "ut2", "ut10", "ut3"],
            "interaction_id": ["int10", "int10", "int2", "int2", "int1"],
            "conversation_id": ["c10", "c10", "c2", "c2", "c1"],
            "user_id": ["user2", "user2", "user0", "user0", "user2"],
            "turn": [0, 0, 0, 0, 0],
            "user_prompt": ["prompt ten", "prompt ten", "prompt two", "prompt two (later copy)", "EMPTY STRING"],
            "model_response": ["r0", "r1", "EMPTY STRING", "r10", "r3"],
        }
    )
    return survey, conversations, utterances


EXPECTED_ROWS = [
    ("system_string", "user0", N, N, N, "sys zero"),
    ("system_string", "user2", N, N, N, "sys two"),
    ("system_string", "user10", N, N, N, "sys ten"),
    ("self_description", "user0", N, N, N, "me zero"),
    ("self_description", "user2", N, N, N, N),
    ("self_description", "user10", N, N, N, "me ten"),
    ("open_feedback", "user2", "c1", N, N, "EMPTY STRING"),
    ("open_feedback", "user0", "c2", N, N, "fb c2"),
    ("open_feedback", "user2", "c10", N, N, "fb c10"),
    ("user_prompt", "user2", "c1", "int1", N, "EMPTY STRING"),
    ("user_prompt", "user0", "c2", "int2", N, "prompt two"),
    ("user_prompt", "user2", "c10", "int10", N, "prompt ten"),
    ("model_response", "user2", "c10", "int10", "ut0", "r0"),
    ("model_response", "user2", "c10", "int10", "ut1", "r1"),
    ("model_response", "user0", "c2", "int2", "ut2", "EMPTY STRING"),
    ("model_response", "user2", "c1", "int1", "ut3", "r3"),
    ("model_response", "user0", "c2", "int2", "ut10", "r10"),
]


def test_rows_ids_and_canonical_order():
    out = build_text_instances(*_inputs())
    expected = pd.DataFrame(EXPECTED_ROWS, columns=list(TEXT_INSTANCE_COLUMNS)).astype("str")
    pd.testing.assert_frame_equal(out, expected)
    assert isinstance(out.index, pd.RangeIndex)
    assert all(dtype == "str" for dtype in out.dtypes)


def test_block_sizes_follow_the_sources():
    survey, conversations, utterances = _inputs()
    counts = build_text_instances(survey, conversations, utterances)["column_id"].value_counts().to_dict()
    assert counts == {
        "system_string": 3,
        "self_description": 3,
        "open_feedback": 3,
        "user_prompt": utterances["interaction_id"].nunique(),
        "model_response": 5,
    }


def test_inputs_are_not_modified():
    inputs = _inputs()
    copies = [frame.copy() for frame in inputs]
    build_text_instances(*inputs)
    for frame, copy in zip(inputs, copies, strict=True):
        pd.testing.assert_frame_equal(frame, copy)


def test_numeric_not_lexicographic_order_at_scale():
    users = [f"user{i}" for i in (100, 9, 11, 0, 1000, 10)]
    survey = pd.DataFrame({"user_id": users, "system_string": users, "self_description": users})
    empty_conversations = pd.DataFrame({"conversation_id": [], "user_id": [], "open_feedback": []}, dtype=object)
    empty_utterances = pd.DataFrame(
        {c: [] for c in ("utterance_id", "interaction_id", "conversation_id", "user_id", "user_prompt",
                         "model_response")},
        dtype=object,
    )
    out = build_text_instances(survey, empty_conversations, empty_utterances)
    assert out["user_id"].tolist() == ["user0", "user9", "user10", "user11", "user100", "user1000"] * 2
    assert out["column_id"].tolist() == ["system_string"] * 6 + ["self_description"] * 6


def test_malformed_id_is_rejected():
    survey, conversations, utterances = _inputs()
    utterances.loc[4, "utterance_id"] = "u3"
    with pytest.raises(ValueError, match=r"^1 ids are not of the form ut<number> \(first at row 4\)$"):
        build_text_instances(survey, conversations, utterances)


def test_repeated_id_is_rejected():
    survey, conversations, utterances = _inputs()
    survey.loc[1, "user_id"] = "user10"
    with pytest.raises(ValueError, match=r"^system_string: 1 rows repeat a user_id$"):
        build_text_instances(survey, conversations, utterances)


def test_id_number():
    assert id_number(pd.Series(["int0", "int27171"]), "int").tolist() == [0, 27171]
    with pytest.raises(ValueError, match=r"^1 ids are not of the form c<number> \(first at row 1\)$"):
        id_number(pd.Series(["c1", "user1"]), "c")
