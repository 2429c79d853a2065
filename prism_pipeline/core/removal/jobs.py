"""The removal job: apply new removal requests without a rebuild (SPEC §7.7)."""

import dagster as dg

REMOVAL_JOB = "removal_rerun"

# What a removal run materialises: the requests, the erasure (which redacts every stored table),
# the two things that are not separable by participant (the REP draws and the census weights)
# and the release, plus their checks, erasure_verified among them. Everything else is
# redacted in place by the erasure, not recomputed (removal/redact.py).
REMOVAL_RUN_ASSETS = ("removal_requests", "erasure", "uk_rep_sample", "us_rep_sample", "census_weights",
                      "survey_release", "conversations_release", "utterances_release", "metadata_release",
                      "removal_ledger")
removal_rerun_job = dg.define_asset_job(
    REMOVAL_JOB,
    # One check: erasure_verified. The others validate rules a row drop cannot break (every table
    # only loses whole participants); they run with full_release and from the UI at any time.
    # Each extra step costs ~0.1 s of event-log writes, a tenth of the whole removal budget.
    selection=dg.AssetSelection.assets(*REMOVAL_RUN_ASSETS).without_checks()
    | dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("removal_ledger"), "erasure_verified")),
    description="Apply removal requests without a rebuild: redact every stored table, the id registry, the flag "
                "cache and the reviews; redraw the REP samples and census weights; carry the release forward "
                "without the removed participants' lines (rebuilt instead if anything upstream changed since it "
                "was written); verify nothing of them is left; append the ledger. Nothing is re-flagged.",
)
