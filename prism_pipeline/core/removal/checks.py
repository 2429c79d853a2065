"""Checks of the removal domain: the two schemas and the leak scan after a removal (SPEC §7.7)."""

from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pandas as pd

from prism_pipeline.core.removal.event_log import event_log_matches
from prism_pipeline.core.removal.footprint import RUN_FOOTPRINTS, removed_footprint
from prism_pipeline.core.removal.requests import load_or_create_salt
from prism_pipeline.core.removal.scan import scan_paths
from prism_pipeline.core.resources import PrismPaths


@dg.asset_check(
    asset="removal_ledger",
    additional_ins={"removal_requests": dg.AssetIn()},
    # The leaves of the graph besides the ledger: the scan runs after everything is written.
    additional_deps=["interactions", "census_weights", "utterances_input", "pii_review_evidence"],
    description="After a removal: no file under the output dir or the state dir, and no event in the Dagster "
                "instance's event log, holds a removed participant's user/conversation/utterance/interaction id or "
                "the sha256 of a text only they had. Reports files and match counts only.",
)
def erasure_verified(context: dg.AssetCheckExecutionContext, prism_paths: PrismPaths,
                     removal_requests: pd.DataFrame) -> dg.AssetCheckResult:
    if removal_requests.empty:
        return dg.AssetCheckResult(passed=True, description="no removal requests", metadata={"requests": 0})
    footprint = RUN_FOOTPRINTS.pop(context.run.run_id, None)
    scope = "this run's removals"
    if footprint is None:
        # Run on its own, or after a run that applied nothing: every request, from the raw files.
        footprint = removed_footprint(prism_paths.raw, removal_requests, load_or_create_salt(prism_paths.state))
        scope = "every request"
    # The file scan runs in its own threads (the search releases the GIL) while this one reads
    # the event log through the API.
    with ThreadPoolExecutor(max_workers=1) as pool:
        files = pool.submit(scan_paths, [prism_paths.output, prism_paths.state], footprint.ids,
                            footprint.removed_only_hashes)
        events = event_log_matches(context.instance, footprint.ids, footprint.removed_only_hashes)
        found = files.result()
    if events:
        found["dagster event log"] = events
    return dg.AssetCheckResult(
        passed=not found,
        description=None if not found else f"{sum(found.values())} matches in {len(found)} files",
        metadata={"requests": len(removal_requests), "scope": scope, "files_with_matches": dg.MetadataValue.json(found),
                  "identifiers_scanned": len(footprint.ids),
                  "text_hashes_scanned": len(footprint.removed_only_hashes)},
    )
