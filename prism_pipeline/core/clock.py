"""The one clock of the pipeline's records (ledger entries, audit reports, dataset cards): UTC,
to the second. No Dagster import."""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    """The current time in UTC, to the second."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def utc_now() -> str:
    """:func:`now` in ISO 8601: ``2026-12-04T12:00:00+00:00`` (the ledger's ``applied_at``)."""
    return now().isoformat()
