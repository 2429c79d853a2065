"""What is unsynced: the assets a rerun must recompute after sources, settings, rules or files changed.

Dagster marks an asset stale when its code version changed or an input's data version is newer
than the one its last materialisation consumed; it does not propagate that mark downstream
until the stale asset is rematerialised. It also trusts its records: a release file deleted
or edited, or a stored table gone from the state folder, leaves its asset "fresh". So
:func:`unsynced_assets` adds the assets whose files are not what their last materialisation
wrote (:func:`files_out_of_sync`: a release file missing or not matching the sha256 recorded,
a stored table missing) and returns the closure of all of them downstream, which a rerun
restores exactly. Uses Dagster's stale-status resolver, the one behind the UI's "Unsynced"
labels (an internal class; dagster is pinned).
"""

from __future__ import annotations

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime

from prism_pipeline.core import state_store
from prism_pipeline.core.dataset import CARD_NAME, Dataset
from prism_pipeline.core.hashing import sha256_file
from prism_pipeline.core.resources import STORED_TABLE, DatasetPaths, resolved
from prism_pipeline.core.sources.observations import changed_observations


def observe_sources(instance: dg.DagsterInstance, defs: dg.Definitions, dataset: Dataset) -> int:
    """Record a new observation (no run) for every source whose version changed; returns how many."""
    resources = {resource: defs.resources[resource] for resource, _ in dataset.all_settings.values()}
    paths = resolved(defs.resources["paths"])  # EnvVar fields read
    events = changed_observations(instance, dataset, paths, resources)
    for event in events:
        instance.report_runless_asset_event(event)
    return len(events)


def files_out_of_sync(instance: dg.DagsterInstance, defs: dg.Definitions, dataset: Dataset,
                      paths: DatasetPaths | None = None) -> dict[dg.AssetKey, str]:
    """Materialised assets whose files are not what they wrote: asset -> why, e.g.
    "metadata.jsonl is missing" (file names only: no participant data)."""
    paths = paths or resolved(defs.resources["paths"])
    keys = list(defs.resolve_asset_graph().materializable_asset_keys)
    events = instance.get_latest_materialization_events(keys)  # one query for all
    card_missing = not (paths.output / CARD_NAME).exists()
    release = {dg.AssetKey(dataset.key(asset)): file for asset, file in dataset.release_assets.items()}
    out: dict[dg.AssetKey, str] = {}
    for key, event in events.items():
        if event is None:
            continue  # never materialised: Dagster's own status is MISSING
        meta = event.asset_materialization.metadata
        stored = meta.get(STORED_TABLE)
        if stored is not None and not state_store.is_stored(paths.state / stored.value):
            out[key] = f"its stored table {stored.value} is missing from the state folder"
        file = release.get(key)
        if file is not None and "sha256" in meta:
            path = paths.output / file
            if not path.exists():
                out[key] = f"{file} is missing from the release folder"
            elif sha256_file(path) != meta["sha256"].value:
                out[key] = f"{file} is not the file this pipeline wrote (its sha256 differs)"
            elif card_missing:
                out[key] = f"the dataset card {CARD_NAME} is missing from the release folder"
    return out


def unsynced_assets(instance: dg.DagsterInstance, defs: dg.Definitions,
                    also: set[dg.AssetKey] | frozenset = frozenset()) -> set[dg.AssetKey]:
    """Stale or never-materialised assets, and ``also`` (:func:`files_out_of_sync`), with
    everything downstream of them."""
    graph = defs.resolve_asset_graph()
    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
                          instance=instance, asset_graph=graph)
    resolver = CachingStaleStatusResolver(instance=instance, asset_graph=graph, loading_context=view)
    roots = {key for key in graph.materializable_asset_keys
             if resolver.get_status(key) in (StaleStatus.STALE, StaleStatus.MISSING)} | set(also)
    if not roots:
        return set()
    # A multi-asset that cannot be subset (the release's four files) runs whole.
    selection = dg.AssetSelection.assets(*roots).downstream().required_multi_asset_neighbors()
    return set(selection.resolve(graph)) & set(graph.materializable_asset_keys)
