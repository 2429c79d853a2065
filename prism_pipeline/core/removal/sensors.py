"""The removal sensor: launches ``removal_rerun`` when the requests file has a new version."""

import dagster as dg

from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.hashing import sha256_path
from prism_pipeline.core.removal import ledger
from prism_pipeline.core.removal.ledger import LEDGER_FILENAME
from prism_pipeline.core.removal.requests import load_requests
from prism_pipeline.core.sources.observations import latest_observed_version, observation_event, source_path

REQUESTS_SOURCE = "removal_requests_csv"


def removal_request_sensor(dataset: Dataset, job) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
               required_resource_keys={"paths"},
               description="Observes removal_requests.csv (its sha256 is the removal_requests_csv source asset's "
                           "data version) and launches removal_rerun when the version is new and holds requests the "
                           "ledger has not recorded.")
    def removal_request_sensor(context: dg.SensorEvaluationContext):
        paths = context.resources.paths
        path = source_path(dataset, paths, REQUESTS_SOURCE)
        if not path.exists():
            return dg.SkipReason("no removal_requests.csv")
        version = sha256_path(path)
        if version == latest_observed_version(context.instance, dataset.key(REQUESTS_SOURCE)):
            return dg.SkipReason("requests unchanged since their last observation")
        pending = ledger.pending(load_requests(path), paths.state / LEDGER_FILENAME)
        runs = [] if pending.empty else [dg.RunRequest(
            run_key=f"removal-{version[:16]}", tags={"prism/removal_requests": ",".join(pending["request_id"])})]
        return dg.SensorResult(run_requests=runs,
                               asset_events=[observation_event(dataset.key(REQUESTS_SOURCE), path, version)],
                               skip_reason=None if runs else "every request is already applied")

    return removal_request_sensor
