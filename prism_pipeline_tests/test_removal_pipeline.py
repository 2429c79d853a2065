"""Removal requests end to end (codebook §3.4, SPEC §7.7): erase one participant everywhere,
keep everyone else's ids and flags, record the ledger, and prove it."""

import datetime as dt
import json

import dagster as dg
import pandas as pd
import pytest

from prism_pipeline.core.hashing import sha256_file
from prism_pipeline.core.removal.event_log import event_log_matches
from prism_pipeline.core.removal.ledger import read_ledger
from prism_pipeline.core.removal.requests import add_request
from prism_pipeline.core.removal.scan import scan_paths
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline_tests.pipeline import TINY_PARTITION_MIN_ROWS, run_job, tiny_raw_dir
from prism_pipeline_tests.pipeline import make_defs as _make_defs

FILES = ("survey.jsonl", "conversations.jsonl", "utterances.jsonl", "metadata.jsonl")
PARTITIONED = {"conversation_history", "interactions", "metadata_table", "text_instances", "utterances"}


def make_defs(raw, out, state, **kwargs):
    return _make_defs(raw, out, state, partition_min_rows=TINY_PARTITION_MIN_ROWS, **kwargs)


def _rows(out, name):
    return [json.loads(x) for x in (out / name).read_text().splitlines()]


def _release(out):
    return {name: _rows(out, name) for name in FILES}


def _request(raw, state, user_id):
    from prism_pipeline.prism.inputs.parse import read_survey

    return add_request(state, user_id, read_survey(raw / "survey.jsonl")["user_id"], dt.date(2026, 11, 1))


def _footprint(release, user_id):
    """user, conversation, utterance and interaction ids of one participant in a release."""
    ids = {user_id}
    ids |= {c["conversation_id"] for c in release["conversations.jsonl"] if c["user_id"] == user_id}
    for u in release["utterances.jsonl"]:
        if u["user_id"] == user_id:
            ids |= {u["utterance_id"], u["interaction_id"]}
    return ids


def _written(result, release_asset):
    """How release_files wrote this file in that run: rebuilt or carried forward."""
    [m] = [m for m in result.asset_materializations_for_node("release_files")
           if m.asset_key.to_user_string() == release_asset]
    return m.metadata["written"].value


def _without(release, user_id):
    return {name: [r for r in rows if r["user_id"] != user_id] for name, rows in release.items()}


def _world(tiny_release, target):
    return tuple(tiny_release.copy(target))


@pytest.fixture
def world(tiny_release, tmp_path):
    return _world(tiny_release, tmp_path / "w")


def test_removal_erases_one_participant_and_keeps_everyone_else(world, tmp_path):
    raw, out, state, instance, defs = world
    before = _release(out)
    before_sha = {name: sha256_file(out / name) for name in FILES}
    gone = _footprint(before, "user1")
    assert len(gone) > 5

    request_id = _request(raw, state, "user1")
    assert request_id == "rr-0001"
    result = run_job(defs, "removal_rerun", instance=instance)
    assert result.success
    after = _release(out)

    # Everyone else's rows are unchanged: same ids, same flags, same order (the tiny dataset's
    # census cells are not full, so in reference mode nobody else's REP flag moves).
    assert after == _without(before, "user1")
    # Nothing of user1 remains: release, private state, and the Dagster instance's event log.
    assert scan_paths([out, state], gone, []) == {}
    assert event_log_matches(instance, gone, []) == 0
    assert event_log_matches(instance, {"user0", "c0"}, []) == 0  # ids are never logged at all
    check = next(e.asset_check_evaluation_data for e in result.all_events
                 if e.event_type_value == "ASSET_CHECK_EVALUATION"
                 and e.asset_check_evaluation_data.check_name == "erasure_verified")
    assert check.passed and check.metadata["identifiers_scanned"].value == len(gone)

    [entry] = read_ledger(state / "removal_ledger.jsonl")
    assert entry["request_id"] == "rr-0001" and entry["run_id"] == result.run_id
    assert entry["received"] == "2026-11-01"
    n_conv = sum(c["user_id"] == "user1" for c in before["conversations.jsonl"])
    n_utt = sum(u["user_id"] == "user1" for u in before["utterances.jsonl"])
    assert entry["rows_removed"] == {
        "survey.jsonl": 1, "conversations.jsonl": n_conv, "utterances.jsonl": n_utt,
        "metadata.jsonl": sum(m["user_id"] == "user1" for m in before["metadata.jsonl"])}
    assert entry["release_sha256_before"] == before_sha
    assert entry["release_sha256_after"] == {name: sha256_file(out / name) for name in FILES}
    assert "user1" not in (state / "removal_ledger.jsonl").read_text()
    # Nothing was re-flagged or rebuilt: the run materialised only the removal assets and
    # redacted the stored tables in place, working from the stored state, not the raw files.
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == set(DATASET.removal_run_assets)
    [erased] = result.asset_materializations_for_node("erasure")
    assert erased.metadata["footprint_from"].value == "stored state"
    assert erased.metadata["stored_rows_removed"].value["text_flags"] == entry["rows_removed"]["metadata.jsonl"]
    assert _written(result, "metadata_release") == "carried forward without removed participants"


