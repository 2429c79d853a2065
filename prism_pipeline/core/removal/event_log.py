"""Read the Dagster event log for the leak scan (SPEC §7.7): every stored event of every run."""

import re

import dagster as dg

from prism_pipeline.core.removal.scan import count_in_bytes


def event_log_matches(instance: dg.DagsterInstance, ids, text_hashes) -> int:
    """Matches in every event of every run in the instance, as stored (each event serialized
    as Dagster stores it), through the public API: ``instance.all_logs`` per run (with the
    default SQLite storage each run has its own database, so this costs ~35 ms per run in the
    history; docs/removal.md). Inline chart images (base64 PNGs of census shares, no
    participant data) are skipped: base64 text is full of short letter-digit runs. Not the
    storage's raw files: the run storage compresses job snapshots, and random compressed bytes
    look like short ids."""
    total = 0
    for run_id in instance.get_run_ids():
        # One search per run over its events joined by newlines (a boundary byte, so no id or
        # hash can match across two events): building the automaton once per event cost more
        # than the search.
        text = _DATA_URI.sub("", "\n".join(dg.serialize_value(event) for event in instance.all_logs(run_id)))
        total += count_in_bytes(text.encode("utf-8"), ids, text_hashes)
    return total


_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
