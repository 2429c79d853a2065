"""Sharded flagging with one cache file per shard (issue 13): pure merge, read-only lookups,
and the text_flags graph on Dagster's multiprocess executor (one process per step)."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from prism_pipeline.core import state_store
from prism_pipeline.core.flags.cache import (
    DEFAULT_FILENAME,
    SHARD_DIR,
    FlagCache,
    merge_shard_files,
    shard_cache_files,
    shard_cache_path,
)
from prism_pipeline.core.flags.detectors import LANGUAGE_DETECTOR, PII_DETECTOR
from prism_pipeline.core.flags.runner import run_detectors, shard_of, uncached_rows
from prism_pipeline.core.hashing import hash_texts
from prism_pipeline_tests.pipeline import make_defs, recon_release_job, run_job, tiny_raw_dir

SPECS = [LANGUAGE_DETECTOR, PII_DETECTOR]
TEXTS = pd.Series([
    "Hello there, how are you today?", "Bonjour, je m'appelle Marie et j'habite à Lyon.",
    "My e-mail is jane.doe@example.com", "Hello there, how are you today?", None,
    "Ich wohne in der Hauptstraße 12 in Berlin.", "¿Dónde está la biblioteca?", "Call me on 020 7946 0958",
    "What is the capital of Australia?", "Tell me a story about a dragon.", "Questo è un testo italiano.",
], index=range(100, 111), dtype=object)


def entries(path: Path) -> list[tuple]:
    """Every entry of a cache file (the flag_cache view), sorted."""
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT detector_id, version, text_sha256, result FROM flag_cache"))


def test_the_texts_fall_in_every_shard():
    assert set(shard_of(hash_texts(TEXTS).dropna(), 3)) == {0, 1, 2}  # else the tests below prove less


def test_shard_files_merged_equal_the_single_cache(tmp_path):
    with FlagCache(tmp_path / "single" / DEFAULT_FILENAME) as single:
        expected = run_detectors(TEXTS, SPECS, single)
    state = tmp_path / "state"
    for i in range(3):
        with FlagCache(shard_cache_path(state, i, 3)) as shard:
            run_detectors(TEXTS, SPECS, shard, shard=(i, 3))
    assert [p.name for p in shard_cache_files(state)] == [f"shard-{i}-of-3.sqlite" for i in range(3)]
    with FlagCache(state / DEFAULT_FILENAME) as main:
        files, added = merge_shard_files(main, state)
        got = run_detectors(TEXTS, SPECS, main, compute_missing=False)
    assert (files, added) == (3, 2 * 9)  # 9 distinct texts x 2 detectors
    assert entries(state / DEFAULT_FILENAME) == entries(tmp_path / "single" / DEFAULT_FILENAME)
    pd.testing.assert_frame_equal(got, expected)
    assert list((state / SHARD_DIR).iterdir()) == []  # shard files and their -wal/-shm gone


def test_uncached_rows_per_detector_and_shard(tmp_path):
    present = TEXTS.notna().to_numpy()
    shards = np.full(len(TEXTS), -1)
    shards[present] = shard_of(hash_texts(TEXTS).dropna(), 3)
    lang, pii = uncached_rows(TEXTS, SPECS, None, shard=(1, 3))  # no main cache yet: all of shard 1
    assert np.array_equal(lang, shards == 1) and np.array_equal(pii, shards == 1)
    with FlagCache(tmp_path / DEFAULT_FILENAME) as main:
        run_detectors(TEXTS, [LANGUAGE_DETECTOR], main, shard=(0, 3))  # language of shard 0 only
        lang, pii = uncached_rows(TEXTS, SPECS, main, shard=(0, 3))
        assert not lang.any() and np.array_equal(pii, shards == 0)
        lang, pii = uncached_rows(TEXTS, SPECS, main)
        assert np.array_equal(lang, present & (shards != 0)) and np.array_equal(pii, present)


def test_a_read_only_cache_reads_and_never_writes(tmp_path):
    path = tmp_path / DEFAULT_FILENAME
    with FlagCache(path) as cache:
        expected = run_detectors(TEXTS, SPECS, cache)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with FlagCache(path, read_only=True) as reader:
        assert not uncached_rows(TEXTS, SPECS, reader)[0].any()
        # Warm: every result is stored, so the run writes nothing.
        pd.testing.assert_frame_equal(run_detectors(TEXTS, SPECS, reader, compute_missing=False), expected)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.put_many("d", "v", {"0" * 64: {"x": 1}})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    with pytest.raises(FileNotFoundError, match="no cache file at"):
        FlagCache(tmp_path / "missing.sqlite", read_only=True)


# ---------------------------------------------------------------------------------------
# The graph on the multiprocess executor
# ---------------------------------------------------------------------------------------
def text_flags_table(state: Path) -> pd.DataFrame:
    return state_store.read(state_store.table_path(state, ["text_flags"]))


def flags_materialization(result) -> dict:
    [event] = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
               and e.asset_key == dg.AssetKey("text_flags")]
    return {k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()}


@pytest.mark.slow
def test_three_shards_on_the_multiprocess_executor_equal_one_shard_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # inherited by every step process
    raw = tiny_raw_dir(tmp_path / "raw")
    assert run_job(make_defs(raw, tmp_path / "out1", tmp_path / "state1")).success
    expected = text_flags_table(tmp_path / "state1")

    state = tmp_path / "state3"
    defs = make_defs(raw, tmp_path / "out3", state, flag_shards=3)
    # Everything but text_flags and what depends on it, in process; then text_flags alone.
    downstream = dg.AssetSelection.assets("text_flags").downstream().required_multi_asset_neighbors()
    upstream = (dg.AssetSelection.all() - downstream).resolve(
        defs.resolve_asset_graph())
    assert defs.resolve_job_def("full_release").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=sorted(upstream)).success
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:  # persistent: steps share it
        # Step processes fork from a server that has imported the definitions once (each would
        # otherwise import pandas, Dagster and the pipeline anew: seconds per step on 2 cores).
        preload = {"forkserver": {"preload_modules": ["prism_pipeline_tests.pipeline"]}}
        result = dg.execute_job(recon_release_job(raw, tmp_path / "out3", state, 3, "multiprocess"), instance,
                                asset_selection=[dg.AssetKey("text_flags")],
                                run_config={"execution": {"config": {"start_method": preload}}})
        assert result.success
        shard_steps = sorted(e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"
                             and e.step_key.startswith("text_flags.flag_shard"))
        pids = {e.pid for e in result.all_events if e.event_type_value == "STEP_START"}
    assert shard_steps == [f"text_flags.flag_shard_{i}_of_3" for i in range(3)]
    assert len(pids) >= 5  # prepare, three shards and collect: each step its own process
    got = text_flags_table(state)
    assert pickle.dumps(got) == pickle.dumps(expected)  # byte for byte
    pd.testing.assert_frame_equal(got, expected)
    metadata = flags_materialization(result)
    assert metadata["shard_cache_files_merged"] == 3
    assert metadata["new_cache_entries"] == len(entries(tmp_path / "state1" / DEFAULT_FILENAME)) > 0
    assert shard_cache_files(state) == [] and list((state / SHARD_DIR).iterdir()) == []
    assert entries(state / DEFAULT_FILENAME) == entries(tmp_path / "state1" / DEFAULT_FILENAME)

    # Warm rerun: every shard finds its texts in the main cache, computes and writes nothing;
    # a shard file a killed run left (another shard count) is merged and deleted all the same.
    with FlagCache(shard_cache_path(state, 1, 2)) as leftover:
        leftover.put_many("leftover", "v1", {"ab" * 32: {"x": 1}})
    rerun = defs.resolve_job_def("full_release").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=[dg.AssetKey("text_flags")])
    assert rerun.success
    metadata = flags_materialization(rerun)
    assert (metadata["new_cache_entries"], metadata["shard_cache_files_merged"]) == (0, 1)
    assert list((state / SHARD_DIR).iterdir()) == []
    with FlagCache(state / DEFAULT_FILENAME) as main:
        assert main.get_many("leftover", "v1", ["ab" * 32]) == {"ab" * 32: {"x": 1}}
    assert pickle.dumps(text_flags_table(state)) == pickle.dumps(expected)