def test_two_removals_in_sequence_equal_both_at_once(world, tiny_release, tmp_path):
    raw, out, state, instance, defs = world
    _request(raw, state, "user0")
    assert run_job(defs, "removal_rerun", instance=instance).success
    _request(raw, state, "user3")
    assert run_job(defs, "removal_rerun", instance=instance).success
    sequential = {name: (out / name).read_bytes() for name in FILES}

    raw2, out2, state2, instance2, defs2 = _world(tiny_release, tmp_path / "w2")
    _request(raw2, state2, "user0")
    _request(raw2, state2, "user3")
    assert run_job(defs2, "removal_rerun", instance=instance2).success
    assert {name: (out2 / name).read_bytes() for name in FILES} == sequential
    assert [e["request_id"] for e in read_ledger(state / "removal_ledger.jsonl")] == ["rr-0001", "rr-0002"]


def test_event_log_scan_finds_an_id_logged_in_any_run(world):
    """An id written into a log message of any run is found, and counted once per mention."""
    _, _, _, instance, _ = world

    @dg.op
    def careless(context):
        context.log.info("looked at user3, c12 and user3 again")

    @dg.job
    def careless_job():
        careless()

    assert event_log_matches(instance, {"user3", "c12"}, []) == 0  # the pipeline's own runs log no id
    assert careless_job.execute_in_process(instance=instance).success
    assert event_log_matches(instance, {"user3", "c12"}, []) == 3  # one log event: user3 twice, c12 once
    assert event_log_matches(instance, {"c12"}, []) == 1
    assert event_log_matches(instance, {"user4"}, []) == 0


def _stored(state):
    from prism_pipeline.core import state_store

    return {asset: state_store.read(state_store.table_path(state, [asset])) for asset, _ in DATASET.stored_tables
            if state_store.table_path(state, [asset]).exists()}


@pytest.mark.slow
def test_removal_run_equals_a_full_rebuild(world, tiny_release, tmp_path):
    """The redaction (removal_rerun) and a rebuild from the raw files with the request applied
    (full_release) give the same release, byte for byte, and the same stored tables."""
    raw, out, state, instance, defs = world
    _request(raw, state, "user1")
    assert run_job(defs, "removal_rerun", instance=instance).success

    raw2, out2, state2, instance2, defs2 = _world(tiny_release, tmp_path / "w2")
    _request(raw2, state2, "user1")
    rebuilt = run_job(defs2, "full_release", instance=instance2)
    assert rebuilt.success
    assert _written(rebuilt, "metadata_release") == "rebuilt"
    assert {n: (out / n).read_bytes() for n in FILES} == {n: (out2 / n).read_bytes() for n in FILES}
    redacted, recomputed = _stored(state), _stored(state2)
    assert redacted.keys() == recomputed.keys() and "text_flags" in redacted
    for asset, frame in recomputed.items():
        pd.testing.assert_frame_equal(redacted[asset], frame, obj=asset)


def test_every_stored_table_with_participant_rows_is_redacted(tiny_release):
    """A new asset holding participant rows must be added to DATASET.stored_tables (the leak check
    would catch it, but only after a removal)."""
    from prism_pipeline.core import state_store

    redacted = {asset for asset, _ in DATASET.stored_tables}
    # every asset's table (a file, or a partitioned table's folder); not the runs' op outputs
    stored = [p for p in (tiny_release.state / "assets").iterdir()
              if p.is_file() or (p / state_store.MANIFEST).exists()]
    assert {p.name for p in stored if p.is_dir()} == PARTITIONED
    with_ids = {p.name for p in stored
                if any(DATASET.id_column_re.fullmatch(str(c)) for c in getattr(state_store.read(p), "columns", []))}
    assert with_ids and with_ids <= redacted
    # text_flags (row-aligned with text_instances), the reviews and the PII evidence (by text hash)
    # have no id column; the optional published files are empty frames here.
    assert with_ids == redacted - {"text_flags", "pii_manual_review", "pii_review_evidence", "utterances_input",
                                   "published_moderation"}


