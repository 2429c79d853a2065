"""Only what changed reruns (sources/): observed file and settings versions, the unsynced closure,
the "nothing changed" stamp, and the erasure's observations of what it redacted."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from prism_pipeline.core.removal.requests import add_request
from prism_pipeline.core.sources import stamp
from prism_pipeline.core.sources.observations import latest_observed_version, source_path
from prism_pipeline.core.sources.staleness import observe_sources, unsynced_assets
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline.prism.inputs.parse import read_survey
from prism_pipeline.prism.sampling.resources import SamplingSettings
from prism_pipeline_tests.pipeline import make_defs, run_job

SURVEY_DOWNSTREAM = {"survey_input", "text_instances", "text_flags", "metadata_table", "pii_review_evidence",
                     "uk_rep_sample", "us_rep_sample", "census_weights", "survey_release", "conversations_release",
                     "utterances_release", "metadata_release", "removal_ledger"}


@pytest.fixture
def world(tiny_release, tmp_path):
    world = tiny_release.copy(tmp_path / "w")
    yield tuple(world)
    world.instance.dispose()


def _keys(keys) -> set[str]:
    return {k.to_user_string() for k in keys}


def _edit_survey(raw) -> None:
    path = raw / "survey.jsonl"
    records = [json.loads(x) for x in path.read_text().splitlines()]
    records[0]["timing_duration_s"], records[0]["timing_duration_mins"] = 660.0, 11.0
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.mark.slow
def test_only_what_a_change_affects_is_unsynced(world, tmp_path):
    from prism_pipeline.core.hashing import sha256_path

    raw, out, state, instance, defs = world
    paths = defs.resources["paths"]
    # The full run observed every source: data version = sha256 of the file ("absent" if missing).
    for key in (f.key for f in DATASET.source_files):
        assert latest_observed_version(instance, key) == sha256_path(source_path(DATASET, paths, key)), key
    assert latest_observed_version(instance, "utterances_jsonl") == "absent"
    assert observe_sources(instance, defs, DATASET) == 0
    assert unsynced_assets(instance, defs) == set()

    # The stamp that lets the CLI skip loading Dagster holds while nothing changes.
    home = str(tmp_path / "w" / "dagster_home")
    dirs = {"raw": str(raw), "state": str(state)}
    sources = {f.key: str(source_path(DATASET, paths, f.key)) for f in DATASET.source_files}
    written = [str(out / name) for name in DATASET.release_files] + [str(state / "assets")]
    assert not stamp.is_current(state, dirs, home)  # none recorded yet
    stamp.record(state, dirs, sources, home, written)
    assert stamp.is_current(state, dirs, home)
    metadata = (out / "metadata.jsonl").read_bytes()
    (out / "metadata.jsonl").unlink()
    assert not stamp.is_current(state, dirs, home)  # a release file deleted
    (out / "metadata.jsonl").write_bytes(metadata)
    stamp.record(state, dirs, sources, home, written)
    (state / "assets" / "survey_input").touch()
    assert not stamp.is_current(state, dirs, home)  # a stored table touched
    stamp.record(state, dirs, sources, home, written)
    assert stamp.is_current(state, dirs, home)
    assert not stamp.is_current(state, {**dirs, "raw": str(tmp_path)}, home)  # other folders
    assert not stamp.is_current(state, dirs, None)  # no persistent history to compare

    # A changed setting: the samples, not the flags (nothing is run for this).
    other = make_defs(raw, out, state, sampling=SamplingSettings(rep_seed=7))
    assert observe_sources(instance, other, DATASET) == 1  # sampling_config
    assert {"balanced_subset", "census_cells", "uk_rep_sample", "us_rep_sample"} <= _keys(
        unsynced_assets(instance, other))
    assert "text_flags" not in _keys(unsynced_assets(instance, other))
    assert observe_sources(instance, defs, DATASET) == 1  # back to the defaults
    assert unsynced_assets(instance, defs) == set()

    # A changed raw file: exactly the assets downstream of it.
    _edit_survey(raw)
    assert not stamp.is_current(state, dirs, home)
    assert unsynced_assets(instance, defs) == set()  # not yet observed
    assert observe_sources(instance, defs, DATASET) == 1
    assert _keys(unsynced_assets(instance, defs)) == SURVEY_DOWNSTREAM
    job = defs.resolve_job_def("full_release").get_subset(asset_selection=unsynced_assets(instance, defs))
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == SURVEY_DOWNSTREAM
    assert unsynced_assets(instance, defs) == set()
    stamp.record(state, dirs, sources, home, written)
    assert stamp.is_current(state, dirs, home)
    assert run_job(defs, instance=instance).success
    assert not stamp.is_current(state, dirs, home)  # a run happened since


def test_erasure_records_an_observation_on_every_table_it_redacted(world):
    raw, _, state, instance, defs = world
    add_request(state, "user1", read_survey(raw / "survey.jsonl")["user_id"], dt.date(2026, 12, 1))
    result = run_job(defs, "removal_rerun", instance=instance)
    assert result.success
    observed = {e.asset_key.to_user_string(): e.event_specific_data.asset_observation.metadata
                for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"}
    assert {"survey_input", "conversations_input", "conversation_history", "text_instances", "text_flags",
            "utterances", "interactions", "metadata_table", "balanced_subset"} <= set(observed)
    survey = observed["survey_input"]
    assert (survey["redacted_by"].value, survey["rows_removed"].value, survey["removal_requests"].value) == (
        "erasure", 1, ["rr-0001"])
    assert all(m["rows_removed"].value > 0 for m in observed.values())
