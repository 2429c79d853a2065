"""Shared Dagster resources: where a dataset's inputs, release and state live, how texts are taken,
and the IO managers that store every table in the state folder.

The folders are read through ``EnvVar`` (``<PREFIX>_RAW_DIR``, ``_OUTPUT_DIR``, ``_STATE_DIR``,
``_REFERENCE_DIR``; :func:`env_paths`) so that Dagster records the variable's name, not its
value, and the same code location runs on another copy of the dataset by setting them. Defaults
(the dataset's ``default_dirs``, under the repository) are filled in when a variable is unset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from prism_pipeline.core import state_store
from prism_pipeline.core.dataset import FOLDER_KEYS, RAW, REFERENCE, STATE, Dataset
from prism_pipeline.core.lock import state_lock


class DatasetPaths(dg.ConfigurableResource):
    """Locations of a dataset's inputs, its release and the pipeline's private state.

    A run holds the state folder's lock (``core/lock.py``) from the moment its resources are set
    up until they are torn down, so no two runs on one state folder overlap, whoever starts
    them: the CLI (which holds it already), the UI or a sensor through the daemon. With a
    per-step executor (``lock_runs=False``, set by ``build_defs``) every step sets up its own
    resources, so the run queue serialises the runs instead (docs/operating.md)."""

    raw_dir: str
    output_dir: str
    state_dir: str
    reference_dir: str  # versioned reference inputs: census tables, manual reviews, mappings
    lock_runs: bool = True
    _lock: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        if self.lock_runs and run is not None:
            self._lock = state_lock(self.state, f"a {run.job_name} run", run_id=run.run_id,
                                    say=context.log.info if context.log else print)
            self._lock.__enter__()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)

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

    def folder(self, where: str) -> Path:
        """The folder a source file is in (``dataset.RAW``, ``REFERENCE`` or ``STATE``)."""
        return {RAW: self.raw, REFERENCE: self.reference, STATE: self.state}[where]


def resolved(paths: DatasetPaths) -> DatasetPaths:
    """``paths`` with its ``EnvVar`` fields read, outside a run (so no lock is taken)."""
    with paths.process_config_and_initialize_cm() as value:
        return value


def default_environment(dataset: Dataset) -> None:
    """Set each of the dataset's folder variables that is unset to its default folder."""
    import os

    for folder in FOLDER_KEYS:
        os.environ.setdefault(dataset.env_var(folder), str(dataset.default_dirs[folder]))


def env_paths(dataset: Dataset) -> DatasetPaths:
    """The dataset's folders from its variables (``EnvVar``: resolved when a run starts)."""
    default_environment(dataset)
    return DatasetPaths(**{f"{folder}_dir": dg.EnvVar(dataset.env_var(folder)) for folder in FOLDER_KEYS})


class InputSettings(dg.ConfigurableResource):
    """``strict_texts``: False (default) normalises the conversation texts as the reference did
    (``core/normalise.py``: trim; null, empty or "None" becomes "EMPTY STRING") and warns with
    the count; True leaves them as read, so the blocking ``content_normalised`` rules reject any
    text that is not already normalised, for maintainers who want an unnormalised file to stop
    the run (SPEC §1.2)."""

    strict_texts: bool = False


STORED_TABLE = "stored_table"  # materialisation metadata: the table's path in the state dir


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
            # The key's last part: a state dir belongs to one dataset, whose key prefix
            # (Dataset.key_prefix) only keeps its assets apart from another's in Dagster.
            return state_store.table_path(self.state_dir, context.asset_key.path[-1:])
        output = context if isinstance(context, dg.OutputContext) else context.upstream_output
        return state_store.table_path(self.state_dir, output.get_identifier())

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        path = self._path(context)
        state_store.write(path, obj, self.partition_min_rows)
        if context.has_asset_key:
            # Where the table is, relative to the state dir: `run --unsynced` reruns an asset
            # whose stored table is gone (core/sources/staleness.py).
            context.add_output_metadata({STORED_TABLE: path.relative_to(Path(self.state_dir).resolve()).as_posix()})

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
        return LazyTable(state_store.table_path(self.state_dir, context.asset_key.path[-1:]))