def test_release_is_rebuilt_when_an_upstream_table_changed_since_it_was_written(world):
    raw, out, state, instance, defs = world
    assert defs.resolve_job_def("__ASSET_JOB").get_subset(asset_selection={dg.AssetKey("metadata_table")}) \
        .execute_in_process(instance=instance).success
    _request(raw, state, "user1")
    result = run_job(defs, "removal_rerun", instance=instance)
    assert result.success
    assert _written(result, "metadata_release") == "rebuilt"
    assert "user1" not in {r["user_id"] for r in _rows(out, "metadata.jsonl")}


def test_release_edited_by_hand_is_rebuilt_not_carried_forward(world):
    raw, out, state, instance, defs = world
    survey = out / "survey.jsonl"
    survey.write_bytes(survey.read_bytes().replace(b'"user0"', b'"userX"', 1))
    _request(raw, state, "user1")
    result = run_job(defs, "removal_rerun", instance=instance)
    assert result.success
    assert _written(result, "survey_release") == "rebuilt"
    assert [r["user_id"] for r in _rows(out, "survey.jsonl")] == ["user0", "user2", "user3", "user4", "user5"]


def test_rep_chart_is_redrawn_only_for_the_country_whose_cells_changed(world):
    raw, out, state, instance, defs = world

    def chart_meta(asset):
        meta = instance.get_latest_materialization_event(dg.AssetKey(asset)).asset_materialization.metadata
        return meta["cells_sha256"].value, meta["census_vs_sample_chart"].value

    uk_before, us_before = chart_meta("uk_rep_sample"), chart_meta("us_rep_sample")
    _request(raw, state, "user1")  # in the UK pool; the tiny dataset has nobody in the US one
    assert run_job(defs, "removal_rerun", instance=instance).success
    uk_after, us_after = chart_meta("uk_rep_sample"), chart_meta("us_rep_sample")
    assert uk_after[0] != uk_before[0] and uk_after[1] != uk_before[1]
    assert us_after == us_before


