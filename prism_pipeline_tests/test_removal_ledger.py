"""The append-only removal audit ledger (codebook §3.4, SPEC §7.7)."""

from __future__ import annotations

import json
import os
import re

import pandas as pd
import pytest

from prism_pipeline.core.clock import utc_now
from prism_pipeline.core.removal.ledger import (
    LEDGER_KEYS,
    LedgerError,
    append_entries,
    applied_request_ids,
    pending,
    read_ledger,
)

H1, H2, H3 = "1" * 64, "2" * 64, "3" * 64
SHA_A, SHA_B = "a" * 64, "b" * 64


def entry(request_id="rr-0001", user_hash=H1, **changes) -> dict:
    base = {"request_id": request_id, "user_hash": user_hash, "received": "2025-01-02",
            "applied_at": "2025-01-20T10:11:12+00:00", "run_id": "0f3c-run",
            "rows_removed": {"utterances.jsonl": 45, "survey.jsonl": 1},
            "release_sha256_before": {"survey.jsonl": SHA_A, "new.jsonl": None},
            "release_sha256_after": {"survey.jsonl": SHA_B, "new.jsonl": SHA_A}}
    return {**base, **changes}


def requests_frame(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["request_id", "user_hash", "received", "note"], dtype="str")


def test_append_then_read(tmp_path):
    path = tmp_path / "removal_ledger.jsonl"
    assert read_ledger(path) == [] and applied_request_ids(path) == set()
    append_entries(path, [entry()])
    append_entries(path, [entry("rr-0002", H2, applied_at="2025-02-01T00:00:00Z"), entry("rr-0003", H3)])
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert lines[0] == (
        '{"request_id": "rr-0001", "user_hash": "' + H1 + '", "received": "2025-01-02", '
        '"applied_at": "2025-01-20T10:11:12+00:00", "run_id": "0f3c-run", '
        '"rows_removed": {"survey.jsonl": 1, "utterances.jsonl": 45}, '
        '"release_sha256_before": {"new.jsonl": null, "survey.jsonl": "' + SHA_A + '"}, '
        '"release_sha256_after": {"new.jsonl": "' + SHA_A + '", "survey.jsonl": "' + SHA_B + '"}}')
    assert [e["request_id"] for e in read_ledger(path)] == ["rr-0001", "rr-0002", "rr-0003"]
    assert read_ledger(path)[0] == entry()
    assert applied_request_ids(path) == {"rr-0001", "rr-0002", "rr-0003"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".removal_ledger.jsonl.lock", "removal_ledger.jsonl"]


def test_entries_in_any_key_order_are_written_in_the_fixed_order(tmp_path):
    path = tmp_path / "ledger.jsonl"
    append_entries(path, [dict(reversed(list(entry().items())))])
    assert list(json.loads(path.read_text())) == list(LEDGER_KEYS)


def test_refuses_an_already_applied_request_and_writes_nothing(tmp_path):
    path = tmp_path / "ledger.jsonl"
    append_entries(path, [entry()])
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=r"^ledger entry 1: request rr-0001 is already in the ledger$"):
        append_entries(path, [entry("rr-0002", H2), entry()])
    with pytest.raises(LedgerError, match=r"^ledger entry 1: request rr-0004 appears twice$"):
        append_entries(path, [entry("rr-0004", H2), entry("rr-0004", H2)])
    assert path.read_bytes() == before
    append_entries(path, [])
    assert path.read_bytes() == before


