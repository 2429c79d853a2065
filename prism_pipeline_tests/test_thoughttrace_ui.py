"""``make ui`` with both code locations (workspace.yaml): PRISM's and ThoughtTrace's graphs load
side by side in one webserver and instance without sharing an asset key, ThoughtTrace's graph over
GraphQL is its code graph, and its full_release launched from the UI materialises all of it."""

from __future__ import annotations

import dagster as dg
import pytest

from prism_pipeline_tests.pipeline import tiny_raw_dir
from prism_pipeline_tests.thoughttrace_records import make_defs
from prism_pipeline_tests.thoughttrace_records import tiny_raw_dir as thoughttrace_raw_dir
from prism_pipeline_tests.ui_stack import (
    LOCATION,
    REPOSITORY,
    THOUGHTTRACE_LOCATION,
    asset_graph,
    run_events,
    running_ui_stack,
    wait_for_run,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Using variable_values and operation_name:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    base = tmp_path_factory.mktemp("ui_thoughttrace")
    thoughttrace_raw_dir(base / "ui" / "thoughttrace" / "raw")
    with running_ui_stack(base / "ui", tiny_raw_dir(base / "raw")) as stack:
        yield stack


def test_both_locations_load_without_sharing_a_key(ui):
    prism, thoughttrace = asset_graph(ui, LOCATION), asset_graph(ui, THOUGHTTRACE_LOCATION)
    assert prism and thoughttrace and set(prism).isdisjoint(thoughttrace)
    base = ui.out.parent / "thoughttrace"
    graph = make_defs(base / "raw", base / "output", base / "state").resolve_asset_graph()
    assert {key: node["parents"] for key, node in thoughttrace.items()} == {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()}


def test_thoughttrace_full_release_from_the_ui(ui):
    run_id = ui.client().submit_job_execution("full_release", repository_location_name=THOUGHTTRACE_LOCATION,
                                              repository_name=REPOSITORY)
    assert wait_for_run(ui, run_id) == dg.DagsterRunStatus.SUCCESS, ui.log_tail()
    graph = asset_graph(ui, THOUGHTTRACE_LOCATION)
    events = run_events(ui, run_id)
    materialised = {"/".join(e["assetKey"]["path"]) for e in events if e["__typename"] == "MaterializationEvent"}
    assert materialised == {k for k, node in graph.items() if node["materializable"]}
    out = ui.out.parent / "thoughttrace" / "output"
    assert (out / "stats.json").is_file() and (out / "README.md").is_file()
    assert not (ui.out / "survey.jsonl").exists()  # PRISM's release untouched
