"""The audit report: what the current release is, where it came from, and what was checked.

Written to ``<PRISM_OUTPUT_DIR>/audit_report.md`` after every successful release run (by the
``audit_report_sensor`` when runs come from the UI, by ``prism-pipeline run`` / ``prism-pipeline
audit`` on the command line). It lists, from the Dagster instance and the files on disk:

* each release file: sha256 on disk, the sha256 and rows recorded by its materialisation, the
  run that produced it (a mismatch means the file changed outside the pipeline);
* each raw and reference file and settings resource: its data version (sha256) as last observed;
* every upstream asset with its group, code version and last materialising run;
* the latest result of every asset check, with severity and run;
* the removal ledger's summary (counts and dates only: the ledger holds no clear ids).

Contains no participant data: everything here is file hashes, counts, versions and run ids.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg

from prism_pipeline.core import clock
from prism_pipeline.core.atomic import atomic_write_text
from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.hashing import sha256_file
from prism_pipeline.core.removal.ledger import LEDGER_FILENAME
from prism_pipeline.core.sources.observations import DATA_VERSION_TAG

REPORT_NAME = "audit_report.md"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _meta_value(entry, key):
    value = entry.asset_materialization.metadata.get(key) if entry and entry.asset_materialization else None
    return getattr(value, "value", value)


def build_audit_report(instance: dg.DagsterInstance, graph, output_dir: Path, state_dir: Path,
                       dataset: Dataset) -> str:
    """``graph``: the code location's asset graph (``Definitions.resolve_asset_graph()``)."""
    lines = [f"# {dataset.title} release audit report", "",
             f"Generated {_when(clock.now().timestamp())} from the Dagster instance "
             f"and `{output_dir}`.", "", "## Release files", "",
             "| file | rows | sha256 on disk | recorded sha256 matches | run | materialised |",
             "|---|---|---|---|---|---|"]
    release_keys = [dg.AssetKey(dataset.key(name)) for name in dataset.release_assets]
    for key in release_keys:
        if not graph.has(key):
            continue
        file = dataset.release_assets[key.path[-1]]
        path = output_dir / str(file)
        entry = instance.get_latest_materialization_event(key)
        recorded = _meta_value(entry, "sha256")
        on_disk = sha256_file(path) if path.exists() else None
        match = "yes" if on_disk and on_disk == recorded else ("no file" if not on_disk else "**NO**")
        lines.append(f"| {file} | {_meta_value(entry, 'dagster/row_count') or '-'} | "
                     f"`{on_disk or '-'}` | {match} | {entry.run_id if entry else '-'} | "
                     f"{_when(entry.timestamp if entry else None)} |")

    lines += ["", "## Sources (data versions)", "", "| source | group | data version (sha256) | observed |",
              "|---|---|---|---|"]
    for key in sorted(graph.observable_asset_keys, key=lambda k: (graph.get(k).group_name or "", k.to_user_string())):
        records = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=key), limit=1).records
        event = records[0] if records else None
        version = event.asset_observation.tags.get(DATA_VERSION_TAG) if event else None
        lines.append(f"| {key.to_user_string()} | {graph.get(key).group_name} | "
                     f"{f'`{version}`' if version else '-'} | {_when(event.timestamp if event else None)} |")

    upstream: set[dg.AssetKey] = set()
    frontier = [k for k in release_keys if graph.has(k)]
    while frontier:
        key = frontier.pop()
        for parent in graph.get(key).parent_keys:
            if parent not in upstream:
                upstream.add(parent)
                frontier.append(parent)
    lines += ["", "## Upstream assets", "", "| asset | group | code version | last run | materialised |",
              "|---|---|---|---|---|"]
    for key in sorted(upstream, key=lambda k: (graph.get(k).group_name or "", k.to_user_string())):
        node = graph.get(key)
        entry = instance.get_latest_materialization_event(key)
        lines.append(f"| {key.to_user_string()} | {node.group_name} | {node.code_version or '-'} | "
                     f"{entry.run_id if entry else '-'} | {_when(entry.timestamp if entry else None)} |")

    check_keys = sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name))
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    lines += ["", "## Asset checks (latest result)", "", "| asset | check | result | severity | run |",
              "|---|---|---|---|---|"]
    for key in check_keys:
        record = records.get(key)
        evaluation = record.event.asset_check_evaluation if record and record.event else None
        if evaluation is None:
            result, severity = (record.status.value.lower() if record else "never run"), "-"
        else:
            result = "passed" if evaluation.passed else "FAILED"
            severity = "-" if evaluation.passed else evaluation.severity.value
        lines.append(f"| {key.asset_key.to_user_string()} | {key.name} | {result} | {severity} | "
                     f"{record.run_id if record else '-'} |")

    lines += ["", "## Removal ledger", ""]
    ledger = state_dir / LEDGER_FILENAME
    entries = [json.loads(x) for x in ledger.read_text(encoding="utf-8").splitlines() if x.strip()] \
        if ledger.exists() else []
    if not entries:
        lines.append("No removal request has been applied.")
    else:
        lines += [f"{len(entries)} removal request(s) applied; the ledger stores salted hashes, never ids.", "",
                  "| request | received | applied | run | rows removed |", "|---|---|---|---|---|"]
        for e in entries:
            removed = ", ".join(f"{k}: {v}" for k, v in e.get("rows_removed", {}).items())
            lines.append(f"| {e.get('request_id')} | {e.get('received')} | {e.get('applied_at')} | "
                         f"{e.get('run_id')} | {removed} |")
    return "\n".join(lines) + "\n"


def write_audit_report(instance: dg.DagsterInstance, graph, output_dir: Path, state_dir: Path,
                       dataset: Dataset) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / REPORT_NAME
    atomic_write_text(path, build_audit_report(instance, graph, output_dir, state_dir, dataset))
    return path
