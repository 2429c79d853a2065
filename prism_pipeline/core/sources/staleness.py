"""What is unsynced: the assets a rerun must recompute after sources, settings or rules changed.

Dagster marks an asset stale when its code version changed or an input's data version is newer
than the one its last materialisation consumed; it does not propagate that mark downstream
until the stale asset is rematerialised. A rerun must recompute the stale and missing assets
and everything downstream of them (their new data versions make those stale next), so
:func:`unsynced_assets` returns that closure. Uses Dagster's stale-status resolver, the one
behind the UI's "Unsynced" labels (an internal class; dagster is pinned).
"""

from __future__ import annotations

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime

from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.sources.observations import changed_observations


def observe_sources(instance: dg.DagsterInstance, defs: dg.Definitions, dataset: Dataset) -> int:
    """Record a new observation (no run) for every source whose version changed; returns how many."""
    resources = {resource: defs.resources[resource] for resource, _ in dataset.all_settings.values()}
    paths = defs.resources["paths"].process_config_and_initialize()  # EnvVar fields resolved
    events = changed_observations(instance, dataset, paths, resources)
    for event in events:
        instance.report_runless_asset_event(event)
    return len(events)


def unsynced_assets(instance: dg.DagsterInstance, defs: dg.Definitions) -> set[dg.AssetKey]:
    """Stale or never-materialised assets and everything downstream of them."""
    graph = defs.resolve_asset_graph()
    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
                          instance=instance, asset_graph=graph)
    resolver = CachingStaleStatusResolver(instance=instance, asset_graph=graph, loading_context=view)
    roots = {key for key in graph.materializable_asset_keys
             if resolver.get_status(key) in (StaleStatus.STALE, StaleStatus.MISSING)}
    if not roots:
        return set()
    # A multi-asset that cannot be subset (the release's four files) runs whole.
    selection = dg.AssetSelection.assets(*roots).downstream().required_multi_asset_neighbors()
    return set(selection.resolve(graph)) & set(graph.materializable_asset_keys)
