"""The code location through the real UI stack (``dagster dev``) and its GraphQL API.

One server for the module: a tiny raw dataset, a temporary DAGSTER_HOME with the committed
instance settings, temporary release and state folders.
"""

from __future__ import annotations

import json

import dagster as dg
import pytest

from prism_pipeline_tests.pipeline import make_defs, tiny_raw_dir
from prism_pipeline_tests.ui_stack import LOCATION, REPOSITORY, asset_graph, run_events, running_ui_stack, wait_for_run

pytestmark = [
    pytest.mark.slow,
    # Raised inside dagster-graphql's own client (gql 4 deprecation), not by this code.
    pytest.mark.filterwarnings("ignore:Using variable_values and operation_name:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    base = tmp_path_factory.mktemp("ui_graphql")
    with running_ui_stack(base, tiny_raw_dir(base / "raw")) as stack:
        yield stack


def code_graph(stack) -> dict[str, set[str]]:
    """Parents of every asset, from the Definitions themselves (same folders as the server)."""
    graph = make_defs(stack.raw, stack.out, stack.state).resolve_asset_graph()
    return {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
            for key in graph.get_all_asset_keys()}


def test_full_release_launched_over_graphql_materialises_everything(ui):
    run_id = ui.client().submit_job_execution("full_release", repository_location_name=LOCATION,
                                              repository_name=REPOSITORY)
    assert wait_for_run(ui, run_id) == dg.DagsterRunStatus.SUCCESS, ui.log_tail()

    graph = asset_graph(ui)
    events = run_events(ui, run_id)
    materialised = {"/".join(e["assetKey"]["path"]) for e in events if e["__typename"] == "MaterializationEvent"}
    assert materialised == {k for k, node in graph.items() if node["materializable"]}
    observed = {"/".join(e["assetKey"]["path"]) for e in events if e["__typename"] == "ObservationEvent"}
    assert observed == {k for k, node in graph.items() if not node["materializable"]}  # the source files
    evaluations = {"/".join(e["evaluation"]["assetKey"]["path"]) + ":" + e["evaluation"]["checkName"]:
                   e["evaluation"]["success"] for e in events if e["__typename"] == "AssetCheckEvaluationEvent"}
    defined = {f"{asset}:{check}" for asset, node in graph.items() for check in node["checks"]}
    assert defined and evaluations == {check: True for check in defined}

    survey = [json.loads(line) for line in (ui.out / "survey.jsonl").read_text().splitlines()]
    raw_survey = [json.loads(line) for line in (ui.raw / "survey.jsonl").read_text().splitlines()]
    assert [r["user_id"] for r in survey] == [r["user_id"] for r in raw_survey]
    assert len((ui.out / "conversations.jsonl").read_text().splitlines()) == 17
    assert (ui.out / "utterances.jsonl").stat().st_size > 0
    # The run went to the temporary DAGSTER_HOME, not to a throw-away instance.
    with dg.DagsterInstance.from_config(str(ui.home)) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS


def test_asset_lineage_over_graphql_is_the_code_graph(ui):
    graph = asset_graph(ui)
    assert {key: node["parents"] for key, node in graph.items()} == code_graph(ui)
    # dependedByKeys is the same graph read the other way.
    children = {key: {child for child, node in graph.items() if key in node["parents"]} for key in graph}
    assert {key: node["children"] for key, node in graph.items()} == children


def test_asset_lineage_edges(ui):
    parents = {key: node["parents"] for key, node in asset_graph(ui).items()}
    assert {"conversations_input", "conversation_history"} <= parents["utterances"]
    assert "utterances" in parents["interactions"]
    assert "survey_input" in parents["survey_release"]
    assert "conversation_history" in parents["conversations_release"]
    assert "utterances" in parents["utterances_release"]
    assert {"survey_input", "census_cells"} <= parents["uk_rep_sample"]


def ancestors(parents: dict[str, set[str]], key: str) -> set[str]:
    """Every asset upstream of ``key``."""
    seen, todo = set(), list(parents[key])
    while todo:
        parent = todo.pop()
        if parent not in seen:
            seen.add(parent)
            todo += parents[parent]
    return seen


def test_metadata_lineage(ui):
    """metadata_release <- ... <- text_instances <- ... <- utterances (through the flag assets)."""
    parents = {key: node["parents"] for key, node in asset_graph(ui).items()}
    missing = [name for name in ("text_instances", "metadata_release") if name not in parents]
    if missing:
        pytest.skip(f"asset(s) not in the code location yet: {', '.join(missing)}")
    assert "utterances" in ancestors(parents, "text_instances")
    assert "text_instances" in ancestors(parents, "metadata_release")


def test_daemon_runs_wait_in_the_queue_while_a_cli_run_holds_the_state_folder(ui):
    """A run launched from the UI and the removal sensor's run stay Queued while `prism-pipeline
    run` is in progress on the same folders (the run queue's limit per code location); the
    request that arrived meanwhile is not published by the CLI run but applied by the sensor's
    run after it. Last in the module: it removes a participant."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from prism_pipeline.prism.inputs.parse import read_survey

    faults = Path(__file__).resolve().parent / "faults"
    barrier = ui.home.parent / "paused"
    env = {**os.environ, "DAGSTER_HOME": str(ui.home), "PRISM_RAW_DIR": str(ui.raw), "PRISM_OUTPUT_DIR": str(ui.out),
           "PRISM_STATE_DIR": str(ui.state), "PYTHONPATH": str(faults),
           "PRISM_TEST_FAULT": f"pause:prism_pipeline.core.release.publish:publish_release:1:{barrier}"}
    cli = subprocess.Popen([str(Path(sys.executable).parent / "prism-pipeline"), "run"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not Path(f"{barrier}.reached").exists():  # the CLI run is about to publish
        assert cli.poll() is None and time.monotonic() < deadline, cli.stdout.read()
        time.sleep(0.2)
    client = ui.client()
    launched = client.submit_job_execution("full_release", repository_location_name=LOCATION,
                                           repository_name=REPOSITORY)
    env.pop("PRISM_TEST_FAULT")
    removed = subprocess.run([str(Path(sys.executable).parent / "prism-pipeline"), "remove", "user1"], env=env,
                             capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr
    with dg.DagsterInstance.from_config(str(ui.home)) as instance:
        deadline = time.monotonic() + 120
        while not instance.get_runs(dg.RunsFilter(job_name="removal_rerun")):  # the sensor ticks every 30 s
            assert time.monotonic() < deadline, ui.log_tail()
            time.sleep(1)
        [sensor_run] = instance.get_runs(dg.RunsFilter(job_name="removal_rerun"))
        time.sleep(5)  # long enough for the queue to have started them, were it going to
        assert client.get_run_status(launched) == dg.DagsterRunStatus.QUEUED
        assert client.get_run_status(sensor_run.run_id) == dg.DagsterRunStatus.QUEUED
    Path(f"{barrier}.go").touch()
    output, _ = cli.communicate(timeout=300)
    assert cli.returncode == 1
    assert "removal request rr-0001 arrived during this run for participants of this release" in output
    statuses = {run_id: wait_for_run(ui, run_id) for run_id in (launched, sensor_run.run_id)}
    assert statuses[sensor_run.run_id] == dg.DagsterRunStatus.SUCCESS, ui.log_tail()
    survey = [json.loads(line)["user_id"] for line in (ui.out / "survey.jsonl").read_text().splitlines()]
    assert "user1" not in survey
    assert len(survey) == len(read_survey(ui.raw / "survey.jsonl")) - 1
