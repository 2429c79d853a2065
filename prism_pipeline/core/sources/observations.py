"""Source observations shared by the observation function and the sensors (Dagster helpers)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.hashing import ABSENT, sha256_json, sha256_path

DATA_VERSION_TAG = "dagster/data_version"  # where Dagster keeps an observation's data version


def source_path(dataset: Dataset, paths, key: str) -> Path:
    """The file (or folder) behind a source asset of the dataset."""
    source = dataset.source_file(key)
    return paths.folder(source.folder) / source.name


def source_observation(path: Path, version: str) -> dict:
    """``data_version`` and ``metadata`` of a source file's observation: counts, never contents."""
    return {"data_version": dg.DataVersion(version), "metadata": {
        "path": dg.MetadataValue.path(str(path)), "present": version != ABSENT,
        "bytes": path.stat().st_size if path.is_file() else 0}}


def settings_observation(values: dict) -> dict:
    """``data_version`` and ``metadata`` of a settings resource's observation (its values)."""
    return {"data_version": dg.DataVersion(sha256_json(values)), "metadata": {"values": dg.MetadataValue.json(values)}}


def observation_event(key: str | list[str], path: Path, version: str) -> dg.AssetObservation:
    """The same observation as an event a sensor can record (SensorResult.asset_events)."""
    fields = source_observation(path, version)
    return dg.AssetObservation(asset_key=key, metadata=fields["metadata"], tags={DATA_VERSION_TAG: version})


def latest_observed_version(instance: dg.DagsterInstance, key: str | list[str]) -> str | None:
    """The data version of a source asset's latest observation, or None before the first
    (``key``: its name, or its key path, ``Dataset.key``)."""
    records = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=dg.AssetKey(key)), limit=1).records
    if not records:
        return None
    return records[0].asset_observation.tags.get(DATA_VERSION_TAG)


def settings_values(settings) -> dict:
    """The values of a settings resource that change results (``result_settings`` when it has one)."""
    return settings.result_settings() if hasattr(settings, "result_settings") else settings.model_dump()


def changed_observations(instance: dg.DagsterInstance, dataset: Dataset, paths,
                         resources: dict) -> list[dg.AssetObservation]:
    """Observations of every source file and settings resource whose version differs from its
    latest observation (``resources``: settings resource key → resource). For the sensor and for
    ``prism-pipeline run --unsynced``, which need no run to observe."""
    events = []
    for source in dataset.source_files:
        path = source_path(dataset, paths, source.key)
        version = sha256_path(path)
        if version != latest_observed_version(instance, dataset.key(source.key)):
            events.append(observation_event(dataset.key(source.key), path, version))
    for key, (resource, _) in dataset.all_settings.items():
        fields = settings_observation(settings_values(resources[resource]))
        version = fields["data_version"].value
        if version != latest_observed_version(instance, dataset.key(key)):
            events.append(dg.AssetObservation(asset_key=dataset.key(key), metadata=fields["metadata"],
                                              tags={DATA_VERSION_TAG: version}))
    return events
