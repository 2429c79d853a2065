"""The release writer: key order, null not NaN, byte-identical output, atomic as a set."""

import math

import numpy as np
import pandas as pd
import pytest

from prism_pipeline.core.hashing import sha256_file
from prism_pipeline.core.release.writer import frame_to_records, without_users, write_release


def test_records_rebuild_nested_objects_in_column_order():
    frame = pd.DataFrame({
        "user_id": pd.Series(["user0", "user1"], dtype="str"),
        "stated_prefs.values": [0, 100],
        "stated_prefs.other_text": pd.Series([None, "art"], dtype="str"),
        "timing_duration_s": [1.5, np.nan],
        "moderation_flag.categories.self-harm/intent": [False, True],
        "moderation_flag.category_scores.self-harm/intent": [0.0, 0.91],
        "flag": pd.array([True, None], dtype="boolean"),
        "n": pd.array([None, 3], dtype="Int64"),
    })
    records = frame_to_records(frame, ["user_id", "stated_prefs", "timing_duration_s", "moderation_flag",
                                       "flag", "n"])
    assert records == [
        {"user_id": "user0", "stated_prefs": {"values": 0, "other_text": None}, "timing_duration_s": 1.5,
         "moderation_flag": {"categories": {"self-harm/intent": False},
                             "category_scores": {"self-harm/intent": 0.0}}, "flag": True, "n": None},
        {"user_id": "user1", "stated_prefs": {"values": 100, "other_text": "art"}, "timing_duration_s": None,
         "moderation_flag": {"categories": {"self-harm/intent": True},
                             "category_scores": {"self-harm/intent": 0.91}}, "flag": None, "n": 3},
    ]
    assert type(records[1]["n"]) is int and type(records[0]["flag"]) is bool


def test_unknown_release_key_is_an_error():
    with pytest.raises(KeyError, match="no column or nested columns for release key 'missing'"):
        frame_to_records(pd.DataFrame({"a": [1]}), ["a", "missing"])


def test_written_bytes_are_exact_and_repeatable(tmp_path):
    records = [{"a": "x/y é", "b": None, "c": 2.0}, {"a": "z", "b": [1, {"k": True}], "c": 3}]
    first = write_release(tmp_path, {"t.jsonl": records})
    text = (tmp_path / "t.jsonl").read_text(encoding="utf-8")
    assert text == '{"a": "x/y é", "b": null, "c": 2.0}\n{"a": "z", "b": [1, {"k": true}], "c": 3}\n'
    second = write_release(tmp_path, {"t.jsonl": records})
    assert first["t.jsonl"].sha256 == second["t.jsonl"].sha256 == sha256_file(tmp_path / "t.jsonl")
    assert first["t.jsonl"].rows == 2


def test_nan_is_refused_rather_than_written(tmp_path):
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        write_release(tmp_path, {"t.jsonl": [{"x": math.nan}]})
    assert list(tmp_path.iterdir()) == []


def test_failure_in_any_file_leaves_the_previous_release_intact(tmp_path):
    write_release(tmp_path, {"a.jsonl": [{"v": 1}], "b.jsonl": [{"v": 2}]})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken():
        yield {"v": 3}
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_release(tmp_path, {"a.jsonl": [{"v": 10}], "b.jsonl": broken()})
    # a.jsonl was complete in its temporary file but is not renamed: the set is all or nothing.
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def _release_file(tmp_path, users):
    written = write_release(tmp_path, {"utterances.jsonl": [
        {"utterance_id": f"ut{i}", "user_id": u, "text": f'says "user_id": "{u}" {i}'} for i, u in enumerate(users)]})
    return written["utterances.jsonl"].path.read_bytes()


def test_without_users_drops_exactly_their_lines(tmp_path):
    data = _release_file(tmp_path / "a", ["user1", "user2", "user1", "user10", "user3", "user1"])
    kept = without_users(data, 6, ["user1", "user9"])
    assert kept.rows == 3 and len(kept.chunks) == 2  # line 2, then lines 4-5: two runs of kept lines
    written = write_release(tmp_path / "c", {"utterances.jsonl": kept})["utterances.jsonl"]
    lines = data.splitlines(keepends=True)
    assert written.path.read_bytes() == lines[1] + lines[3] + lines[4]
    assert written.rows == 3 and written.sha256 == sha256_file(written.path)
    # the quoted key inside the free text is escaped, so it never matches
    assert without_users(data, 6, []).chunks == [memoryview(data)]
    assert without_users(b"", 0, ["user1"]).rows == 0
    last = without_users(data, 6, ["user3", "user1"])
    assert b"".join(last.chunks) == lines[1] + lines[3] and last.rows == 2


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 7, 100])
def test_records_built_in_chunks_equal_the_whole(chunk_rows):
    from prism_pipeline.core.release.writer import iter_records
    from prism_pipeline.prism import codebook as cb
    from prism_pipeline.prism.release.build import history_chunks, history_lists

    ids = [f"c{i}" for i in (3, 0, 6, 1, 5, 2, 4)]  # release order is not id order
    frame = pd.DataFrame({"conversation_id": pd.Series(ids, dtype="str"), "opening.turn": range(7),
                          "score": [1.5, np.nan, 2.0, 0.0, np.nan, 3.0, 4.5]})
    # History rows interleaved across conversations, one conversation absent (c5) and one not
    # in the release (c9): chunks must keep each conversation's file order and drop c9.
    rows = [(c, t, role) for t in range(3) for c in ("c9", *ids[::-1]) if c != "c5" for role in ("user", "model")]
    history = pd.DataFrame({
        "conversation_id": [r[0] for r in rows], "turn": [r[1] for r in rows], "role": [r[2] for r in rows],
        **{k: [f"{k}-{i}" for i in range(len(rows))] for k in cb.HISTORY_MODEL_KEYS if k not in ("turn", "role")}},
        index=range(100, 100 + len(rows)))
    columns = ["conversation_id", "opening", "score", "conversation_history"]
    whole = frame_to_records(frame, columns,
                             extra={"conversation_history": history_lists(history, frame["conversation_id"])})
    chunked = list(iter_records(frame, columns, chunk_rows=chunk_rows,
                                extra={"conversation_history": history_chunks(history, frame["conversation_id"])}))
    assert chunked == whole
    assert whole[4]["conversation_history"] == [] and len(whole[0]["conversation_history"]) == 6
    assert [item["turn"] for item in whole[0]["conversation_history"]] == [0, 0, 1, 1, 2, 2]
