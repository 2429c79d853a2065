"""One code location's ``Definitions`` from a dataset's description and its own assets.

The engine adds what every dataset has: the observable source assets of its files and settings,
the removal layer (requests, erasure, ledger, leak check, the ``removal_rerun`` job and its
sensor), the flags of its text instances with the manual PII review and its evidence, the audit
report sensor, the ``full_release`` job, and the resources (folders, settings, the IO managers
that keep every table in the state folder). A dataset's ``definitions.py`` passes its own assets,
checks and settings resources and exposes the result as ``defs`` (its code location).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import dagster as dg

from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.flags.assets import Frozen, flag_assets, flag_checks
from prism_pipeline.core.flags.resources import FlagSettings
from prism_pipeline.core.release.sensors import audit_report_sensor
from prism_pipeline.core.removal.assets import removal_assets
from prism_pipeline.core.removal.checks import erasure_verified_check
from prism_pipeline.core.removal.jobs import removal_rerun_job
from prism_pipeline.core.removal.sensors import removal_request_sensor
from prism_pipeline.core.resources import DatasetPaths, InputSettings, LazyStateInputManager, StateIOManager
from prism_pipeline.core.sources.assets import source_assets
from prism_pipeline.core.sources.sensors import source_file_sensor


def full_release_job():
    # include_sources is beta in dagster 1.13 (pinned); the warning is for Dagster's own API users.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Parameter `include_sources` of function `AssetSelection.all`",
                                category=dg.BetaWarning)
        # include_sources: the raw and reference files are observed first, so every
        # materialisation records the file versions it consumed (core/sources/assets.py).
        selection = dg.AssetSelection.all(include_sources=True)
    return dg.define_asset_job(
        "full_release",
        selection=selection,
        description="Observe every raw and reference file, recompute every asset from them and write the release "
                    "(with all checks).",
    )


def build_defs(dataset: Dataset, paths: DatasetPaths, *, assets: Sequence, asset_checks: Sequence,
               resources: dict | None = None,
               flags: FlagSettings | None = None, inputs: InputSettings | None = None, frozen: Frozen | None = None,
               flag_shards: int = 1, partition_min_rows: int | None = None,
               executor: dg.ExecutorDefinition | None = None) -> dg.Definitions:
    """The dataset's ``Definitions`` (module doc). ``asset_checks``: the dataset's checks that run
    as steps of their own (its assets yield their schema checks themselves). ``executor``: every job's
    executor, in-process by default (see below); a per-step one (``dg.multiprocess_executor``,
    ``dagster_dask.dask_executor``, ``dagster_k8s.k8s_job_executor``) needs a persistent instance
    and a reconstructable job. ``flag_shards``: the flagging steps (hash shards of the texts),
    fixed here so every executor sees the whole plan up front. ``partition_min_rows``: tables of
    at least this many rows are stored in parts by participant (``state_store.py``)."""
    io_settings = {} if partition_min_rows is None else {"partition_min_rows": partition_min_rows}
    if executor not in (None, dg.in_process_executor):
        # Each step process sets up its own resources, so a lock taken there would serialise
        # steps, not runs; the instance's run queue serialises these runs (core/lock.py).
        paths = paths.model_copy(update={"lock_runs": False})
    removal_job = removal_rerun_job(dataset)
    return dg.Definitions(
        assets=[*source_assets(dataset), *removal_assets(dataset), *flag_assets(dataset, flag_shards, frozen),
                *assets],
        asset_checks=[*asset_checks, erasure_verified_check(dataset), *flag_checks(dataset)],
        jobs=[full_release_job(), removal_job],
        sensors=[audit_report_sensor(dataset), removal_request_sensor(dataset, removal_job),
                 source_file_sensor(dataset)],
        # One process per run: on a 2-core machine a process per step (the multiprocess default)
        # spends more time importing pandas and Dagster than computing; the heavy per-text work
        # has its own process pool. A multi-machine deployment swaps this for the dask or k8s
        # executor (docs/operating.md, "Beyond one machine").
        executor=executor or dg.in_process_executor,
        resources={
            "paths": paths,
            "input_settings": inputs or InputSettings(),
            "flag_settings": flags or FlagSettings(),
            **(resources or {}),
            # Intermediate tables are pickled under the state dir, beside the caches, so that one
            # folder holds everything private to the pipeline (and everything a removal must clean).
            "io_manager": StateIOManager(state_dir=paths.state_dir, **io_settings),
            "lazy_state": LazyStateInputManager(state_dir=paths.state_dir),
        },
    )
