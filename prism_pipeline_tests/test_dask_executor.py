"""The whole graph on a real dask.distributed cluster (issue 13): prism_pipeline.dask_executor.

The cluster is a ``LocalCluster`` of 2 worker processes with 1 thread each, started by the
test: processes, because Dagster is not thread-safe (dagster-dask gives local workers one
thread for that reason) and because a separate process per worker is what a worker on
another machine is; two, one per core of this machine. Workers are non-daemonic so a step
could start the detector pool, as on a production cluster (dask_executor module doc).
"""

from __future__ import annotations

import os
import signal

import dagster as dg
import dask
import pytest
from dagster_dask import dask_executor as dagster_dask_executor
from dask.distributed import Client, LocalCluster

from prism_pipeline.dask_executor import _default_sigterm, dask_executor
from prism_pipeline.metadata_flags.cache import SHARD_DIR
from prism_pipeline.metadata_flags.detectors import WORKER_THREAD_ENV
from prism_pipeline_tests.pipeline import make_defs, recon_release_job, run_job, tiny_raw_dir

RELEASE_FILES = ["conversations.jsonl", "metadata.jsonl", "survey.jsonl", "utterances.jsonl"]


@pytest.fixture(scope="module")
def cluster():
    with dask.config.set({"distributed.worker.daemon": False}), LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
            env=dict(WORKER_THREAD_ENV)) as local:
        with Client(local) as client:
            worker_pids = set(client.run(os.getpid).values())
            client.run(_default_sigterm)  # as our executor does; the stock one is run here too
        yield local.scheduler_address, worker_pids


def on_cluster(address: str) -> dict:
    return {"execution": {"config": {"cluster": {"existing": {"address": address}}}}}


# A three-way fan-out, the shape of text_flags (plan -> mapped steps -> collect), in miniature.
@dg.op(out=dg.DynamicOut(int))
def fan_out():
    for i in range(3):
        yield dg.DynamicOutput(i, mapping_key=f"part_{i}")


@dg.op
def square(x: int) -> int:
    return x * x


@dg.op
def total(xs: list[int]) -> int:
    return sum(xs)


def fan_job(executor: str) -> dg.JobDefinition:
    @dg.job(name=f"fan_{executor}", executor_def={"ours": dask_executor, "dagster_dask": dagster_dask_executor}[executor])
    def fan():
        total(fan_out().map(square).collect())

    return fan


def succeeded_steps(result) -> list[str]:
    return sorted(e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS")


@pytest.mark.parametrize("executor, steps", [
    # dagster-dask submits the plan up front: mapped steps are unknown then and never run,
    # yet the run "succeeds". The reason prism_pipeline.dask_executor exists.
    ("dagster_dask", ["fan_out"]),
    ("ours", ["fan_out", "square[part_0]", "square[part_1]", "square[part_2]", "total"]),
])
def test_dynamic_steps_on_dask(cluster, tmp_path, executor, steps):
    address, _ = cluster
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.execute_job(dg.build_reconstructable_job(__name__, "fan_job", (executor,)), instance,
                                run_config=on_cluster(address))
        assert result.success
        assert succeeded_steps(result) == steps


def test_full_release_on_a_dask_cluster_equals_the_in_process_run(cluster, tmp_path):
    address, worker_pids = cluster
    raw = tiny_raw_dir(tmp_path / "raw")
    assert run_job(make_defs(raw, tmp_path / "in_process", tmp_path / "state1")).success

    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        result = dg.execute_job(recon_release_job(raw, tmp_path / "dask", tmp_path / "state2", 2, "dask"), instance,
                                run_config=on_cluster(address))
        assert result.success
        steps = succeeded_steps(result)
        pids = {e.pid for e in result.all_events if e.event_type_value == "STEP_START"}
    assert {"text_flags.flag_shard[shard_0_of_2]", "text_flags.flag_shard[shard_1_of_2]", "text_flags.collect_flags",
            "metadata_table", "release_files"} <= set(steps)
    assert pids and pids <= worker_pids  # every step ran in a dask worker process, none here
    with Client(address) as client:  # the workers can stop what they start (dask_executor._default_sigterm)
        assert set(client.run(lambda: signal.getsignal(signal.SIGTERM) is signal.SIG_IGN).values()) == {False}
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == RELEASE_FILES
    for name in RELEASE_FILES:
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "in_process" / name).read_bytes(), name
    assert list((tmp_path / "state2" / SHARD_DIR).iterdir()) == []  # merged into the main cache
