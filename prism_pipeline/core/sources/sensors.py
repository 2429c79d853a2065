"""Keeps the source assets' versions current while the daemon runs, so the UI shows what is unsynced."""

import dagster as dg

from prism_pipeline.core.flags.resources import FlagSettings
from prism_pipeline.core.resources import PrismPaths
from prism_pipeline.core.sources.observations import changed_observations
from prism_pipeline.prism.inputs.resources import InputSettings
from prism_pipeline.prism.sampling.resources import SamplingSettings


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Every minute: the sha256 of every raw and reference file and of the settings; records an "
                       "observation for each whose version changed, so the UI marks the assets downstream of it "
                       "unsynced. Launches nothing: `Materialize unsynced` or `prism-pipeline run --unsynced` does.")
def source_file_sensor(context: dg.SensorEvaluationContext, prism_paths: PrismPaths, input_settings: InputSettings,
                       sampling_settings: SamplingSettings, flag_settings: FlagSettings):
    events = changed_observations(context.instance, prism_paths, {
        "input_settings": input_settings, "sampling_settings": sampling_settings, "flag_settings": flag_settings})
    return dg.SensorResult(asset_events=events, skip_reason=None if events else "no source changed")
