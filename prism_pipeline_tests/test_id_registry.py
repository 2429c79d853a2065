"""Frozen utterance / interaction ids across removals (SPEC §1.5, §7.7)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from prism_pipeline.core.removal.scan import scan_paths
from prism_pipeline.prism.conversation_tables import registry
from prism_pipeline.prism.conversation_tables.ids import interaction_ids
from prism_pipeline.prism.conversation_tables.registry import assign_ids, read_registry

# (conversation, owner, [(turn, [within_turn_id in file order]), ...]) in file order c0..c11.
CONVERSATIONS = [
    ("c0", "user0", [(0, [1, 0]), (1, [0, 1])]),
    ("c1", "user1", [(0, [0, 1])]),
    ("c2", "user2", [(0, [0, 1])]),
    ("c3", "user3", [(0, [1, 0])]),
    ("c4", "user0", [(0, [0, 1])]),
    ("c5", "user4", [(0, [0, 1]), (1, [0, 1])]),
    ("c6", "user5", [(0, [0, 1])]),
    ("c7", "user5", [(0, [0, 1])]),
    ("c8", "user6", [(0, [0, 1])]),
    ("c9", "user6", [(0, [0, 1])]),
    ("c10", "user1", [(0, [0, 1]), (1, [1, 0])]),
    ("c11", "user7", [(t, [0]) for t in range(11)]),  # turns 0..10: numeric, not string, order
]
# Reference rule by hand: groups in order c0 t0, c0 t1, c1, c10 t0, c10 t1, c11 t0..t10, c2, c3, c4, c5 t0,
# c5 t1, c6, c7, c8, c9.
PUBLISHED_INT = ([0, 0, 1, 1] + [2, 2] + [16, 16] + [17, 17] + [18, 18] + [19, 19, 20, 20] + [21, 21] + [22, 22]
                 + [23, 23] + [24, 24] + [3, 3, 4, 4] + list(range(5, 16)))


def scored_rows(conversations=CONVERSATIONS) -> pd.DataFrame:
    rows = [(c, owner, t, w) for c, owner, turns in conversations for t, ws in turns for w in ws]
    frame = pd.DataFrame(rows, columns=["conversation_id", "user_id", "turn", "within_turn_id"])
    return frame.astype({"conversation_id": "str", "user_id": "str"})


def published() -> pd.DataFrame:
    return pd.DataFrame({"utterance_id": [f"ut{k}" for k in range(39)],
                         "interaction_id": [f"int{g}" for g in PUBLISHED_INT]}, dtype="str")


def keep_without(scored: pd.DataFrame, *users: str) -> pd.Series:
    return ~scored["user_id"].isin(list(users))


def contents(path) -> tuple:
    reg = read_registry(path)
    return (reg["utterances"].to_dict("list"), reg["interactions"].to_dict("list"), reg["counters"])


def test_seed_is_the_reference_rule(tmp_path):
    scored = scored_rows()
    ids = assign_ids(scored, pd.Series(True, index=scored.index), tmp_path / "reg.sqlite")
    pd.testing.assert_frame_equal(ids, published())
    assert ids["interaction_id"].tolist() == interaction_ids(scored["conversation_id"], scored["turn"]).tolist()
    reg = read_registry(tmp_path / "reg.sqlite")
    assert reg["counters"] == {"next_utterance": 39, "next_interaction": 25}
    assert reg["utterances"].to_dict("list") == {
        "conversation_id": scored["conversation_id"].tolist(), "turn": scored["turn"].tolist(),
        "within_turn_id": scored["within_turn_id"].tolist(), "utterance_id": [f"ut{k}" for k in range(39)]}
    assert reg["interactions"].iloc[3:6].to_dict("list") == {"conversation_id": ["c10", "c10", "c11"],
                                                               "turn": [0, 1, 0],
                                                               "interaction_id": ["int3", "int4", "int5"]}
    # A rerun on the same input changes nothing.
    before = (tmp_path / "reg.sqlite").read_bytes()
    pd.testing.assert_frame_equal(assign_ids(scored, np.ones(len(scored), bool), tmp_path / "reg.sqlite"), published())
    assert contents(tmp_path / "reg.sqlite")[2] == {"next_utterance": 39, "next_interaction": 25}
    assert read_registry(tmp_path / "reg.sqlite")["utterances"].equals(reg["utterances"])
    assert len(before) == (tmp_path / "reg.sqlite").stat().st_size


def test_removal_keeps_every_other_id_and_purges_the_participant(tmp_path):
    path = tmp_path / "state" / "id_registry.sqlite"
    scored = scored_rows()
    assign_ids(scored, pd.Series(True, index=scored.index), path)
    assert scan_paths([path.parent], ["c1", "c10"], []) != {}  # the scan can see them before
    keep = keep_without(scored, "user1")
    ids = assign_ids(scored, keep, path)
    pd.testing.assert_frame_equal(ids, published().loc[keep.to_numpy()])
    reg = read_registry(path)
    assert not reg["utterances"]["conversation_id"].isin(["c1", "c10"]).any()
    assert not reg["interactions"]["conversation_id"].isin(["c1", "c10"]).any()
    assert len(reg["utterances"]) == 39 - 6 and len(reg["interactions"]) == 25 - 3
    assert reg["counters"] == {"next_utterance": 39, "next_interaction": 25}
    # Nothing of them is left in the file's bytes either (secure_delete, no WAL).
    assert scan_paths([path.parent], ["c1", "c10"], []) == {}
    assert sorted(p.name for p in path.parent.iterdir()) == ["id_registry.sqlite"]


def many_conversations() -> pd.DataFrame:
    return scored_rows([(f"c{i}", f"user{i % 97}", [(t, [0, 1, 2, 3] if t == 0 else [0, 1]) for t in range(i % 5 + 1)])
                        for i in range(600)])


def test_every_stored_id_is_visible_to_the_scanner(tmp_path):
    # The layout keeps every stored id between non-alphanumeric bytes: each is seen in its
    # table row and in its unique index entry (plus a few stale copies of live rows that page
    # splits leave behind), none is hidden by a neighbouring byte.
    scored = many_conversations()
    path = tmp_path / "reg.sqlite"
    ids = assign_ids(scored, np.ones(len(scored), bool), path)
    n_ut, n_int = len(ids), ids["interaction_id"].nunique()
    assert (n_ut, n_int) == (4800, 1800)
    assert scan_paths([path], ids["utterance_id"].tolist(), []) == {str(path): pytest.approx(2 * n_ut, abs=3)}
    assert scan_paths([path], ids["interaction_id"].unique().tolist(), []) == {
        str(path): pytest.approx(2 * n_int, abs=3)}
    assert scan_paths([path], ["c600", "ut4800", "int1800", "c6000"], []) == {}


def test_purge_leaves_no_bytes_in_a_multi_page_registry(tmp_path):
    # With secure_delete alone, stale copies left by b-tree rebalancing survived this purge;
    # the VACUUM after it removes them.
    scored = many_conversations()
    path = tmp_path / "reg.sqlite"
    ids = assign_ids(scored, np.ones(len(scored), bool), path)
    removed = ["user78", "user39", "user29", "user8", "user60", "user80", "user81"]
    mask = scored["user_id"].isin(removed).to_numpy()
    traces = (sorted(set(scored.loc[mask, "conversation_id"])) + ids.loc[mask, "utterance_id"].tolist()
              + sorted(set(ids.loc[mask, "interaction_id"])))
    assert len(traces) == 513 and scan_paths([path], traces, []) != {}
    assign_ids(scored, ~mask, path)
    assert scan_paths([tmp_path], traces, []) == {}
    assert scan_paths([tmp_path], ["c6", "ut6", "int6"], []) != {}  # the kept ones are still there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reg.sqlite"]


def test_a_vacuum_cut_short_is_done_by_the_next_run(tmp_path, monkeypatch):
    scored = many_conversations()
    path = tmp_path / "reg.sqlite"
    assign_ids(scored, np.ones(len(scored), bool), path)
    keep = keep_without(scored, "user78", "user39", "user29", "user8", "user60", "user80", "user81")
    gone = sorted(set(scored.loc[~keep, "conversation_id"]))

    class Interrupted(Exception):
        pass

    def interrupted(conn, value):
        if not value:  # clearing the flag is the step after the VACUUM
            raise Interrupted
        real_set(conn, value)

    real_set = registry._set_vacuum_pending
    real_connect = registry._connect
    monkeypatch.setattr(registry, "_set_vacuum_pending", interrupted)
    monkeypatch.setattr(registry, "_connect", lambda p: _no_vacuum(real_connect(p)))
    with pytest.raises(Interrupted):
        assign_ids(scored, keep, path)
    monkeypatch.undo()
    assert read_registry(path)["utterances"]["conversation_id"].isin(gone).sum() == 0  # purge committed
    assert scan_paths([path], gone, []) != {}  # but stale bytes remain until the VACUUM
    ids = assign_ids(scored, keep, path)  # nothing to purge now: the pending flag triggers the VACUUM
    assert scan_paths([path], gone, []) == {}
    pd.testing.assert_frame_equal(ids, assign_ids(scored, keep, path))


class _no_vacuum:
    """A connection wrapper that skips VACUUM (to simulate a crash before it)."""

    def __init__(self, conn):
        self._conn = conn

    def execute(self, sql, *args):
        if sql == "VACUUM":
            return None
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_removing_a_then_b_equals_removing_both_at_once(tmp_path):
    scored = scored_rows()
    everyone = pd.Series(True, index=scored.index)
    stepwise, at_once = tmp_path / "stepwise.sqlite", tmp_path / "at_once.sqlite"
    assign_ids(scored, everyone, stepwise)
    assign_ids(scored, keep_without(scored, "user1"), stepwise)
    ids_stepwise = assign_ids(scored, keep_without(scored, "user1", "user5"), stepwise)
    assign_ids(scored, everyone, at_once)
    ids_at_once = assign_ids(scored, keep_without(scored, "user1", "user5"), at_once)
    pd.testing.assert_frame_equal(ids_stepwise, ids_at_once)
    assert contents(stepwise) == contents(at_once)
    assert not read_registry(at_once)["utterances"]["conversation_id"].isin(["c1", "c6", "c7", "c10"]).any()


def test_new_items_get_numbers_above_every_earlier_one(tmp_path):
    path = tmp_path / "reg.sqlite"
    scored = scored_rows()
    assign_ids(scored, np.ones(len(scored), bool), path)
    assign_ids(scored, keep_without(scored, "user1"), path)
    # Later data: a new turn in c0 (inside the file) and a new conversation c12 at the end.
    later = [(c, o, turns + [(2, [0, 1])] if c == "c0" else turns) for c, o, turns in CONVERSATIONS]
    later.append(("c12", "user8", [(0, [1, 0])]))
    scored2 = scored_rows(later)
    keep = keep_without(scored2, "user1")
    ids = assign_ids(scored2, keep, path)
    old = published().loc[keep_without(scored, "user1").to_numpy()]
    expected = pd.concat([old.iloc[:4],
                          pd.DataFrame({"utterance_id": ["ut39", "ut40"], "interaction_id": ["int25", "int25"]}),
                          old.iloc[4:],
                          pd.DataFrame({"utterance_id": ["ut41", "ut42"], "interaction_id": ["int26", "int26"]})])
    assert ids.to_dict("list") == expected.to_dict("list")
    assert ids.index.tolist() == scored2.index[keep.to_numpy()].tolist()
    assert read_registry(path)["counters"] == {"next_utterance": 43, "next_interaction": 27}
    # The removed participant never comes back with their old numbers.
    back = assign_ids(scored2, np.ones(len(scored2), bool), path)
    assert back.loc[scored2["conversation_id"] == "c1", "utterance_id"].tolist() == ["ut43", "ut44"]
    assert back.loc[scored2["conversation_id"] == "c10", "interaction_id"].tolist() == ["int28"] * 2 + ["int29"] * 2


def test_first_build_with_a_participant_already_removed(tmp_path):
    path = tmp_path / "reg.sqlite"
    scored = scored_rows()
    keep = keep_without(scored, "user1")
    ids = assign_ids(scored, keep, path)
    pd.testing.assert_frame_equal(ids, published().loc[keep.to_numpy()])
    reg = read_registry(path)
    assert reg["counters"] == {"next_utterance": 39, "next_interaction": 25}
    assert not reg["utterances"]["conversation_id"].isin(["c1", "c10"]).any()
    assert len(reg["interactions"]) == 22
    assert scan_paths([tmp_path], ["c1", "c10"], []) == {}
    pd.testing.assert_frame_equal(assign_ids(scored, keep, path), ids)


def test_removed_utterance_inside_a_kept_interaction(tmp_path):
    path = tmp_path / "reg.sqlite"
    scored = scored_rows()
    assign_ids(scored, np.ones(len(scored), bool), path)
    keep = np.ones(len(scored), bool)
    keep[1] = False  # c0 t0 w0 only: its key goes, the interaction c0 t0 stays (ut0 still uses it)
    ids = assign_ids(scored, keep, path)
    pd.testing.assert_frame_equal(ids, published().loc[keep])
    reg = read_registry(path)
    assert "ut1" not in reg["utterances"]["utterance_id"].tolist() and len(reg["utterances"]) == 38
    assert len(reg["interactions"]) == 25


def test_an_exception_mid_transaction_leaves_the_registry_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "reg.sqlite"
    scored = scored_rows()
    assign_ids(scored, np.ones(len(scored), bool), path)
    before, before_bytes = contents(path), path.read_bytes()
    real_insert = registry._insert
    calls = []

    def failing_insert(conn, table, rows):
        real_insert(conn, table, rows)  # the purge and this insert have run inside the transaction
        calls.append(table)
        raise RuntimeError("boom")

    monkeypatch.setattr(registry, "_insert", failing_insert)
    scored2 = scored_rows(CONVERSATIONS + [("c12", "user8", [(0, [0, 1])])])
    with pytest.raises(RuntimeError, match="boom"):
        assign_ids(scored2, keep_without(scored2, "user1"), path)
    assert calls == ["utterances"]
    assert contents(path) == before
    assert path.read_bytes() == before_bytes
    # The same on a fresh registry: the failed seed leaves no ids and no counters.
    with pytest.raises(RuntimeError, match="boom"):
        assign_ids(scored, np.ones(len(scored), bool), tmp_path / "fresh.sqlite")
    assert read_registry(tmp_path / "fresh.sqlite")["counters"] == {}


def test_a_killed_process_leaves_the_registry_unchanged(tmp_path):
    path = tmp_path / "reg.sqlite"
    scored = scored_rows()
    assign_ids(scored, np.ones(len(scored), bool), path)
    before = contents(path)
    scored.to_pickle(tmp_path / "scored.pkl")
    script = textwrap.dedent(f"""
        import os
        import pandas as pd
        from prism_pipeline.prism.conversation_tables import registry
        real = registry._insert
        def die(conn, table, rows):
            real(conn, table, rows)
            os._exit(9)  # no rollback, no cleanup: like SIGKILL
        registry._insert = die
        scored = pd.read_pickle({str(tmp_path / "scored.pkl")!r})
        scored = pd.concat([scored, pd.DataFrame({{"conversation_id": ["c12"], "user_id": ["user8"], "turn": [0],
                                                  "within_turn_id": [0]}})], ignore_index=True)
        registry.assign_ids(scored, (scored["user_id"] != "user1").to_numpy(), {str(path)!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    assert (tmp_path / "reg.sqlite-journal").exists()
    assert contents(path) == before
    # The next run applies the removal and leaves neither a journal nor a byte of user1.
    assign_ids(scored, keep_without(scored, "user1"), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reg.sqlite", "scored.pkl"]
    assert scan_paths([path], ["c1", "c10"], []) == {}


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.drop(columns="turn"), r"scored lacks columns \['turn'\]"),
    (lambda s: s.assign(conversation_id=s["conversation_id"].where(s.index != 3, None)),
     "scored.conversation_id must be strings without missing values"),
    (lambda s: s.assign(turn=s["turn"].astype("float64")), "scored.turn must be integers without missing values"),
    (lambda s: pd.concat([s, s.iloc[[5]]], ignore_index=True),
     r"1 scored rows repeat an earlier \(conversation_id, turn, within_turn_id\); first at row 39"),
])
def test_bad_input(tmp_path, mutate, message):
    scored = mutate(scored_rows())
    with pytest.raises(ValueError, match=f"^{message}$"):
        assign_ids(scored, np.ones(len(scored), bool), tmp_path / "reg.sqlite")


