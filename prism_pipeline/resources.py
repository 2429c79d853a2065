"""Shared Dagster resources: where the inputs, the release and the pipeline state live.

``PRISM_RAW_DIR`` / ``PRISM_OUTPUT_DIR`` / ``PRISM_STATE_DIR`` (and ``PRISM_REFERENCE_DIR``) are read through ``EnvVar`` so
that Dagster records the variable's name, not its value, and the same code location runs on
another dataset by setting them. Defaults (``data/raw``, ``data/release``, ``data/state`` under
the repository) are filled in by ``definitions.py`` when a variable is unset.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class PrismPaths(dg.ConfigurableResource):
    """Locations of the PRISM inputs, the release and the pipeline's private state."""

    raw_dir: str
    output_dir: str
    state_dir: str
    reference_dir: str  # versioned reference inputs: census tables, manual reviews, mappings

    @property
    def reference(self) -> Path:
        return Path(self.reference_dir).resolve()

    @property
    def raw(self) -> Path:
        return Path(self.raw_dir).resolve()

    @property
    def output(self) -> Path:
        return Path(self.output_dir).resolve()

    @property
    def state(self) -> Path:
        path = Path(self.state_dir).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path


class StateIOManager(dg.ConfigurableIOManagerFactory):
    """Pickles intermediate tables under ``<state_dir>/assets``.

    The state dir comes through config (an ``EnvVar`` in ``definitions.py``) and is resolved when
    a run starts, not when the code location is imported, so the CLI's ``--state`` and tests'
    temporary folders are honoured. One folder then holds everything private to the pipeline.
    """

    state_dir: str

    def create_io_manager(self, context) -> dg.IOManager:
        base = Path(self.state_dir).resolve() / "assets"
        return dg.FilesystemIOManager(base_dir=str(base)).create_io_manager(context)
