"""The removal audit ledger (codebook §3.4, SPEC §7.7).

``<state_dir>/removal_ledger.jsonl`` is append-only: one JSON object per applied removal
request, written by the run that applied it, keys in this order:

| key                    | value                                                             |
|------------------------|-------------------------------------------------------------------|
| request_id             | ``rr-0001`` (the request in ``removal_requests.csv``)            |
| user_hash              | the request's salted hash (never the clear participant id)       |
| received               | the request's ISO date ``YYYY-MM-DD``                           |
| applied_at             | UTC, ISO-8601 to the second: ``2025-01-31T12:00:00+00:00`` (``Z`` also accepted) |
| run_id                 | the Dagster run that applied it (non-empty string)               |
| rows_removed           | ``{file name: rows removed}`` (non-negative integers)            |
| release_sha256_before  | ``{file name: sha256 hex or null}`` (null: file did not exist)   |
| release_sha256_after   | ``{file name: sha256 hex}``                                      |

A request is applied once: :func:`append_entries` refuses a request id already in the ledger
(or twice in one call). The ledger is rewritten atomically (old bytes verbatim + new lines in
a temporary file, fsync, ``os.replace``), so a failed run never leaves a half-written line.

Errors (:class:`LedgerError`) name the file and line (or the entry's position) and the key,
never a value.

No Dagster import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import pandas as pd

from prism_pipeline.core.atomic import atomic_write_bytes, locked
from prism_pipeline.core.clock import utc_now
from prism_pipeline.core.removal.requests import REQUEST_ID_RE, SHA256_HEX_RE, _valid_date

LEDGER_FILENAME = "removal_ledger.jsonl"
LEDGER_KEYS: tuple[str, ...] = ("request_id", "user_hash", "received", "applied_at", "run_id", "rows_removed",
                                "release_sha256_before", "release_sha256_after")
_APPLIED_AT_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|\+00:00)")


class LedgerError(ValueError):
    """The ledger, or an entry for it, is invalid; the message never contains a value."""


def _is_sha(value: object) -> bool:
    return isinstance(value, str) and SHA256_HEX_RE.fullmatch(value) is not None


def _file_map(entry: Mapping, key: str, ok) -> str | None:
    value = entry[key]
    if not isinstance(value, dict):
        return f"{key}: not an object"
    for name, v in value.items():
        if name == "" or not ok(v):
            return f"{key}: bad value for a file"
    return None


def _problem(entry: object) -> str | None:
    """What is wrong with one entry, or None."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    if tuple(entry) != LEDGER_KEYS:
        if set(entry) != set(LEDGER_KEYS):
            return f"keys must be exactly {', '.join(LEDGER_KEYS)}"
        return f"keys must be in the order {', '.join(LEDGER_KEYS)}"
    if not (isinstance(entry["request_id"], str) and REQUEST_ID_RE.fullmatch(entry["request_id"])):
        return "request_id: not of the form rr-0001"
    if not _is_sha(entry["user_hash"]):
        return "user_hash: not 64 lowercase hex characters"
    if not (isinstance(entry["received"], str) and _valid_date(entry["received"])):
        return "received: not an ISO date YYYY-MM-DD"
    applied = entry["applied_at"]
    if not (isinstance(applied, str) and _APPLIED_AT_RE.fullmatch(applied)):
        return "applied_at: not UTC ISO-8601 to the second (YYYY-MM-DDTHH:MM:SS+00:00)"
    try:
        datetime.fromisoformat(applied.replace("Z", "+00:00"))
    except ValueError:
        return "applied_at: not a valid date and time"
    if not (isinstance(entry["run_id"], str) and entry["run_id"].strip()):
        return "run_id: not a non-empty string"
    return (_file_map(entry, "rows_removed", lambda v: type(v) is int and v >= 0)
            or _file_map(entry, "release_sha256_before", lambda v: v is None or _is_sha(v))
            or _file_map(entry, "release_sha256_after", _is_sha))


