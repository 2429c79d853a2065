"""The removal job: apply new removal requests without a rebuild (SPEC §7.7), and what it needs to start."""

import dagster as dg

from prism_pipeline.core import state_store
from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.resources import DatasetPaths

REMOVAL_JOB = "removal_rerun"


def removal_rerun_job(dataset: Dataset):
    """What a removal run materialises (``Dataset.removal_run_assets``: the requests, the erasure,
    which redacts every stored table, what is not separable by participant, the release and the
    ledger) with their checks: ``erasure_verified`` on the ledger and those the assets yield in
    their own steps. Everything else is redacted in place by the erasure, not recomputed
    (``core/removal/redact.py``); the checks of those tables validate rules a row drop cannot
    break (every table only loses whole participants) and run with ``full_release``."""
    return dg.define_asset_job(
        REMOVAL_JOB,
        selection=dg.AssetSelection.assets(*[dg.AssetKey(dataset.key(name)) for name in dataset.removal_run_assets]),
        description="Apply removal requests without a rebuild: redact every stored table, the flag cache and the "
                    "reviews; recompute what is not separable by participant; carry the release forward without "
                    "the removed participants' lines where the dataset allows it (rebuilt otherwise); verify "
                    "nothing of them is left; append the ledger. Nothing is re-flagged.",
    )


def missing_before_removal(dataset: Dataset, paths: DatasetPaths) -> str | None:
    """Why a removal run cannot start (one line naming what to run first), or None. It redacts
    the stored tables in place and rebuilds the release from them, so every one must be there:
    a full run that failed or was killed, or a deleted state folder, leaves some missing."""
    tables = [table for table, _ in dataset.stored_tables]
    missing = [t for t in tables if not state_store.is_stored(state_store.table_path(paths.state, [t]))]
    if not missing:
        return None
    if len(missing) == len(tables):
        return (f"nothing is stored under {paths.state} yet, so there is nothing to redact: run "
                f"`{dataset.command('run')}` (the full_release job applies every removal request)")
    return (f"{len(missing)} stored tables are missing from {paths.state} ({', '.join(missing)}): "
            "a full run failed or was stopped before writing them, or they were deleted; "
            f"run `{dataset.command('run --unsynced')}` first, "
            "which restores them and applies every removal request")
