"""Shared Dagster resources: where the inputs, the release and the pipeline state live.

``PRISM_RAW_DIR`` / ``PRISM_OUTPUT_DIR`` / ``PRISM_STATE_DIR`` (and ``PRISM_REFERENCE_DIR``) are read through ``EnvVar`` so
that Dagster records the variable's name, not its value, and the same code location runs on
another dataset by setting them. Defaults (``data/raw``, ``data/release``, ``data/state`` under
the repository, ``DEFAULT_DIRS``) are filled in by ``definitions.py`` and the CLI when a variable is unset.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from prism_pipeline.core import state_store
from prism_pipeline.core.locations import DEFAULT_DIRS, REPO_ROOT  # noqa: F401 (re-exported)


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


class StateIOManager(dg.ConfigurableIOManager):
    """Pickles intermediate tables under ``<state_dir>/assets`` (layout and write rule:
    ``prism_pipeline/core/state_store.py``).

    The state dir comes through config (an ``EnvVar`` in ``definitions.py``) and is resolved when
    a run starts, not when the code location is imported, so the CLI's ``--state`` and tests'
    temporary folders are honoured. One folder then holds everything private to the pipeline,
    which is also what a removal redacts and the leak scan reads.
    """

    state_dir: str
    # Tables of at least this many rows with a participant key are stored in parts, so a
    # removal rewrites only the parts holding the participant (state_store module doc).
    partition_min_rows: int = state_store.PARTITION_MIN_ROWS

    def _path(self, context: dg.OutputContext | dg.InputContext) -> Path:
        if context.has_asset_key:
            return state_store.table_path(self.state_dir, context.asset_key.path)
        output = context if isinstance(context, dg.OutputContext) else context.upstream_output
        return state_store.table_path(self.state_dir, output.get_identifier())

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        state_store.write(self._path(context), obj, self.partition_min_rows)

    def load_input(self, context: dg.InputContext):
        return state_store.read(self._path(context))


class LazyTable:
    """A stored table read on first :meth:`load`, for an asset that needs a big input only on
    some paths (``release_files`` reads the text tables only when it rebuilds the release)."""

    def __init__(self, path: Path):
        self.path = path

    def load(self):
        return state_store.read(self.path)


class LazyStateInputManager(dg.ConfigurableIOManager):
    """Input manager (``input_manager_key="lazy_state"``): hands the asset a :class:`LazyTable`
    for an upstream table stored by :class:`StateIOManager`, instead of the table itself."""

    state_dir: str

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        raise NotImplementedError("lazy_state only loads inputs; outputs go to the io_manager")

    def load_input(self, context: dg.InputContext) -> LazyTable:
        return LazyTable(state_store.table_path(self.state_dir, context.asset_key.path))
