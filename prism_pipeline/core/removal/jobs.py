"""The removal job: apply new removal requests without a rebuild (SPEC §7.7)."""

import dagster as dg

from prism_pipeline.core.dataset import Dataset

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
