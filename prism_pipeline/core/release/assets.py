"""Dagster helpers of a dataset's release step: what the last release recorded, the dataset
card from the instance's records, and one materialisation per release file.

A dataset's ``release_files`` multi-asset builds its records and calls
``publish.publish_release``; these functions give it what the instance knows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import dagster as dg

from prism_pipeline.core.dataset import CARD_NAME, Dataset
from prism_pipeline.core.release import card as cards
from prism_pipeline.core.release.publish import Published
from prism_pipeline.core.removal.jobs import REMOVAL_JOB
from prism_pipeline.core.removal.requests import REQUESTS_FILENAME, RemovalArrived, check_none_arrived, load_requests
from prism_pipeline.core.sources.observations import latest_observed_version


def recorded_release(instance: dg.DagsterInstance, dataset: Dataset,
                     built_from: Iterable[str]) -> dict[str, tuple[str, int]] | None:
    """{release file: (sha256, rows)} as the release step last wrote them, when none of the
    tables ``built_from`` (what the carried files come from) was materialised since; else None.
    A release file whose bytes still have that sha256 can then be carried forward: dropping the
    removed participants' lines equals a rebuild from the redacted tables."""
    built_from = list(built_from)
    keys = [dg.AssetKey(dataset.key(k)) for k in dataset.release_assets] + [dg.AssetKey(dataset.key(k))
                                                                             for k in built_from]
    events = instance.get_latest_materialization_events(keys)  # one query for all
    recorded, written_at = {}, []
    for asset, file in dataset.release_assets.items():
        event = events.get(dg.AssetKey(dataset.key(asset)))
        meta = event.asset_materialization.metadata if event else {}
        if "sha256" not in meta:
            return None
        recorded[file] = (meta["sha256"].value, int(meta["dagster/row_count"].value))
        written_at.append(event.timestamp)
    for key in built_from:
        event = events.get(dg.AssetKey(dataset.key(key)))
        if event is None or event.timestamp > min(written_at):
            return None
    return recorded


def card_writer(instance: dg.DagsterInstance, dataset: Dataset, state_dir: Path, checked: list[str]):
    """``publish_release``'s ``card``: the dataset card from the written files, the sources' data
    versions this run consumed (their latest observations) and the number of removal requests
    (each one participant; every one is applied to a release before it is written)."""

    def card(written, on_disk) -> str:
        sources = {f.key: latest_observed_version(instance, dataset.key(f.key)) for f in dataset.source_files}
        removed = len(load_requests(state_dir / REQUESTS_FILENAME))
        flags = cards.flag_counts(on_disk[cards.METADATA_FILE]) if cards.METADATA_FILE in on_disk else None
        return cards.dataset_card(dataset, written, sources, removed, checked, flags)

    return card


def no_removal_arrived(dataset: Dataset, state_dir: Path):
    """``publish_release``'s ``before_commit``: the step fails, in one line naming the command
    that applies it, when a removal request for a participant of this release arrived during
    the run (``requests.check_none_arrived``); nothing is published then."""

    def check(user_ids: set[str]) -> None:
        try:
            check_none_arrived(state_dir, user_ids, dataset.command(f"run --job {REMOVAL_JOB}"))
        except RemovalArrived as err:
            raise dg.Failure(description=str(err)) from None

    return check


def release_results(dataset: Dataset, published: Published, removing: bool,
                    extra: Mapping[str, object] | None = None) -> Iterator[dg.MaterializeResult]:
    """One materialisation per release file: path, sha256, rows, bytes, how it was written, and
    in a removal run its sha256 before (for the ledger)."""
    written, before = published.written, published.before
    summary = "\n".join(["| file | rows | sha256 |", "|---|---|---|"]
                        + [f"| {w.name} | {w.rows:,} | `{w.sha256[:16]}…` |" for w in written.values()])
    for asset, file in dataset.release_assets.items():
        w = written[file]
        yield dg.MaterializeResult(asset_key=dataset.key(asset), metadata={
            "path": dg.MetadataValue.path(str(w.path)),
            "sha256": w.sha256,
            "dagster/row_count": w.rows,
            "bytes": w.bytes,
            "release": dg.MetadataValue.md(summary),
            "written": published.mode,
            "dataset_card": CARD_NAME,
            **(extra or {}),
            # For the removal ledger (removal_ledger): the file as it was before this removal.
            **({"sha256_before": before.get(file) or "absent"} if removing else {}),
        })


def column_lineage(columns, source: str | list[str], nested=None, overrides=None) -> dg.TableColumnLineage:
    """Which upstream columns each release column derives from (``dagster/column_lineage``);
    assets are named by name or key path (``Dataset.key``)."""
    nested, overrides = nested or {}, overrides or {}
    deps = {}
    for col in columns:
        if col in overrides:
            asset, upstream = overrides[col]
            deps[col] = [dg.TableColumnDep(asset_key=dg.AssetKey(asset), column_name=upstream)]
        elif col in nested:
            deps[col] = [dg.TableColumnDep(asset_key=dg.AssetKey(source), column_name=f"{col}.{key}")
                         for key in nested[col]]
        else:
            deps[col] = [dg.TableColumnDep(asset_key=dg.AssetKey(source), column_name=col)]
    return dg.TableColumnLineage(deps)
