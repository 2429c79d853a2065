"""Keeps the source assets' versions current while the daemon runs, so the UI shows what is unsynced."""

import dagster as dg

from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.sources.observations import changed_observations


def source_file_sensor(dataset: Dataset) -> dg.SensorDefinition:
    settings = {resource for resource, _ in dataset.all_settings.values()}

    @dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
               required_resource_keys={"paths", *settings},
               description="Every minute: the sha256 of every raw and reference file and of the settings; records an "
                           "observation for each whose version changed, so the UI marks the assets downstream of it "
                           "unsynced. Launches nothing: `Materialize unsynced` or `prism-pipeline run --unsynced` "
                           "does.")
    def source_file_sensor(context: dg.SensorEvaluationContext):
        resources = {name: getattr(context.resources, name) for name in settings}
        events = changed_observations(context.instance, dataset, context.resources.paths, resources)
        return dg.SensorResult(asset_events=events, skip_reason=None if events else "no source changed")

    return source_file_sensor
