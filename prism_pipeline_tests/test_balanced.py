"""SPEC §3: the balanced subset, on hand-made conversations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prism_pipeline.prism.sampling.balanced import balanced_conversation_flags, balanced_user_flags


def _conversations(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conversation_id": [f"c{i}" for i in range(len(rows))],
            "user_id": [u for u, _ in rows],
            "conversation_type": [t for _, t in rows],
        }
    )


def _pandas_sample_reference(conversations: pd.DataFrame, seed: int) -> pd.Series:
    """The reference code path (SPEC §3.1), written with pandas .sample as the notebook did."""
    expected = pd.Series(False, index=conversations.index)
    types = conversations["conversation_type"].unique()
    for _, user_rows in conversations.groupby("user_id"):
        if user_rows["conversation_type"].nunique() < len(types):
            continue
        m = user_rows["conversation_type"].value_counts().min()
        for _, group in user_rows.groupby("conversation_type"):
            expected[group.sample(m, random_state=seed).index] = True
    return expected


def test_user_lacking_a_type_contributes_nothing_and_equal_counts_keep_all():
    conversations = _conversations(
        [
            ("u0", "unguided"), ("u0", "values"), ("u0", "controversy"),  # n == m == 1: all kept
            ("u1", "unguided"), ("u1", "unguided"), ("u1", "values"),  # lacks controversy
            ("u2", "values"), ("u2", "controversy"), ("u2", "unguided"),
            ("u2", "values"), ("u2", "controversy"), ("u2", "unguided"),  # n == m == 2
        ]
    )
    flags = balanced_conversation_flags(conversations)
    assert flags.tolist() == [True, True, True, False, False, False] + [True] * 6
    assert flags.name == "included_in_balanced_subset"
    assert flags.dtype == bool


@pytest.mark.parametrize(("n", "m"), [(2, 1), (3, 1), (3, 2), (5, 2), (7, 3), (11, 4), (20, 19)])
def test_surplus_type_keeps_the_first_m_positions_of_a_fresh_permutation(n, m):
    # One user: m conversations of each of two types, n of a third type, interleaved in file order.
    rows = [("u", "values")] * m + [("u", "controversy")] * m + [("u", "unguided")] * n
    rows = rows[::2] + rows[1::2]
    conversations = _conversations(rows)
    flags = balanced_conversation_flags(conversations, seed=0)

    surplus = conversations.index[conversations["conversation_type"] == "unguided"]
    expected_positions = np.random.RandomState(0).permutation(n)[:m]
    assert sorted(surplus[flags[surplus]].tolist()) == sorted(surplus[expected_positions].tolist())
    # The same as pandas' sample(m, random_state=0) on the file-ordered candidates.
    pandas_pick = conversations.loc[surplus].sample(m, random_state=0).index
    assert sorted(pandas_pick.tolist()) == sorted(surplus[flags[surplus]].tolist())
    # The balanced types are kept whole.
    assert flags[conversations["conversation_type"] != "unguided"].all()


def test_matches_the_pandas_reference_on_a_random_file_for_two_seeds():
    rng = np.random.default_rng(7)
    conversations = pd.DataFrame(
        {
            "user_id": rng.choice([f"user{i}" for i in range(40)], 400),
            "conversation_type": rng.choice(["unguided", "values", "controversy"], 400),
        }
    )
    for seed in (0, 3):
        flags = balanced_conversation_flags(conversations, seed=seed)
        expected = _pandas_sample_reference(conversations, seed)
        assert flags.equals(expected.rename("included_in_balanced_subset"))
        # Every kept user has the same count in each type.
        kept = conversations.loc[flags].groupby(["user_id", "conversation_type"]).size().unstack()
        assert (kept.nunique(axis=1) == 1).all()


def test_types_come_from_the_whole_file_and_a_non_range_index_is_kept():
    # A fourth type used by one user makes everyone else lack a type.
    conversations = _conversations(
        [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("b", "z")]
    ).set_axis([10, 11, 12, 13, 14])
    flags = balanced_conversation_flags(conversations)
    assert flags.index.tolist() == [10, 11, 12, 13, 14]
    assert flags.tolist() == [False, False, True, True, True]


def test_null_type_is_an_input_error():
    conversations = _conversations([("a", "x"), ("a", None)])
    with pytest.raises(ValueError, match=r"conversations.conversation_type has 1 null value"):
        balanced_conversation_flags(conversations)


def test_empty_conversations():
    flags = balanced_conversation_flags(_conversations([]))
    assert flags.empty and flags.dtype == bool


def test_user_flags_true_iff_a_conversation_is_flagged():
    conversations = _conversations(
        [("u0", "x"), ("u0", "y"), ("u1", "x"), ("u1", "x"), ("u2", "y"), ("u2", "x"), ("u2", "x")]
    )
    flags = balanced_conversation_flags(conversations)
    survey_ids = pd.Series(["u0", "u1", "u2", "survey_only_user"], index=[5, 6, 7, 8])
    users = balanced_user_flags(survey_ids, conversations, flags)
    assert users.tolist() == [True, False, True, False]
    assert users.index.tolist() == [5, 6, 7, 8]
    assert users.name == "included_in_balanced_subset"


def test_user_flags_reject_misaligned_conversation_flags():
    conversations = _conversations([("u0", "x")])
    with pytest.raises(ValueError, match="aligned to conversations.index"):
        balanced_user_flags(pd.Series(["u0"]), conversations, pd.Series([True], index=[3]))


def test_balanced_type_table_and_chart(tmp_path):
    from prism_pipeline.prism.sampling.qa import balanced_type_chart, balanced_type_table

    conversations = _conversations(
        [("u0", "values"), ("u0", "unguided"), ("u0", "unguided"), ("u0", "controversy"), ("u1", "values")]
    )
    flags = balanced_conversation_flags(conversations)
    table = balanced_type_table(conversations, flags)
    assert table.to_dict("list") == {
        "conversation_type": ["controversy", "unguided", "values"],
        "conversations": [1, 2, 2],
        "balanced": [1, 1, 1],
        "dropped": [0, 1, 1],
    }
    path = tmp_path / "balanced.png"
    data = balanced_type_chart(table, path)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and path.read_bytes() == data
    assert b"Software" not in data
    assert balanced_type_chart(table) == data
    with pytest.raises(ValueError, match="aligned to conversations.index"):
        balanced_type_table(conversations, flags.iloc[:2])
