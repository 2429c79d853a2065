"""The state store: where tables are stored, atomic replacement, values read back equal."""

import pickle
import zlib

import numpy as np
import pandas as pd
import pytest

from prism_pipeline.core import state_store


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


def _table(n_users=40, per_user=5):
    users = [f"user{u}" for u in range(n_users) for _ in range(per_user)]
    frame = pd.DataFrame({"user_id": pd.Series(users, dtype="str"),
                          "conversation_id": pd.Series([f"c{i // 2}" for i in range(len(users))], dtype="str"),
                          "text": pd.Series([f"text {i}" for i in range(len(users))], dtype="str"),
                          "score": pd.array([i % 100 + 1 for i in range(len(users))], dtype="Int64")})
    return frame.sample(frac=1, random_state=0).reset_index(drop=True)  # participants interleaved


def _files(folder):
    return {p.name: p.stat().st_ino for p in folder.iterdir()}


def test_a_table_with_a_participant_key_is_stored_in_parts_by_participant(tmp_path):
    frame = _table()
    frame.attrs["source"] = "x"
    path = state_store.table_path(tmp_path, ["utterances"])
    state_store.write(path, frame, partition_min_rows=100)
    assert path.is_dir()
    names = sorted(_files(path))
    assert names[-1] == "manifest" and len(names) == state_store.PARTS + 1
    back = state_store.read(path)
    pd.testing.assert_frame_equal(back, frame)
    assert back.attrs == {"source": "x"}
    # every row of a participant in the one part their id hashes to (crc32 mod 16)
    generation = names[0].split(".")[0]
    for i in range(state_store.PARTS):
        with open(path / f"{generation}.{i}", "rb") as fh:
            pickle.load(fh)
            part = pickle.load(fh)
        assert all(zlib.crc32(u.encode()) % 16 == i for u in part["user_id"])


def test_drop_rows_rewrites_only_the_parts_of_the_dropped_participants(tmp_path):
    frame = _table()
    path = state_store.table_path(tmp_path, ["utterances"])
    state_store.write(path, frame, partition_min_rows=100)
    before = _files(path)
    dropped = state_store.drop_rows(path, "user_id", {"user7", "user23"})
    after = _files(path)
    touched = {name for name in before if after[name] != before[name]}
    generation = sorted(before)[0].split(".")[0]
    assert touched == {f"{generation}.{zlib.crc32(u.encode()) % 16}" for u in ("user7", "user23")}
    gone = frame["user_id"].isin({"user7", "user23"}).to_numpy()
    assert dropped.table_rows == 200
    assert dropped.positions.tolist() == np.flatnonzero(gone).tolist()
    assert sorted(dropped.rows["text"]) == sorted(frame.loc[gone, "text"])
    # read back as a rebuild would have stored it: the other rows in order, renumbered
    pd.testing.assert_frame_equal(state_store.read(path), frame.loc[~gone].reset_index(drop=True))
    again = state_store.drop_rows(path, "user_id", {"user7"})  # idempotent: nothing left to drop
    assert again.rows.empty and list(again.rows.columns) == list(frame.columns) and again.table_rows == 190
    # by another column than the key: every part is searched
    by_conversation = state_store.drop_rows(path, "conversation_id", {"c0", "c1"})
    assert sorted(by_conversation.rows["conversation_id"]) == ["c0", "c0", "c1", "c1"]
    assert len(state_store.read(path)) == 186


def test_a_table_keeps_its_index_and_switches_form_without_leftovers(tmp_path):
    path = state_store.table_path(tmp_path, ["survey_input"])
    state_store.write(path, [1, 2])  # plain pickle
    frame = _table(4, 3).set_axis(pd.Index(list(range(2, 26, 2)), name="line"))  # indexed by source line
    state_store.write(path, frame, partition_min_rows=12)
    assert path.is_dir()
    pd.testing.assert_frame_equal(state_store.read(path), frame)
    dropped = state_store.drop_rows(path, "user_id", {"user1"})
    kept = frame[frame["user_id"] != "user1"]
    pd.testing.assert_frame_equal(state_store.read(path), kept)  # source lines kept, not renumbered
    assert dropped.rows.index.name == "line"
    state_store.write(path, frame.iloc[:11], partition_min_rows=12)  # too few rows: a plain pickle again
    assert path.is_file() and sorted(p.name for p in path.parent.iterdir()) == ["survey_input"]
    pd.testing.assert_frame_equal(state_store.read(path), frame.iloc[:11])
    state_store.write(path, frame.iloc[:0], partition_min_rows=0)  # nor is an empty table partitioned
    assert path.is_file() and sorted(p.name for p in path.parent.iterdir()) == ["survey_input"]
    pd.testing.assert_frame_equal(state_store.read(path), frame.iloc[:0])


def test_a_failed_partitioned_write_leaves_the_previous_table_and_no_orphan_part(tmp_path):
    frame = _table()
    path = state_store.table_path(tmp_path, ["utterances"])
    state_store.write(path, frame, partition_min_rows=100)
    before = _files(path)
    bad = frame.astype({"text": object})
    bad.loc[len(bad) - 1, "text"] = lambda: 0  # unpicklable, in one part only
    with pytest.raises(AttributeError, match="Can't pickle local object"):
        state_store.write(path, bad, partition_min_rows=100)
    assert _files(path) == before
    pd.testing.assert_frame_equal(state_store.read(path), frame)


def test_a_partitioned_table_without_its_manifest_is_named_and_rewritten_cleanly(tmp_path):
    path = state_store.table_path(tmp_path, ["utterances"])
    state_store.write(path, _table(), partition_min_rows=100)
    (path / state_store.MANIFEST).unlink()  # as if the first write was killed before its manifest
    with pytest.raises(FileNotFoundError, match=r"utterances: partitioned table without its manifest"):
        state_store.read(path)
    with pytest.raises(FileNotFoundError, match="without its manifest"):
        state_store.drop_rows(path, "user_id", {"user1"})
    state_store.write(path, _table(10, 3), partition_min_rows=10)  # the next write replaces every orphan part
    assert len(list(path.iterdir())) == state_store.PARTS + 1
    pd.testing.assert_frame_equal(state_store.read(path), _table(10, 3))
    assert state_store.drop_rows(path, "no_such_column", {"x"}) is None


def test_leftovers_of_a_killed_switch_between_forms_are_deleted_by_the_next_write_or_drop(tmp_path):
    path = state_store.table_path(tmp_path, ["utterances"])
    state_store.write(path, _table(), partition_min_rows=100)
    old = path.with_name(".utterances.old-0a1b2c3d")  # a killed _swap_in: the previous table, renamed aside
    old.mkdir()
    (old / "manifest").write_bytes(b"rows of someone removed since")
    path.with_name(".utterances.plain-0a1b2c3d").write_bytes(b"x")
    unrelated = path.with_name(".survey_input.old-0a1b2c3d")
    unrelated.write_bytes(b"y")
    state_store.drop_rows(path, "user_id", {"user1"})
    assert sorted(p.name for p in path.parent.iterdir()) == [".survey_input.old-0a1b2c3d", "utterances"]
    (path.parent / ".utterances.parts-0a1b2c3d").mkdir()
    state_store.write(path, [1])
    assert sorted(p.name for p in path.parent.iterdir()) == [".survey_input.old-0a1b2c3d", "utterances"]
    assert state_store.read(path) == [1]
