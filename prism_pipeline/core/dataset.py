"""What a dataset tells the engine (docs/datasets.md): its files, texts, ids, stored tables and release.

The engine (``prism_pipeline/core``) knows no dataset. A dataset package (``prism_pipeline/prism``,
``prism_pipeline/thoughttrace``) describes itself with one :class:`Dataset` in its ``dataset.py``
and registers it under the entry point group ``prism_pipeline.datasets`` (``pyproject.toml``),
where the CLI finds it by name (:func:`load_dataset`). The description is plain data and a few
functions, importable without Dagster, so the CLI's fast paths stay fast; the dataset's own
assets (readers, derived tables, text instances, release files) live in its ``definitions.py``,
which hands them with the description to :func:`prism_pipeline.core.definitions.build_defs`.

No Dagster import.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

ENTRY_POINT_GROUP = "prism_pipeline.datasets"
RAW, REFERENCE, STATE = "raw", "reference", "state"  # the folders a source file can be in
FOLDER_KEYS = ("raw", "output", "state", "reference")  # DatasetPaths fields, one variable each


@dataclass(frozen=True)
class SourceFile:
    """A file (or folder) the pipeline reads: an observable source asset whose data version is
    its sha256 (``core/sources``)."""

    key: str  # asset key, e.g. "survey_jsonl"
    folder: str  # RAW, REFERENCE or STATE
    name: str  # the file's (or folder's) name in that folder
    group: str  # "raw_files" or "reference_files"
    description: str
    required: bool = False  # a raw file no run can start without


@dataclass(frozen=True)
class TextKinds:
    """How a dataset names the kinds of its texts: the column of its text-instance and metadata
    tables that holds the kind (PRISM ``column_id``, ThoughtTrace ``text_kind``), every kind in
    canonical order, and those written by participants (the PII review covers those)."""

    column: str
    all: tuple[str, ...]
    human: tuple[str, ...]


@dataclass(frozen=True)
class Card:
    """The facts a release's dataset card (``README.md`` beside the release) states."""

    pretty_name: str
    summary: str  # one paragraph: what the dataset is
    licence: str  # the Hugging Face licence id of the data, e.g. "cc-by-4.0"
    licence_notes: tuple[str, ...]  # the licence of each kind of text, one line each
    homepage: str
    citation: str = ""


@dataclass(frozen=True)
class Dataset:
    """One dataset's description (module doc). Functions are given as ``"module:attribute"`` so
    that reading the description imports nothing heavy; :meth:`function` resolves them."""

    name: str  # --dataset value and code location name
    title: str
    env_prefix: str  # PRISM -> PRISM_RAW_DIR, PRISM_OUTPUT_DIR, PRISM_STATE_DIR, PRISM_REFERENCE_DIR
    definitions_module: str  # the code location: a module with `defs` and `resolve_job(name)`
    default_dirs: Mapping[str, Path]  # FOLDER_KEYS -> folder used when its variable is unset
    source_files: tuple[SourceFile, ...]
    text_kinds: TextKinds
    release_files: tuple[str, ...]  # in release order
    release_assets: Mapping[str, str]  # release asset key -> the file it writes
    # Removal (core/removal/redact.py): every stored table holding participant data, with the rule
    # that maps a row to a participant ("user_id", "conversation_id", "aligned:<table>" for a table
    # row-aligned with another, "text_sha256" for a table keyed by text hash), in redaction order.
    stored_tables: tuple[tuple[str, str], ...]
    users_table: str  # the stored table listing every participant (user_id)
    conversations_table: str  # the stored table giving each conversation_id its user_id
    release_rows: Mapping[str, str]  # stored table -> release file built from it row for row
    id_columns: str  # regex of the columns whose values are participant ids (the leak scan's ids)
    removal_run_assets: tuple[str, ...]  # what the removal_rerun job materialises
    leaf_assets: tuple[str, ...]  # besides the ledger: the leak scan runs after these
    read_user_ids: str  # "module:function" (raw dir) -> every participant id, for `remove`
    raw_footprint: str  # "module:function" (raw dir, requests, salt) -> Footprint from the raw files
    after_erasure: str | None = None  # "module:function" (state dir, Footprint) -> counts, own stores
    generate: str | None = None  # "module:function" (out dir, scale, seed) -> counts: synthetic data
    card: Card | None = None
    owners: tuple[str, ...] = ("team:prism-data",)
    # Settings resources of the dataset's own rules, observed like source files so a changed
    # value marks its assets unsynced: asset key -> (resource key, description). The engine adds
    # input_config (input_settings) and flag_config (flag_settings).
    settings: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    extra_env: Mapping[str, str] = field(default_factory=dict)  # build options read from variables
    # The asset key prefix of every asset of the code location (PRISM: none; ThoughtTrace:
    # ("thoughttrace",)). Asset keys are global to a Dagster workspace and instance: two code
    # locations served by one `dagster dev` and sharing DAGSTER_HOME must not both define
    # `erasure` or `text_flags` (Dagster keeps one node per key, and each location's sensors
    # would read the other's observations as changes). Stored tables keep the bare name.
    key_prefix: tuple[str, ...] = ()

    def key(self, name: str) -> list[str]:
        """The asset key path of one of the dataset's assets (``dg.AssetKey(dataset.key(name))``)."""
        return [*self.key_prefix, name]

    def env_var(self, folder: str) -> str:
        """The variable that names one of the dataset's folders (``FOLDER_KEYS``)."""
        return f"{self.env_prefix}_{'OUTPUT' if folder == 'output' else folder.upper()}_DIR"

    def command(self, arguments: str) -> str:
        """The ``prism-pipeline`` command line a user types for this dataset, e.g. for
        ``"run --unsynced"``; the default dataset needs no ``--dataset``."""
        command, _, rest = arguments.partition(" ")
        option = "" if self.name == DEFAULT_DATASET else f" --dataset {self.name}"
        return f"prism-pipeline {command}{option}{' ' + rest if rest else ''}"

    def function(self, ref: str) -> Callable:
        """The function a ``"module:attribute"`` reference names."""
        module, _, name = ref.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def all_settings(self) -> dict[str, tuple[str, str]]:
        """Every observed settings resource: the engine's and the dataset's."""
        return {"input_config": ("input_settings", "InputSettings: how conversation texts are taken (strict_texts)."),
                "flag_config": ("flag_settings", "FlagSettings fields that change results: moderation backend, "
                                                 "threshold, model, frozen results (not workers or chunks)."),
                **self.settings}

    def source_file(self, key: str) -> SourceFile:
        return next(f for f in self.source_files if f.key == key)

    @property
    def required_files(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.source_files if f.folder == RAW and f.required)

    @property
    def optional_files(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.source_files if f.folder == RAW and not f.required)

    @property
    def id_column_re(self) -> re.Pattern:
        return re.compile(self.id_columns)


DEFAULT_DATASET = "prism"  # what the CLI runs without --dataset
CARD_NAME = "README.md"  # the dataset card (Card), beside the release files


def dataset_names() -> list[str]:
    """The registered datasets, by name (entry point group ``prism_pipeline.datasets``)."""
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_dataset(name: str) -> Dataset:
    """The registered dataset called ``name``; a ``ValueError`` naming the known ones otherwise."""
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise ValueError(f"unknown dataset {name!r}: expected one of {', '.join(dataset_names()) or 'none'} "
                         f"(entry points {ENTRY_POINT_GROUP} in pyproject.toml; reinstall with pip install -e .)")
    return found[0].load()
