"""Shared fixtures: one materialised tiny sample for every test that only reads its outputs.

A test that changes inputs, state or settings builds its own run (``pipeline.make_defs``);
a test that only reads what a plain run produces takes ``tiny_release`` and must not modify
its folders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from prism_pipeline import state_store
from prism_pipeline_tests.pipeline import make_defs, run_job, tiny_raw_dir


@dataclass(frozen=True)
class TinyRelease:
    raw: Path
    out: Path
    state: Path
    result: object  # the ExecuteInProcessResult of the full_release run

    def table(self, asset: str) -> pd.DataFrame:
        """A stored asset's frame (a fresh copy: tests may change it)."""
        return state_store.read(state_store.table_path(self.state, [asset])).copy()


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory) -> TinyRelease:
    """The tiny sample (``pipeline.tiny_raw_dir``) materialised once by ``full_release``."""
    root = tmp_path_factory.mktemp("tiny_release")
    raw, out, state = tiny_raw_dir(root / "raw"), root / "release", root / "state"
    result = run_job(make_defs(raw, out, state))
    assert result.success
    return TinyRelease(raw, out, state, result)