def read_ledger(path: str | Path) -> list[dict]:
    """The validated entries in file order ([] if the file does not exist). Blank lines are
    allowed; a bad line or a repeated request_id raises :class:`LedgerError`."""
    path = Path(path)
    if not path.exists():
        return []
    entries: list[dict] = []
    seen: dict[str, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError:
        raise LedgerError(f"{path}: not valid UTF-8") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise LedgerError(f"{path}: line {number}: not valid JSON") from None
        problem = _problem(entry)
        if problem:
            raise LedgerError(f"{path}: line {number}: {problem}")
        rid = entry["request_id"]
        if rid in seen:
            raise LedgerError(f"{path}: line {number}: request_id repeats line {seen[rid]}")
        seen[rid] = number
        entries.append(entry)
    return entries


def applied_request_ids(path: str | Path) -> set[str]:
    """Request ids already in the ledger."""
    return {e["request_id"] for e in read_ledger(path)}


def _encode(entry: Mapping) -> bytes:
    # Fixed key order (LEDGER_KEYS) and file names sorted: identical entries give identical bytes.
    ordered = {k: (dict(sorted(entry[k].items())) if isinstance(entry[k], dict) else entry[k]) for k in LEDGER_KEYS}
    return (json.dumps(ordered, ensure_ascii=False, allow_nan=False, separators=(", ", ": ")) + "\n").encode("utf-8")


def append_entries(path: str | Path, entries: Iterable[Mapping]) -> None:
    """Append ``entries`` atomically (module doc). Every entry is validated first; an entry
    whose request_id is already in the ledger, or repeated among ``entries``, is refused and
    nothing is written. No entries: nothing is written."""
    path = Path(path)
    entries = [dict(e) if isinstance(e, Mapping) else e for e in entries]
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and set(entry) == set(LEDGER_KEYS):
            entry = {k: entry[k] for k in LEDGER_KEYS}  # key order is the writer's business
            entries[i] = entry
        problem = _problem(entry)
        if problem:
            raise LedgerError(f"ledger entry {i}: {problem}")
    if not entries:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent / f".{path.name}.lock"):
        applied = applied_request_ids(path)
        new: set[str] = set()
        for i, entry in enumerate(entries):
            rid = entry["request_id"]
            if rid in applied:
                raise LedgerError(f"ledger entry {i}: request {rid} is already in the ledger")
            if rid in new:
                raise LedgerError(f"ledger entry {i}: request {rid} appears twice")
            new.add(rid)
        old = path.read_bytes() if path.exists() else b""
        if old and not old.endswith(b"\n"):
            old += b"\n"
        atomic_write_bytes(path, old + b"".join(_encode(e) for e in entries))


def pending(requests: pd.DataFrame, ledger_path: str | Path) -> pd.DataFrame:
    """The requests (a :func:`~prism_pipeline.core.removal.requests.load_requests` frame) not yet in
    the ledger, in file order with a fresh index.

    Refuses (:class:`LedgerError`) a ledger entry whose request is missing from the requests
    file, or whose user_hash differs from it: the requests file is what filters every build,
    so losing an applied request would silently bring a removed participant back."""
    entries = read_ledger(ledger_path)
    by_id = dict(zip(requests["request_id"].tolist(), requests["user_hash"].tolist(), strict=True))
    missing = [e["request_id"] for e in entries if e["request_id"] not in by_id]
    if missing:
        raise LedgerError(f"{ledger_path}: {len(missing)} applied requests are missing from the requests file "
                          f"(first: {missing[0]}); restore them before building")
    differ = [e["request_id"] for e in entries if by_id[e["request_id"]] != e["user_hash"]]
    if differ:
        raise LedgerError(f"{ledger_path}: request {differ[0]} has a different user_hash in the requests file")
    applied = {e["request_id"] for e in entries}
    return requests.loc[~requests["request_id"].isin(list(applied))].reset_index(drop=True)


def ledger_entries(pending: pd.DataFrame, erasure: pd.DataFrame, run_id: str, sha_before: Mapping[str, str | None],
                   sha_after: Mapping[str, str]) -> list[dict]:
    """One ledger entry per newly applied removal request (removal/ledger.py): no clear ids."""
    applied_at = utc_now()
    entries = []
    for request in pending.itertuples(index=False):  # one per request: a handful, not data rows
        rows = erasure.loc[erasure["request_id"] == request.request_id]
        entries.append({
            "request_id": request.request_id,
            "user_hash": request.user_hash,
            "received": request.received,
            "applied_at": applied_at,
            "run_id": run_id,
            "rows_removed": {r.file: int(r.rows) for r in rows.itertuples(index=False)},
            "release_sha256_before": dict(sha_before),
            "release_sha256_after": dict(sha_after),
        })
    return entries
