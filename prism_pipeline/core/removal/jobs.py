"""The removal job: apply new removal requests without a rebuild (SPEC §7.7)."""

import dagster as dg

from prism_pipeline.core.dataset import Dataset

REMOVAL_JOB = "removal_rerun"


def removal_rerun_job(dataset: Dataset):
    """What a removal run materialises (``Dataset.removal_run_assets``: the requests, the erasure,
    which redacts every stored table, what is not separable by participant, the release and the
    ledger), with one check, ``erasure_verified``. Everything else is redacted in place by the
    erasure, not recomputed (``core/removal/redact.py``). The other checks validate rules a row
    drop cannot break (every table only loses whole participants); they run with
    ``full_release`` and from the UI at any time."""
    return dg.define_asset_job(
        REMOVAL_JOB,
        selection=dg.AssetSelection.assets(*dataset.removal_run_assets).without_checks()
        | dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("removal_ledger"), "erasure_verified")),
        description="Apply removal requests without a rebuild: redact every stored table, the flag cache and the "
                    "reviews; recompute what is not separable by participant; carry the release forward without "
                    "the removed participants' lines where the dataset allows it (rebuilt otherwise); verify "
                    "nothing of them is left; append the ledger. Nothing is re-flagged.",
    )
