"""The Dagster UI in a headless browser: "Materialize all" on the asset graph runs the whole graph.

Playwright drives Debian's chromium (/usr/bin/chromium; Playwright's own browser download is not
used). Screenshots go to test-artifacts/ui/ (git-ignored); with PRISM_WRITE_DOCS_SCREENSHOT=1 the
asset-graph screenshots also replace docs/asset-graph.png and docs/asset-groups.png.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from prism_pipeline_tests.pipeline import tiny_raw_dir
from prism_pipeline_tests.ui_stack import (
    LOCATION,
    REPO_ROOT,
    UiStack,
    UiStackError,
    asset_graph,
    location_workspace,
    run_events,
    running_ui_stack,
    wait_for_run,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Using variable_values and operation_name:DeprecationWarning"),
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "asset-graph.png"
DOCS_GROUPS_SCREENSHOT = REPO_ROOT / "docs" / "asset-groups.png"  # the groups collapsed
UI_TIMEOUT_MS = 60_000
RUNS_QUERY = "{ runsOrError { __typename ... on Runs { results { runId status } } } }"
NUX_QUERY = "{ shouldShowNux }"


@pytest.fixture
def page(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # A fresh profile: no cookies or local storage from an earlier visit.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
            headless=True, viewport={"width": 1600, "height": 1000})
        context.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


@contextmanager
def screenshot_on_failure(page, path: Path):
    """Keep what the browser showed when a step fails."""
    try:
        yield
    except BaseException:
        page.screenshot(path=str(path))
        raise


def dismiss_community_dialog(page, stack: UiStack) -> None:
    """A new instance opens "Join the Dagster community" on the first visit: Skip it. The server
    says whether it will show (the dialog itself may appear a moment after the page)."""
    if not stack.graphql(NUX_QUERY)["shouldShowNux"]:
        return
    dialog = page.get_by_text("Join the Dagster community")
    dialog.wait_for()
    page.get_by_role("button", name="Skip").click()
    dialog.wait_for(state="hidden")
    assert stack.graphql(NUX_QUERY) == {"shouldShowNux": False}  # remembered by the instance


def launched_run(stack: UiStack, timeout: float = 60.0) -> str:
    """The one run that the click launched (the instance is new, so it is the only run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = stack.graphql(RUNS_QUERY)["runsOrError"]["results"]
        if runs:
            assert len(runs) == 1, runs
            return runs[0]["runId"]
        time.sleep(0.5)
    raise UiStackError(f"no run launched within {timeout:.0f}s:\n{stack.log_tail()}")


def graph_settings(page, item: str, attempts: int = 6) -> None:
    """Pick an item of the graph's settings (gear) menu. While the graph lays itself out again
    (after "Expand all groups" on ~35 nodes) the menu is re-rendered and its item detached, so
    the menu is reopened until the click lands."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(attempts):
        page.locator("button:has(> [aria-label='settings'])").filter(has_not_text="Settings").click()
        try:
            page.get_by_role("menuitem", name=item).click(timeout=10_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
            page.wait_for_timeout(2_000)


def hide_asset_sidebar(page) -> None:
    """Click the sidebar toggle, which sits right of the sidebar's "Jump to…" box."""
    jump = page.get_by_placeholder("Jump to…")
    box = jump.bounding_box()
    page.mouse.click(box["x"] + box["width"] + 20, box["y"] + box["height"] / 2)
    jump.wait_for(state="hidden")


GRAPH_EXTENT_JS = """() => {
    const boxes = [...document.querySelectorAll('svg foreignObject')]
        .map(e => e.getBoundingClientRect()).filter(r => r.width > 0);
    const x = Math.min(...boxes.map(r => r.left)), y = Math.min(...boxes.map(r => r.top));
    return {x, y, width: Math.max(...boxes.map(r => r.right)) - x,
            height: Math.max(...boxes.map(r => r.bottom)) - y};
}"""


def screenshot_asset_graph(page, stack: UiStack, path: Path, margin: int = 12) -> None:
    """Every asset, groups expanded, top to bottom, cropped to the graph itself."""
    page.goto(f"{stack.url}/asset-groups")
    graph_settings(page, "Expand all groups")
    graph_settings(page, "Change graph to vertical orientation")
    # A wide window so that zoom-to-fit keeps the labels legible; the settings are remembered
    # and a reload lays the graph out again.
    page.set_viewport_size({"width": 2400, "height": 1100})
    page.reload()
    page.get_by_text("survey_release", exact=True).wait_for()
    hide_asset_sidebar(page)
    page.wait_for_timeout(1_500)  # the zoom-to-fit and sidebar animations
    box = page.evaluate(GRAPH_EXTENT_JS)
    page.screenshot(path=str(path), clip={"x": box["x"] - margin, "y": box["y"] - margin,
                                          "width": box["width"] + 2 * margin, "height": box["height"] + 2 * margin})


def screenshot_collapsed_groups(page, stack: UiStack, path: Path, groups: list[str],
                                margin: int = 12) -> dict[str, float]:
    """The Lineage page with every group collapsed, left to right, as an auditor opens it;
    returns where each of ``groups`` starts on it (x of its name)."""
    # Groups start collapsed on a first visit; a window of the graph's proportions, so that
    # zoom-to-fit shows all of it.
    page.set_viewport_size({"width": 2000, "height": 1300})
    page.goto(f"{stack.url}/asset-groups")
    page.get_by_text("audit", exact=True).first.wait_for()
    hide_asset_sidebar(page)
    page.get_by_text("fetching statuses").first.wait_for(state="detached")
    page.keyboard.press("Escape")
    page.wait_for_timeout(2_500)  # the zoom-to-fit and sidebar animations
    box = page.evaluate(GRAPH_EXTENT_JS)
    page.screenshot(path=str(path), clip={"x": box["x"] - margin, "y": box["y"] - margin,
                                          "width": box["width"] + 2 * margin, "height": box["height"] + 2 * margin})
    return {group: page.get_by_text(group, exact=True).first.bounding_box()["x"] for group in groups}


def test_materialize_all_in_the_ui_runs_the_whole_graph(tmp_path, page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # PRISM's location alone: "Materialize all" on the global graph launches one run, and Dagster
    # materialises assets of one code location per run (workspace.yaml also serves ThoughtTrace).
    workspace = location_workspace(tmp_path, LOCATION)
    with (running_ui_stack(tmp_path / "ui", tiny_raw_dir(tmp_path / "raw"), workspace=workspace) as stack,
          screenshot_on_failure(page, ARTIFACTS / "failure.png")):
        page.goto(f"{stack.url}/asset-groups")
        dismiss_community_dialog(page, stack)
        graph = asset_graph(stack)
        groups = {node["group"] for node in graph.values()}
        for group in groups:  # the sidebar lists the code location's asset groups
            page.get_by_role("button", name=group).first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "lineage-before.png"))

        page.get_by_role("button", name="Materialize all").click()
        run_id = launched_run(stack)
        assert wait_for_run(stack, run_id) == dg.DagsterRunStatus.SUCCESS, stack.log_tail()

        events = run_events(stack, run_id)
        materialised = {"/".join(e["assetKey"]["path"]) for e in events if e["__typename"] == "MaterializationEvent"}
        assert materialised == {k for k, node in graph.items() if node["materializable"]}
        checks = {"/".join(e["evaluation"]["assetKey"]["path"]) + ":" + e["evaluation"]["checkName"]:
                  e["evaluation"]["success"] for e in events if e["__typename"] == "AssetCheckEvaluationEvent"}
        assert checks == {f"{asset}:{check}": True for asset, node in graph.items() for check in node["checks"]}
        assert (stack.out / "survey.jsonl").is_file()

        # What the user sees: the run listed as a success, and its own page saying so.
        page.goto(f"{stack.url}/runs")
        # The innermost element holding both the run's short id and its status: the run's row.
        row = (page.locator("div").filter(has=page.get_by_text(run_id[:8], exact=True))
               .filter(has=page.get_by_text("Success", exact=True)).last)
        row.wait_for()
        page.screenshot(path=str(ARTIFACTS / "runs.png"))
        page.goto(f"{stack.url}/runs/{run_id}")
        page.get_by_text("RUN_SUCCESS", exact=True).wait_for()
        page.screenshot(path=str(ARTIFACTS / "run.png"))

        # The collapsed groups read as a flow, left to right: files, the removal layer, the layers
        # built from the inputs, the release, the audit trail.
        flow = ["raw_files", "removal", "inputs", "release", "audit"]
        left = screenshot_collapsed_groups(page, stack, ARTIFACTS / "asset-groups.png", flow)
        assert [left[group] for group in flow] == sorted(left.values()), left
        screenshot_asset_graph(page, stack, ARTIFACTS / "asset-graph.png")
    if os.environ.get("PRISM_WRITE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(ARTIFACTS / "asset-graph.png", DOCS_SCREENSHOT)
        shutil.copyfile(ARTIFACTS / "asset-groups.png", DOCS_GROUPS_SCREENSHOT)
