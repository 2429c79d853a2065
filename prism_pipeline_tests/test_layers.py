"""The package's layers: the engine knows no dataset, and no two folders import each other.

Every module belongs to one node: a domain folder (``core/flags``, ``prism/inputs``, …, with
its subfolders), the base modules of a package root (``core``'s hashing, atomic writes, the
dataset description…; ``prism``'s codebook, schemas and description), or the composition root
of a package (its ``definitions.py``, ``cli.py`` and ``schema_checks.py``, which assemble the
domains). The node graph of imports must have no cycle, and nothing under ``core`` may import a
dataset package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import prism_pipeline

ROOT = Path(prism_pipeline.__file__).parent
PACKAGES = ("core", "prism", "thoughttrace")
TOP = {"definitions", "cli", "schema_checks"}


def node_of(module: str) -> str | None:
    """The layer node of a dotted module (or package) name under prism_pipeline."""
    parts = module.split(".")[1:]
    if not parts or parts[0] not in PACKAGES:
        return None
    package, rest = parts[0], parts[1:]
    if not rest:
        return f"{package}:base"
    if (ROOT / package / rest[0]).is_dir():
        return f"{package}/{rest[0]}"
    return f"{package}:top" if rest[0] in TOP else f"{package}:base"


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("prism_pipeline"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names
                         if (ROOT.joinpath(*f"{node.module}.{a.name}".split(".")[1:])).with_suffix(".py").exists())
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("prism_pipeline"))
    return found


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        source = node_of(".".join(["prism_pipeline", *parts]))
        if source is None:
            continue
        for module in imported_modules(path):
            target = node_of(module)
            if target is not None and target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def test_the_engine_imports_no_dataset():
    leaks = {f"{a} -> {b}" for a, targets in edges().items() if a.startswith("core")
             for b in targets if not b.startswith("core")}
    assert leaks == set()


def test_a_dataset_imports_no_other_dataset():
    graph = edges()
    assert {"thoughttrace:base", "thoughttrace:top", "thoughttrace/inputs", "thoughttrace/release"} <= set(graph)
    crossings = {f"{a} -> {b}" for a, targets in graph.items() for b in targets
                 if not b.startswith("core") and a.split("/")[0].split(":")[0] != b.split("/")[0].split(":")[0]}
    assert crossings == set()


def test_no_two_layers_import_each_other():
    graph = edges()
    assert {"core:base", "core:top", "core/flags", "core/removal", "prism:base", "prism/inputs"} <= (
        set(graph) | {b for targets in graph.values() for b in targets})
    order: list[str] = []
    nodes = set(graph) | {b for targets in graph.values() for b in targets}
    while nodes - set(order):  # a node whose imports are all placed (Kahn's algorithm)
        ready = sorted(n for n in nodes - set(order) if graph.get(n, set()) <= set(order))
        assert ready, (f"an import cycle among {sorted(nodes - set(order))}: "
                       f"{({n: sorted(graph.get(n, ())) for n in nodes - set(order)})}")
        order += ready
    assert order.index("core:base") < order.index("core/flags") < order.index("core:top")
