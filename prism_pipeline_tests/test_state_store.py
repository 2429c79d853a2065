"""The state store: where tables are stored, atomic replacement, values read back equal."""

import pandas as pd
import pytest

from prism_pipeline import state_store


def test_table_path_layout(tmp_path):
    assert state_store.table_path(tmp_path, ["utterances"]) == tmp_path.resolve() / "assets" / "utterances"
    assert state_store.table_path(tmp_path, ["run1", "text_flags.plan_flag_shards", "result"]) == \
        tmp_path.resolve() / "assets" / "run1" / "text_flags.plan_flag_shards" / "result"


def test_values_read_back_equal_including_cyclic_ones(tmp_path):
    frame = pd.DataFrame({"user_id": pd.Series(["user0", "user1", "user0"], dtype="str"),
                          "score": pd.array([1, None, 100], dtype="Int64")},
                         index=pd.MultiIndex.from_tuples([(1, 0), (1, 1), (2, 0)]))
    frame.attrs["duplicates_ignored"] = 2
    path = state_store.table_path(tmp_path, ["t"])
    state_store.write(path, frame)
    back = state_store.read(path)
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs == {"duplicates_ignored": 2}
    cyclic = {"a": []}
    cyclic["a"].append(cyclic)  # fast pickling refuses cycles: the normal pickler takes over
    state_store.write(path, cyclic)
    assert state_store.read(path)["a"][0]["a"][0] is not None


def test_a_failed_write_leaves_the_previous_value_and_no_temporary_file(tmp_path):
    path = state_store.table_path(tmp_path, ["t"])
    state_store.write(path, [1, 2, 3])
    with pytest.raises(AttributeError, match="Can't pickle local object"):
        state_store.write(path, [1, lambda: 0])  # a local function cannot be pickled
    assert state_store.read(path) == [1, 2, 3]
    assert sorted(p.name for p in path.parent.iterdir()) == ["t"]