@pytest.mark.slow
def test_removal_run_before_any_build_says_to_run_the_full_release(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    defs = make_defs(raw, tmp_path / "release", tmp_path / "state")
    _request(raw, tmp_path / "state", "user1")
    result = run_job(defs, "removal_rerun")
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "erasure"
    assert failure.step_failure_data.user_failure_data.description == (
        f"nothing is stored under {(tmp_path / 'state').resolve()} yet, so there is nothing to redact: run "
        "`prism-pipeline run` (the full_release job applies every removal request)")
    assert not (tmp_path / "release").exists()


# survey.jsonl is staged by the step's own thread, the carried files each by a pool thread
@pytest.mark.parametrize("blocked", ["survey.jsonl", "utterances.jsonl"])
def test_a_removal_run_that_fails_after_the_erasure_is_completed_by_the_next_one(world, blocked):
    import hashlib
    import os

    raw, out, state, instance, defs = world
    before = _release(out)
    before_bytes = {n: (out / n).read_bytes() for n in FILES}
    gone = _footprint(before, "user1")
    _request(raw, state, "user1")
    blocker = out / f".{blocked}.tmp-{os.getpid()}"  # the writer cannot create its temp file
    blocker.mkdir()
    failed = run_job(defs, "removal_rerun", instance=instance)
    assert not failed.success
    assert {n: (out / n).read_bytes() for n in FILES} == before_bytes  # previous release intact
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [blocker.name]  # no staged file left
    assert not (state / "removal_ledger.jsonl").exists()
    assert scan_paths([state / "assets"], gone, []) == {}  # the stored tables are already redacted

    blocker.rmdir()
    result = run_job(defs, "removal_rerun", instance=instance)
    assert result.success
    [erased] = result.asset_materializations_for_node("erasure")
    assert erased.metadata["footprint_from"].value == "raw files"  # the stored state no longer knows them
    assert _release(out) == _without(before, "user1")
    assert scan_paths([out, state], gone, []) == {}
    [entry] = read_ledger(state / "removal_ledger.jsonl")
    assert entry["request_id"] == "rr-0001" and entry["run_id"] == result.run_id
    assert entry["release_sha256_before"] == {n: hashlib.sha256(b).hexdigest() for n, b in before_bytes.items()}
    assert entry["rows_removed"]["survey.jsonl"] == 1
    assert entry["rows_removed"]["utterances.jsonl"] == sum(u["user_id"] == "user1" for u in before["utterances.jsonl"])


def test_bad_requests_are_refused_without_side_effects(world):
    from prism_pipeline.core.removal.requests import RemovalRequestError

    raw, out, state, instance, defs = world
    with pytest.raises(RemovalRequestError, match="^unknown user id$"):
        _request(raw, state, "user999")
    _request(raw, state, "user4")
    with pytest.raises(RemovalRequestError, match="^already requested as rr-0001$"):
        _request(raw, state, "user4")
    # A malformed requests file fails the run before anything is written.
    before = {name: (out / name).read_bytes() for name in FILES}
    (state / "removal_requests.csv").write_text("request_id,user_hash,received,note\nrr-0002,nothex,2026-11-01,\n")
    result = run_job(defs, "removal_rerun", instance=instance)
    assert not result.success
    assert {name: (out / name).read_bytes() for name in FILES} == before
    assert not (state / "removal_ledger.jsonl").exists()


def test_sensor_launches_a_removal_run_for_new_requests_only(world):
    from prism_pipeline.core.resources import DatasetPaths

    raw, out, state, instance, defs = world
    removal_request_sensor = defs.resolve_sensor_def("removal_request_sensor")
    paths = DatasetPaths(raw_dir=str(raw), output_dir=str(out), state_dir=str(state), reference_dir=str(raw))

    def evaluate():
        with dg.build_sensor_context(instance=instance, resources={"paths": paths}) as context:
            tick = removal_request_sensor.evaluate_tick(context)
        for event in tick.asset_events:  # as the daemon does: the tick's observations go to the instance
            instance.report_runless_asset_event(event)
        return tick

    assert [r.skip_message for r in [evaluate()]] == ["no removal_requests.csv"]
    _request(raw, state, "user2")
    tick = evaluate()
    [request] = tick.run_requests
    assert request.job_name in (None, "removal_rerun") and request.tags["prism/removal_requests"] == "rr-0001"
    # The observation is the removal_requests_csv source asset's version: the sensor keeps no cursor.
    [observation] = tick.asset_events
    assert observation.asset_key == dg.AssetKey("removal_requests_csv")
    assert observation.tags["dagster/data_version"] == sha256_file(state / "removal_requests.csv")
    assert evaluate().skip_message == "requests unchanged since their last observation"
    assert run_job(defs, "removal_rerun", instance=instance).success
    with open(state / "removal_requests.csv", "a") as fh:  # a new file version with nothing new to apply
        fh.write("\n")
    assert evaluate().skip_message == "every request is already applied"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reference", "stable"])
def test_rep_sample_after_a_removal_follows_the_mode(mode, tmp_path):
    from prism_pipeline.prism.sampling.resources import SamplingSettings

    # N = 1 gives every cell a quota of 1: the two White 25-34 women (user1, user3) and the two
    # men (user0, user2) compete for one seat per cell.
    raw = tiny_raw_dir(tmp_path / "raw")
    out, state = tmp_path / "release", tmp_path / "state"
    defs = make_defs(raw, out, state, sampling=SamplingSettings(rep_n=1, rep_mode=mode))
    assert run_job(defs).success
    before = {r["user_id"]: r["included_in_UK_REP"] for r in _rows(out, "survey.jsonl")}
    assert sum(before.values()) == 2
    chosen = next(u for u in ("user1", "user3") if before[u])
    other = "user3" if chosen == "user1" else "user1"
    _request(raw, state, chosen)
    assert run_job(defs, "removal_rerun").success
    after = {r["user_id"]: r["included_in_UK_REP"] for r in _rows(out, "survey.jsonl")}
    assert chosen not in after
    changed = {u for u in after if after[u] != before[u]}
    if mode == "reference":
        assert changed == set()  # frozen: the removed person drops out, the sample shrinks
    else:
        assert changed == {other}  # stable: exactly one replacement, in the same cell


def test_a_removal_deletes_the_shard_cache_files_a_killed_sharded_run_left(world):
    from prism_pipeline.core.flags.cache import DEFAULT_FILENAME, FlagCache, shard_cache_files, shard_cache_path

    raw, out, state, instance, defs = world
    # A run with two flag shards killed before collect_flags leaves its shard files,
    # which hold flags of every text of the shard, the removed participant's included.
    leftover = shard_cache_path(state, 1, 2)
    with FlagCache(leftover) as shard:
        assert shard.merge_from(state / DEFAULT_FILENAME) > 0
    _request(raw, state, "user1")
    assert run_job(defs, "removal_rerun", instance=instance).success
    assert shard_cache_files(state) == [] and sorted(leftover.parent.iterdir()) == []
