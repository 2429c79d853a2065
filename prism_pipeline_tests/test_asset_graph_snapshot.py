"""The asset graph as auditors read it: every asset's key, group and dependencies.

A changed edge must be a visible diff in review, so the graph is compared with a committed
snapshot. After an intended change, regenerate it with
``PRISM_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest prism_pipeline_tests/test_asset_graph_snapshot.py``.
"""

import json
import os
from pathlib import Path

from prism_pipeline.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def graph_snapshot() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
        }
    checks = sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys)
    return {"assets": assets, "checks": checks}


def test_asset_graph_matches_snapshot():
    current = graph_snapshot()
    if os.environ.get("PRISM_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_importing_a_pure_module_builds_no_definitions():
    import subprocess
    import sys

    code = ("import sys, prism_pipeline.sampling.balanced; "
            "print(sorted(m for m in ('prism_pipeline.definitions', 'dagster') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
