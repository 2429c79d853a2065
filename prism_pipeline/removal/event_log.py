"""Read the Dagster event log for the leak scan (SPEC §7.7): every stored event of every run."""

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import dagster as dg
from dagster._core.storage.event_log import SqliteEventLogStorage  # no public name; dagster pinned

from prism_pipeline.removal.scan import count_in_bytes


def event_log_matches(instance: dg.DagsterInstance, ids, text_hashes) -> int:
    """Matches in every event of every run in the instance, as stored (the serialized JSON of
    each event). Inline chart images (base64 PNGs of census shares, no participant data) are
    skipped: base64 text is full of short letter-digit runs. Not the storage's raw files:
    the run storage compresses job snapshots, and random compressed bytes look like short ids."""
    total = 0
    for run_id in instance.get_run_ids():
        # One search per run over its events joined by newlines (a boundary byte, so no id or
        # hash can match across two events): building the automaton once per event cost more
        # than the search.
        text = _DATA_URI.sub("", "\n".join(_stored_events(instance, run_id)))
        total += count_in_bytes(text.encode("utf-8"), ids, text_hashes)
    return total


def _stored_events(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """A run's events as serialized JSON. The default SQLite storage keeps one database per
    run: its ``event`` column is read directly (the API connects through an Alembic schema check
    per run database, ~50 ms each, so the scan grew by that per run in the history). Other
    storages (PostgreSQL) through the API, re-serialized."""
    storage = instance.event_log_storage
    if type(storage) is SqliteEventLogStorage:  # not the consolidated variant (one database)
        path = Path(storage.path_for_shard(run_id))
        if path.exists():
            with closing(sqlite3.connect(path, timeout=60)) as conn:
                return [row[0] for row in conn.execute("SELECT event FROM event_logs ORDER BY id")]
    return [dg.serialize_value(event) for event in instance.all_logs(run_id)]


_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