@pytest.mark.parametrize("changes, message", [
    ({"request_id": "rr-1"}, "request_id: not of the form rr-0001"),
    ({"user_hash": "user12"}, "user_hash: not 64 lowercase hex characters"),
    ({"received": "2025-13-01"}, "received: not an ISO date YYYY-MM-DD"),
    ({"applied_at": "2025-01-20T10:11:12.5+00:00"}, re.escape(
        "applied_at: not UTC ISO-8601 to the second (YYYY-MM-DDTHH:MM:SS+00:00)")),
    ({"applied_at": "2025-01-20T10:11:12+02:00"}, re.escape(
        "applied_at: not UTC ISO-8601 to the second (YYYY-MM-DDTHH:MM:SS+00:00)")),
    ({"applied_at": "2025-01-20T25:11:12Z"}, "applied_at: not a valid date and time"),
    ({"run_id": " "}, "run_id: not a non-empty string"),
    ({"rows_removed": {"survey.jsonl": -1}}, "rows_removed: bad value for a file"),
    ({"rows_removed": {"survey.jsonl": True}}, "rows_removed: bad value for a file"),
    ({"rows_removed": [1]}, "rows_removed: not an object"),
    ({"release_sha256_before": {"survey.jsonl": "x"}}, "release_sha256_before: bad value for a file"),
    ({"release_sha256_after": {"survey.jsonl": None}}, "release_sha256_after: bad value for a file"),
    ({"user_id": "user12"}, "keys must be exactly request_id, user_hash, received, applied_at, run_id, rows_removed, "
                            "release_sha256_before, release_sha256_after"),
])
def test_invalid_entries_name_the_key_not_the_value(tmp_path, changes, message):
    path = tmp_path / "ledger.jsonl"
    with pytest.raises(LedgerError, match=f"^ledger entry 0: {message}$") as info:
        append_entries(path, [entry(**changes)])
    assert "user12" not in str(info.value)
    assert not path.exists()
    # The same line in a file: the error names file and line.
    path.write_text("\n" + json.dumps(entry("rr-0009", H2)) + "\n" + json.dumps(entry(**changes)) + "\n")
    with pytest.raises(LedgerError, match=f"^{re.escape(str(path))}: line 3: {message}$"):
        read_ledger(path)


def test_bad_lines(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_text(json.dumps(entry()) + "\n{not json\n")
    with pytest.raises(LedgerError, match=r": line 2: not valid JSON$"):
        read_ledger(path)
    path.write_text(json.dumps(entry()) + "\n" + json.dumps(entry(user_hash=H2)) + "\n")
    with pytest.raises(LedgerError, match=r": line 2: request_id repeats line 1$"):
        read_ledger(path)
    path.write_text(json.dumps(dict(reversed(list(entry().items())))) + "\n")
    with pytest.raises(LedgerError, match=r": line 1: keys must be in the order request_id, user_hash, "):
        read_ledger(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(LedgerError, match=r": line 1: not a JSON object$"):
        applied_request_ids(path)


def test_a_failed_write_leaves_the_ledger_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "ledger.jsonl"
    append_entries(path, [entry()])
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        append_entries(path, [entry("rr-0002", H2)])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ledger.jsonl.lock", "ledger.jsonl"]


def test_pending(tmp_path):
    path = tmp_path / "ledger.jsonl"
    requests = requests_frame(["rr-0001", H1, "2025-01-02", ""], ["rr-0002", H2, "2025-01-03", "x"],
                              ["rr-0003", H3, "2025-01-04", ""])
    assert pending(requests, path).equals(requests)
    append_entries(path, [entry("rr-0002", H2)])
    out = pending(requests, path)
    assert out.to_dict("list") == {"request_id": ["rr-0001", "rr-0003"], "user_hash": [H1, H3],
                                   "received": ["2025-01-02", "2025-01-04"], "note": ["", ""]}
    assert out.index.tolist() == [0, 1]


def test_pending_refuses_a_ledger_the_requests_file_no_longer_backs(tmp_path):
    path = tmp_path / "ledger.jsonl"
    append_entries(path, [entry("rr-0001", H1), entry("rr-0002", H2)])
    with pytest.raises(LedgerError, match=r"2 applied requests are missing from the requests file \(first: rr-0001\)"):
        pending(requests_frame(), path)
    with pytest.raises(LedgerError, match=r"request rr-0002 has a different user_hash in the requests file$"):
        pending(requests_frame(["rr-0001", H1, "2025-01-02", ""], ["rr-0002", H3, "2025-01-02", ""]), path)


def test_utc_now_format():
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00", utc_now())
