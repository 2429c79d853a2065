"""The asset graph as auditors read it: every asset's key, group and dependencies.

A changed edge must be a visible diff in review, so each code location's graph is compared with
a committed snapshot (PRISM's ``asset_graph.json``, ThoughtTrace's ``asset_graph_thoughttrace.json``).
After an intended change, regenerate them with
``PRISM_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest prism_pipeline_tests/test_asset_graph_snapshot.py``.
"""

import json
import os
from pathlib import Path

import pytest

from prism_pipeline.prism.definitions import defs
from prism_pipeline.thoughttrace.definitions import defs as thoughttrace_defs

SNAPSHOTS = Path(__file__).parent / "snapshots"
LOCATIONS = {"prism": (defs, SNAPSHOTS / "asset_graph.json"),
             "thoughttrace": (thoughttrace_defs, SNAPSHOTS / "asset_graph_thoughttrace.json")}


def graph_snapshot(location_defs=defs) -> dict:
    graph = location_defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
        }
    checks = sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys)
    return {"assets": assets, "checks": checks, "group_edges": group_edges(assets)}


def group_edges(assets: dict) -> list[str]:
    """``upstream group -> downstream group`` for every asset edge that crosses groups: what the
    collapsed Lineage page draws."""
    return sorted({f"{assets[dep]['group']} -> {node['group']}" for node in assets.values() for dep in node["deps"]
                   if assets[dep]["group"] != node["group"]})


@pytest.mark.parametrize("location", sorted(LOCATIONS))
def test_asset_groups_form_no_cycle(location):
    """The collapsed Lineage page reads as a flow: source files, removal, inputs, tables, flags
    and samples, release, audit."""
    edges = [e.split(" -> ") for e in graph_snapshot(LOCATIONS[location][0])["group_edges"]]
    groups = {g for edge in edges for g in edge}
    order: list[str] = []
    while groups - set(order):  # Kahn's algorithm: a group whose upstream groups are all placed
        ready = sorted(g for g in groups - set(order) if all(a in order for a, b in edges if b == g))
        assert ready, f"the asset groups form a cycle among {sorted(groups - set(order))}"
        order += ready
    assert order[-1] == "audit" and order.index("removal") < order.index("inputs") < order.index("release")


@pytest.mark.parametrize("location", sorted(LOCATIONS))
def test_asset_graph_matches_snapshot(location):
    location_defs, snapshot = LOCATIONS[location]
    current = graph_snapshot(location_defs)
    if os.environ.get("PRISM_UPDATE_SNAPSHOT"):
        snapshot.write_text(json.dumps(current, indent=2) + "\n")
    assert current == json.loads(snapshot.read_text())


def test_the_two_locations_share_no_asset_key():
    """Both are served by one workspace on one instance (workspace.yaml, `make ui`): Dagster keeps
    one node per key, so a key defined twice would merge their graphs and histories."""
    prism, thoughttrace = (set(graph_snapshot(d)["assets"]) for d, _ in LOCATIONS.values())
    assert prism & thoughttrace == set() and all(k.startswith("thoughttrace/") for k in thoughttrace)


def test_importing_a_pure_module_builds_no_definitions():
    import subprocess
    import sys

    code = ("import sys, prism_pipeline.prism.sampling.balanced, prism_pipeline.thoughttrace.tables.derive; "
            "print(sorted(m for m in ('prism_pipeline.prism.definitions', 'prism_pipeline.thoughttrace.definitions', "
            "'dagster') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
