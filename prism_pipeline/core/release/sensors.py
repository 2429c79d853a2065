"""Write the audit report after every successful release run launched from the UI or a sensor."""

import dagster as dg

from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.release.audit import write_audit_report
from prism_pipeline.core.resources import DatasetPaths


def audit_report_sensor(dataset: Dataset) -> dg.SensorDefinition:
    # Every job of this code location, including the UI's "Materialize all" (__ASSET_JOB).
    @dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS,
                          default_status=dg.DefaultSensorStatus.RUNNING,
                          description="Writes audit_report.md beside the release after each successful run.")
    def audit_report_on_success(context: dg.RunStatusSensorContext, paths: DatasetPaths):
        path = write_audit_report(context.instance, context.repository_def.asset_graph, paths.output,
                                  paths.state, dataset)
        context.log.info(f"audit report written to {path}")

    return audit_report_on_success
