"""Helpers to run the real Definitions in-process against temporary folders."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from prism_pipeline.core.flags.resources import FlagSettings
from prism_pipeline.core.resources import DatasetPaths
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline.prism.definitions import build_defs
from prism_pipeline_tests.records import conversation_record, survey_record, write_jsonl

REFERENCE_DIR = DATASET.default_dirs["reference"]
# The tiny dataset's text tables (50-195 rows) are stored in parts, as PRISM's are (27k-106k
# rows, state_store.PARTITION_MIN_ROWS); its survey, conversations and samples (4-17) plain.
TINY_PARTITION_MIN_ROWS = 40


def make_defs(raw: Path, out: Path, state: Path, reference: Path = REFERENCE_DIR, **kwargs) -> dg.Definitions:
    paths = DatasetPaths(raw_dir=str(raw), output_dir=str(out), state_dir=str(state),
                       reference_dir=str(reference))
    return build_defs(paths, **kwargs)


def _executor(name: str) -> dg.ExecutorDefinition:
    if name == "dask":
        from dagster_dask import dask_executor  # the optional extra (pip install -e .[dask]): only when asked

        return dask_executor
    return {"multiprocess": dg.multiprocess_executor, "in_process": dg.in_process_executor}[name]


def release_job(raw: str, out: str, state: str, shards: int, executor: str, workers: int = 0) -> dg.JobDefinition:
    """The full_release job on these dirs with ``shards`` flagging shards and that executor;
    rebuilt by name in every step process (:func:`recon_release_job`)."""
    return make_defs(Path(raw), Path(out), Path(state), flag_shards=shards, flags=FlagSettings(workers=workers),
                     executor=_executor(executor)).resolve_job_def("full_release")


def recon_release_job(raw: Path, out: Path, state: Path, shards: int, executor: str,
                      workers: int = 0) -> dg.ReconstructableJob:
    """:func:`release_job` as a job a per-step executor can rebuild in another process."""
    return dg.build_reconstructable_job(
        __name__, "release_job", reconstructable_kwargs={
            "raw": str(raw), "out": str(out), "state": str(state), "shards": shards, "executor": executor,
            "workers": workers},
        # Step processes import this module by name: from the repository root, wherever pytest ran.
        reconstructor_working_directory=str(Path(__file__).resolve().parents[1]))


# The fast tier (`make test`) runs no whole graph of its own: that comes from the shared session
# fixture (conftest.py), which tests copy. conftest.py sets this per test from its `slow`
# marker, so a new test that runs the whole graph without the marker fails at once.
OWN_RUNS = {"allowed": True, "test": ""}


def check_own_run_allowed() -> None:
    if not OWN_RUNS["allowed"]:
        raise RuntimeError(f"{OWN_RUNS['test']} runs the whole graph itself: mark it @pytest.mark.slow, "
                           "or copy the shared session fixture (conftest.py, tiny_release.copy)")


@contextmanager
def shared_runs():
    """For a fixture whose whole-graph runs many tests share (conftest.py's session fixture, or a
    module fixture that only slow tests request)."""
    allowed = OWN_RUNS["allowed"]
    OWN_RUNS["allowed"] = True
    try:
        yield
    finally:
        OWN_RUNS["allowed"] = allowed


def run_job(defs: dg.Definitions, job: str = "full_release", instance: dg.DagsterInstance | None = None):
    if job == "full_release":
        check_own_run_allowed()
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False)


def tiny_raw_dir(raw: Path) -> Path:
    """Six participants: user0-user3 with all three conversation types, user4 with one type,
    user5 survey-only; all in the uk locale."""
    types = ("unguided", "values guided", "controversy guided")
    conversations, n_by_user = [], {}
    cid = 0
    for user in range(5):
        kinds = types + types[:1] if user < 4 else types[:1]
        for kind in kinds:
            conversations.append(conversation_record(cid, user, turns=2 + cid % 3, r0=2 + cid % 3,
                                                     conversation_type=kind))
            n_by_user[user] = n_by_user.get(user, 0) + 1
            cid += 1
    survey = [survey_record(u, n_by_user.get(u, 0)) for u in range(6)]
    write_jsonl(raw / "survey.jsonl", survey)
    write_jsonl(raw / "conversations.jsonl", conversations)
    return raw


def failure_messages(result) -> list[str]:
    """What a user is told about a failed run: step failure descriptions and failed checks."""
    messages = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                messages.append(data.user_failure_data.description)
            elif data.error is not None:
                messages.append(data.error.message.strip())
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            check = event.asset_check_evaluation_data
            if not check.passed and check.description:
                messages.append(check.description)
    return messages
