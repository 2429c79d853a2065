"""The leak scan after a removal (SPEC §7.7): the ``erasure_verified`` check on the ledger."""

from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pandas as pd

from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.removal.event_log import event_log_matches
from prism_pipeline.core.removal.footprint import RUN_FOOTPRINTS
from prism_pipeline.core.removal.requests import load_or_create_salt
from prism_pipeline.core.removal.scan import scan_paths


def erasure_verified_check(dataset: Dataset) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(dataset.key("removal_ledger")),
        additional_ins={"removal_requests": dg.AssetIn(key_prefix=list(dataset.key_prefix))},
        # The leaves of the graph besides the ledger: the scan runs after everything is written.
        additional_deps=[dg.AssetKey(dataset.key(name)) for name in dataset.leaf_assets],
        required_resource_keys={"paths"},
        description="After a removal: no file under the output dir or the state dir, and no event in the Dagster "
                    "instance's event log, holds a removed participant's ids or the sha256 of a text only they had. "
                    "Reports files and match counts only.",
    )
    def erasure_verified(context: dg.AssetCheckExecutionContext, removal_requests: pd.DataFrame) -> dg.AssetCheckResult:
        paths = context.resources.paths
        if removal_requests.empty:
            return dg.AssetCheckResult(passed=True, description="no removal requests", metadata={"requests": 0})
        footprint = RUN_FOOTPRINTS.pop(context.run.run_id, None)
        scope = "this run's removals"
        if footprint is None:
            # Run on its own, or after a run that applied nothing: every request, from the raw files.
            footprint = dataset.function(dataset.raw_footprint)(paths.raw, removal_requests,
                                                                 load_or_create_salt(paths.state))
            scope = "every request"
        # The file scan runs in its own threads (the search releases the GIL) while this one reads
        # the event log through the API.
        with ThreadPoolExecutor(max_workers=1) as pool:
            files = pool.submit(scan_paths, [paths.output, paths.state], footprint.ids, footprint.removed_only_hashes)
            events = event_log_matches(context.instance, footprint.ids, footprint.removed_only_hashes)
            found = files.result()
        if events:
            found["dagster event log"] = events
        return dg.AssetCheckResult(
            passed=not found,
            description=None if not found else f"{sum(found.values())} matches in {len(found)} files",
            metadata={"requests": len(removal_requests), "scope": scope,
                      "files_with_matches": dg.MetadataValue.json(found), "identifiers_scanned": len(footprint.ids),
                      "text_hashes_scanned": len(footprint.removed_only_hashes)},
        )

    return erasure_verified