def test_keep_must_align(tmp_path):
    scored = scored_rows()
    with pytest.raises(ValueError, match="^keep must have the same index as scored$"):
        assign_ids(scored, pd.Series(True, index=scored.index + 1), tmp_path / "reg.sqlite")
    with pytest.raises(ValueError, match="^keep must be a bool vector with one value per scored row$"):
        assign_ids(scored, np.ones(len(scored) - 1, bool), tmp_path / "reg.sqlite")


def test_forget_conversations_deletes_their_ids_and_keeps_the_counters(tmp_path):
    from prism_pipeline.prism.conversation_tables.registry import forget_conversations

    path = tmp_path / "state" / "id_registry.sqlite"
    scored = scored_rows()
    assign_ids(scored, pd.Series(True, index=scored.index), path)
    before = read_registry(path)
    assert forget_conversations(path, ["c1", "c10", "c999"]) == 6 + 3
    reg = read_registry(path)
    assert not reg["utterances"]["conversation_id"].isin(["c1", "c10"]).any()
    assert len(reg["utterances"]) == 39 - 6 and len(reg["interactions"]) == 25 - 3
    assert reg["counters"] == before["counters"] == {"next_utterance": 39, "next_interaction": 25}
    assert scan_paths([path.parent], ["c1", "c10"], []) == {}  # VACUUMed: no stale page keeps them
    assert scan_paths([path.parent], ["c0"], []) != {}
    # A later build gives everyone else the same ids as before.
    keep = keep_without(scored, "user1")
    pd.testing.assert_frame_equal(assign_ids(scored, keep, path), published().loc[keep.to_numpy()])
    assert forget_conversations(path, []) == 0 and forget_conversations(tmp_path / "missing.sqlite", ["c1"]) == 0
