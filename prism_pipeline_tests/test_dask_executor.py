"""The whole graph on a real dask.distributed cluster with dagster-dask's stock executor.

The optional extra (``pip install -e .[dask]``; ``make test-all`` installs it). The fan-out of
``text_flags`` is fixed when the definitions are built (``build_defs(flag_shards=2)``), so the
stock executor, which submits the whole plan to dask up front, runs every step. The cluster
is a ``LocalCluster`` of 2 worker processes with 1 thread each, started by the test:
processes, because Dagster is not thread-safe (dagster-dask gives local workers one thread for
that reason) and a worker process is what a worker on another machine is; two, one per core.
Each flagging step runs its detectors in the worker itself (``FlagSettings(workers=1)``): the
parallelism is the shards', one per worker.
"""

from __future__ import annotations

import os

import dagster as dg
import pytest

from prism_pipeline.core.flags.cache import SHARD_DIR
from prism_pipeline.core.flags.detectors import WORKER_THREAD_ENV
from prism_pipeline_tests.pipeline import make_defs, recon_release_job, run_job, tiny_raw_dir

pytestmark = pytest.mark.slow  # starts a cluster and runs the whole graph itself

RELEASE_FILES = ["README.md", "conversations.jsonl", "metadata.jsonl", "survey.jsonl", "utterances.jsonl"]


def interruptible() -> None:
    """On a worker: a worker process started with SIGINT ignored (a shell's background job
    without job control) keeps it ignored, Dagster's step execution maps SIGTERM to SIGINT's
    handler, and the `tail` processes of its compute-log capture inherit both as ignored, so
    the step waits for them forever. Python's default handlers (docs/operating.md)."""
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture(scope="module")
def cluster():
    if not os.environ.get("PRISM_TEST_ALL"):  # make test-all installs the extra and must run this
        pytest.importorskip("dagster_dask", reason="the dask extra: pip install -e .[dask]")
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      env=dict(WORKER_THREAD_ENV)) as local, Client(local) as client:
        client.run(interruptible)
        yield local.scheduler_address, set(client.run(os.getpid).values())


def test_full_release_on_a_dask_cluster_equals_the_in_process_run(cluster, tmp_path):
    address, worker_pids = cluster
    raw = tiny_raw_dir(tmp_path / "raw")
    assert run_job(make_defs(raw, tmp_path / "in_process", tmp_path / "state1")).success

    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        job = recon_release_job(raw, tmp_path / "dask", tmp_path / "state2", shards=2, executor="dask", workers=1)
        result = dg.execute_job(job, instance, run_config={
            "execution": {"config": {"cluster": {"existing": {"address": address}}}}})
        assert result.success
        steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
        pids = {e.pid for e in result.all_events if e.event_type_value == "STEP_START"}
    assert {"text_flags.prepare_flag_cache", "text_flags.flag_shard_0_of_2", "text_flags.flag_shard_1_of_2",
            "text_flags.collect_flags", "metadata_table", "release_files"} <= steps
    assert pids and pids <= worker_pids  # every step ran in a dask worker process, none here
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == RELEASE_FILES
    for name in RELEASE_FILES:  # flags and everything else byte-identical to one process
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "in_process" / name).read_bytes(), name
    assert list((tmp_path / "state2" / SHARD_DIR).iterdir()) == []  # merged into the main cache
