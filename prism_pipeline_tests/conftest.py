"""Shared fixtures: one materialised tiny sample for every test that reads or copies its outputs.

Two test tiers (README "Commands"): ``make test`` runs every test not marked ``slow`` and no
whole-graph run of its own; the whole graph runs once per session here (``tiny_release``), and
a test that needs to change what it produced works on a copy (``tiny_release.copy``). A test
that runs ``full_release`` itself, starts a server, a browser or a cluster is marked
``@pytest.mark.slow`` and runs in ``make test-all`` (CI). ``pipeline.run_job`` refuses a
``full_release`` run in an unmarked test, so a new one cannot slip into the fast tier.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from prism_pipeline.core import state_store
from prism_pipeline_tests import pipeline, thoughttrace_records
from prism_pipeline_tests.pipeline import make_defs, run_job, tiny_raw_dir

pipeline.OWN_RUNS["allowed"] = False  # until a test says otherwise (_tier below)


@pytest.fixture(autouse=True)
def _tier(request):
    """Only slow tests start whole-graph runs of their own (pipeline.OWN_RUNS)."""
    pipeline.OWN_RUNS.update(allowed=request.node.get_closest_marker("slow") is not None, test=request.node.nodeid)
    yield
    pipeline.OWN_RUNS.update(allowed=False, test="")


@dataclass(frozen=True)
class World:
    """A copy of the tiny release: its folders, its persistent instance and its definitions."""

    raw: Path
    out: Path
    state: Path
    instance: dg.DagsterInstance
    defs: dg.Definitions

    def __iter__(self):  # raw, out, state, instance, defs = world
        return iter((self.raw, self.out, self.state, self.instance, self.defs))


@dataclass(frozen=True)
class TinyRelease:
    root: Path
    result: object  # the ExecuteInProcessResult of the full_release run

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def out(self) -> Path:
        return self.root / "release"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def table(self, asset: str) -> pd.DataFrame:
        """A stored asset's frame (a fresh copy: tests may change it)."""
        return state_store.read(state_store.table_path(self.state, [asset])).copy()

    def copy(self, target: Path, **defs_kwargs) -> World:
        """The whole release (raw files, release, state, instance) copied to ``target``, for a
        test that changes any of it; ``defs_kwargs`` go to ``pipeline.make_defs``."""
        shutil.copytree(self.root, target)
        raw, out, state = target / "raw", target / "release", target / "state"
        instance = dg.DagsterInstance.local_temp(str(target / "dagster_home"))
        defs_kwargs.setdefault("partition_min_rows", pipeline.TINY_PARTITION_MIN_ROWS)
        return World(raw, out, state, instance, make_defs(raw, out, state, **defs_kwargs))


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory) -> TinyRelease:
    """The tiny sample (``pipeline.tiny_raw_dir``) materialised once by ``full_release``, with
    a persistent instance (``dagster_home``) so copies can carry a release forward. Tests that
    only read it must not modify its folders; the others use :meth:`TinyRelease.copy`."""
    root = tmp_path_factory.mktemp("tiny_release")
    raw = tiny_raw_dir(root / "raw")
    (root / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(root / "dagster_home"))
    try:
        with pipeline.shared_runs():
            result = run_job(make_defs(raw, root / "release", root / "state",
                                       partition_min_rows=pipeline.TINY_PARTITION_MIN_ROWS), instance=instance)
    finally:
        instance.dispose()
    assert result.success
    return TinyRelease(root, result)


class TinyThoughtTrace(TinyRelease):
    """The tiny ThoughtTrace release (``thoughttrace_records.tiny_raw_dir``); copies get
    ThoughtTrace's definitions."""

    def copy(self, target: Path, **defs_kwargs) -> World:
        shutil.copytree(self.root, target)
        raw, out, state = target / "raw", target / "release", target / "state"
        instance = dg.DagsterInstance.local_temp(str(target / "dagster_home"))
        defs_kwargs.setdefault("partition_min_rows", TINY_THOUGHTTRACE_PARTITION_MIN_ROWS)
        return World(raw, out, state, instance, thoughttrace_records.make_defs(raw, out, state, **defs_kwargs))


# The tiny release's text tables (19-40 rows) are stored in parts, as the real ones would be.
TINY_THOUGHTTRACE_PARTITION_MIN_ROWS = 15


@pytest.fixture(scope="session")
def tiny_thoughttrace(tmp_path_factory) -> TinyThoughtTrace:
    """The tiny ThoughtTrace sample (three users, five conversations with known texts)
    materialised once by ``full_release`` with a persistent instance, like ``tiny_release``:
    tests that only read it must not modify its folders; the others use ``copy``."""
    root = tmp_path_factory.mktemp("tiny_thoughttrace")
    raw = thoughttrace_records.tiny_raw_dir(root / "raw")
    (root / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(root / "dagster_home"))
    try:
        with pipeline.shared_runs():
            result = run_job(thoughttrace_records.make_defs(
                raw, root / "release", root / "state", partition_min_rows=TINY_THOUGHTTRACE_PARTITION_MIN_ROWS),
                instance=instance)
    finally:
        instance.dispose()
    assert result.success
    return TinyThoughtTrace(root, result)
