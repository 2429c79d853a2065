"""Nothing is lost to timing (issue: one writer at a time): a removal that arrives during a run
is never published, an erasure cut short is completed exactly, and `--unsynced` checks the
files themselves. The real processes and SIGKILLs are in test_faults.py (slow tier)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import dagster as dg
import pandas as pd
import pytest

from prism_pipeline.core import state_store
from prism_pipeline.core.atomic import staged
from prism_pipeline.core.release.publish import publish_release
from prism_pipeline.core.removal import redact
from prism_pipeline.core.removal.jobs import missing_before_removal
from prism_pipeline.core.removal.requests import (
    RemovalArrived,
    add_request,
    check_none_arrived,
    load_or_create_salt,
    user_hash,
)
from prism_pipeline.core.resources import DatasetPaths
from prism_pipeline.core.sources.staleness import files_out_of_sync, unsynced_assets
from prism_pipeline.prism.dataset import DATASET

USERS = pd.Series(["user0", "user1", "user2"], dtype="str")
RERUN = "prism-pipeline run --job removal_rerun"


def test_a_request_that_arrived_for_a_participant_of_the_release_stops_it(tmp_path):
    check_none_arrived(tmp_path, {"user0", "user1"}, RERUN)  # no requests file: nothing arrived
    add_request(tmp_path, "user2", USERS, pd.Timestamp("2026-12-01").date())
    check_none_arrived(tmp_path, {"user0", "user1"}, RERUN)  # user2 is not in this release
    add_request(tmp_path, "user1", USERS, pd.Timestamp("2026-12-02").date())
    with pytest.raises(RemovalArrived) as err:
        check_none_arrived(tmp_path, {"user0", "user1", "user2"}, RERUN)
    assert str(err.value) == (
        "removal requests rr-0001, rr-0002 arrived during this run for participants of this release, so it was not "
        "published (the previous release is unchanged): apply them with `prism-pipeline run --job removal_rerun` "
        "(under the Dagster daemon the removal sensor does it)")


def test_a_refusal_right_before_the_rename_leaves_the_previous_release(tmp_path):
    publish_release(tmp_path, ("a.jsonl",), lambda: {"a.jsonl": [{"user_id": "user0"}]}, lambda fresh: fresh,
                    removing=False, recorded=None, kept_user_ids={"user0"}, carry=None, before_commit=lambda _: None)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    seen = []

    def refuse(user_ids):
        seen.append(user_ids)
        raise RemovalArrived("arrived")

    with pytest.raises(RemovalArrived):
        publish_release(tmp_path, ("a.jsonl",), lambda: {"a.jsonl": [{"user_id": "user1"}]}, lambda fresh: fresh,
                        removing=False, recorded=None, kept_user_ids={"user1"}, carry=None, before_commit=refuse,
                        card=lambda written, on_disk: "card\n")
    assert seen == [{"user1"}]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no card, no temporary file


def test_a_staged_file_left_by_a_killed_process_is_deleted_by_the_next_writer(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = tmp_path / f".a.jsonl.tmp-{int(dead.stdout)}"
    alive = tmp_path / f".a.jsonl.tmp-{os.getppid()}"  # another writer still at work
    left.write_bytes(b"old")
    alive.write_bytes(b"theirs")
    with staged(tmp_path / "a.jsonl") as (fh, tmp):
        fh.write(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, tmp.name])


def test_prism_redacts_the_tables_that_tell_what_to_drop_last():
    order = [asset for asset, _ in redact.redaction_order(DATASET)]
    assert order[-6:] == ["pii_manual_review", "pii_review_evidence", "text_flags", "text_instances",
                          "conversations_input", "survey_input"]
    assert sorted(order) == sorted(asset for asset, _ in DATASET.stored_tables)
    from prism_pipeline.thoughttrace.dataset import DATASET as THOUGHTTRACE

    # one table gives both the participants and their conversations
    assert [asset for asset, _ in redact.redaction_order(THOUGHTTRACE)][-5:] == [
        "pii_manual_review", "pii_review_evidence", "text_flags", "text_instances", "conversations"]


def _stored(state):
    return {asset: state_store.read(state_store.table_path(state, [asset])) for asset, _ in DATASET.stored_tables
            if state_store.table_path(state, [asset]).exists()}


@pytest.mark.parametrize("cut_after", [1, 5, 11, 12, 13, 14])  # of 15 drops
def test_an_erasure_cut_short_after_any_table_is_completed_exactly(tiny_release, tmp_path, monkeypatch, cut_after):
    clean, cut = tmp_path / "clean", tmp_path / "cut"
    for target in (clean, cut):
        shutil.copytree(tiny_release.state, target)
    salt = load_or_create_salt(clean)
    shutil.copy(clean / "removal_salt", cut / "removal_salt")
    requested = {user_hash("user1", salt)}
    done = redact.redact_state(clean, DATASET, requested, salt)
    assert not done.resumed and done.found_user_hashes == requested

    drop, calls = state_store.drop_rows, []

    def crash_after(path, column, values):  # the process dies here: nothing after it runs
        if len(calls) == cut_after:
            raise SystemExit("killed")
        calls.append(path)
        return drop(path, column, values)

    monkeypatch.setattr(state_store, "drop_rows", crash_after)
    with pytest.raises(SystemExit):
        redact.redact_state(cut, DATASET, requested, salt)
    monkeypatch.setattr(state_store, "drop_rows", drop)
    assert (cut / redact.PROGRESS_FILENAME).exists()
    resumed = redact.redact_state(cut, DATASET, requested, salt)
    assert resumed.resumed and not (cut / redact.PROGRESS_FILENAME).exists()
    expected, got = _stored(clean), _stored(cut)
    assert got.keys() == expected.keys()
    for asset, frame in expected.items():
        if isinstance(frame, pd.DataFrame):
            pd.testing.assert_frame_equal(got[asset], frame, obj=asset)


def test_unsynced_sees_a_deleted_or_edited_release_file_and_a_missing_stored_table(tiny_release, tmp_path):
    raw, out, state, instance, defs = tiny_release.copy(tmp_path / "w")
    paths = DatasetPaths(raw_dir=str(raw), output_dir=str(out), state_dir=str(state),
                         reference_dir=str(DATASET.default_dirs["reference"]))
    assert files_out_of_sync(instance, defs, DATASET, paths) == {}
    (out / "metadata.jsonl").unlink()
    (out / "survey.jsonl").write_text("{}\n")
    table = state_store.table_path(state, ["census_weights"])
    table.unlink()
    found = files_out_of_sync(instance, defs, DATASET, paths)
    assert {k.to_user_string(): why for k, why in found.items()} == {
        "metadata_release": "metadata.jsonl is missing from the release folder",
        "survey_release": "survey.jsonl is not the file this pipeline wrote (its sha256 differs)",
        "census_weights": "its stored table assets/census_weights is missing from the state folder"}
    unsynced = {k.to_user_string() for k in unsynced_assets(instance, defs, set(found))}
    # the release is one multi-asset: all four files; the ledger and the leak check after it
    assert {"census_weights", "survey_release", "conversations_release", "utterances_release", "metadata_release",
            "removal_ledger"} <= unsynced
    assert "text_flags" not in unsynced and "survey_input" not in unsynced
    assert missing_before_removal(DATASET, paths) == (
        f"1 stored tables are missing from {state.resolve()} (census_weights): a full run failed or was stopped "
        "before writing them, or they were deleted; run `prism-pipeline run --unsynced` first, which restores them "
        "and applies every removal request")
    assert dg.AssetKey("census_weights") in found
