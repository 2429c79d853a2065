"""Removal requests as data (codebook §3.4, SPEC §7.7): salt, hashes, the requests file."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import date, datetime

import pandas as pd
import pytest

from prism_pipeline.core.removal import requests as rq
from prism_pipeline.core.removal.requests import (
    REQUESTS_FILENAME,
    RemovalRequestError,
    add_request,
    load_or_create_salt,
    load_requests,
    removed_mask,
    user_hash,
)
from prism_pipeline.core.removal.scan import scan_paths

KNOWN = pd.Series(["user0", "user1", "user2", "user10"], dtype="str")
SALT = bytes(range(32))
H0 = hashlib.sha256(SALT + b"user0").hexdigest()
H1 = hashlib.sha256(SALT + b"user1").hexdigest()
HEADER = "request_id,user_hash,received,note\n"


def test_salt_created_once_private_and_stable(tmp_path):
    state = tmp_path / "state"
    salt = load_or_create_salt(state)
    path = state / "removal_salt"
    assert len(salt) == 32
    assert path.read_text() == salt.hex() + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_salt(state) == salt
    assert sorted(p.name for p in state.iterdir()) == ["removal_salt"]  # no temporary file left
    assert load_or_create_salt(tmp_path / "other") != salt


def test_bad_salt_file(tmp_path):
    (tmp_path / "removal_salt").write_text("not hex\n")
    with pytest.raises(RemovalRequestError, match=r"removal_salt: not 64 lowercase hex characters$"):
        load_or_create_salt(tmp_path)


def test_user_hash_scalar_and_series():
    assert user_hash("user0", SALT) == H0
    ids = pd.Series(["user1", "user0", None, "user1"], index=[5, 6, 7, 8], name="user_id", dtype="str")
    hashed = user_hash(ids, SALT)
    assert hashed.index.tolist() == [5, 6, 7, 8]
    assert hashed.name == "user_id"
    assert hashed.tolist()[:2] == [H1, H0] and hashed.tolist()[3] == H1
    assert hashed.isna().tolist() == [False, False, True, False]
    assert user_hash("user0", b"other salt") != H0


def test_removed_mask():
    requests = pd.DataFrame({"request_id": ["rr-0001"], "user_hash": [H1], "received": ["2025-01-02"], "note": [""]})
    ids = pd.Series(["user0", "user1", "user10", None, "user1"], index=list("abcde"), dtype="str")
    mask = removed_mask(ids, requests, SALT)
    assert mask.tolist() == [False, True, False, False, True]
    assert mask.index.tolist() == list("abcde") and mask.dtype == bool
    assert removed_mask(ids, rq.empty_requests(), SALT).tolist() == [False] * 5


def test_missing_file_is_no_requests(tmp_path):
    frame = load_requests(tmp_path / REQUESTS_FILENAME)
    assert list(frame.columns) == ["request_id", "user_hash", "received", "note"]
    assert len(frame) == 0
    assert frame.attrs == {"duplicates_ignored": 0, "duplicate_request_ids": []}


def test_load_valid_file_with_duplicate_and_quoted_note(tmp_path):
    path = tmp_path / REQUESTS_FILENAME
    path.write_text(HEADER + f"rr-0001,{H0},2025-01-02,\n"
                    + f'rr-0002,{H1},2025-02-03,"by email, twice"\n\n'
                    + f"rr-0003,{H0},2025-03-04,asked again\n")
    frame = load_requests(path)
    assert frame.to_dict("list") == {"request_id": ["rr-0001", "rr-0002"], "user_hash": [H0, H1],
                                     "received": ["2025-01-02", "2025-02-03"], "note": ["", "by email, twice"]}
    assert frame.index.tolist() == [0, 1]
    assert frame.attrs == {"duplicates_ignored": 1, "duplicate_request_ids": ["rr-0003"]}


@pytest.mark.parametrize("content, message", [
    ("", "line 1: missing header"),
    ("request_id,user_hash,received\n", "line 1: header must be exactly request_id,user_hash,received,note"),
    (f"rr-0001,{H0},2025-01-02,\n", "line 1: header must be exactly request_id,user_hash,received,note"),
    (HEADER + f"rr-0001,{H0},2025-01-02\n", "line 2: expected 4 fields, found 3"),
    (HEADER + f"rr-1,{H0},2025-01-02,\n", "line 2, field request_id: not of the form rr-0001"),
    (HEADER + f"rr-0001,{H0},2025-01-02,\n\nrr-0001,{H1},2025-01-02,\n", "line 4, field request_id: repeats line 2"),
    (HEADER + "rr-0001,,2025-01-02,\n", "line 2, field user_hash: empty"),
    (HEADER + f"rr-0001,{H0[:-1]},2025-01-02,\n", "line 2, field user_hash: not 64 lowercase hex characters"),
    (HEADER + f"rr-0001,{H0.upper()},2025-01-02,\n", "line 2, field user_hash: not 64 lowercase hex characters"),
    (HEADER + "rr-0001,user0,2025-01-02,\n", "line 2, field user_hash: not 64 lowercase hex characters"),
    (HEADER + f"rr-0001,{H0},2025-02-30,\n", "line 2, field received: not an ISO date YYYY-MM-DD"),
    (HEADER + f"rr-0001,{H0},2/1/2025,\n", "line 2, field received: not an ISO date YYYY-MM-DD"),
    (HEADER + f'rr-0001,{H0},2025-01-02,"a\nb"\nrr-0002,{H1},2025-1-2,\n',
     "line 4, field received: not an ISO date YYYY-MM-DD"),
])
def test_malformed_files_name_file_line_and_field(tmp_path, content, message):
    path = tmp_path / REQUESTS_FILENAME
    path.write_text(content)
    with pytest.raises(RemovalRequestError) as info:
        load_requests(path)
    assert str(info.value) == f"{path}: {message}"
    assert "user0" not in str(info.value) and H0 not in str(info.value)


def test_not_utf8(tmp_path):
    path = tmp_path / REQUESTS_FILENAME
    path.write_bytes(HEADER.encode() + b"rr-0001,\xff\n")
    with pytest.raises(RemovalRequestError, match=r": line 2: not valid UTF-8$"):
        load_requests(path)


def test_add_request_appends_sequential_ids(tmp_path):
    state = tmp_path / "state"
    assert add_request(state, "user1", KNOWN, date(2025, 1, 2), None) == "rr-0001"
    assert add_request(state, "user10", KNOWN, date(2025, 1, 3), "by email, via the helpdesk") == "rr-0002"
    salt = load_or_create_salt(state)
    h1, h10 = (hashlib.sha256(salt + u.encode()).hexdigest() for u in ("user1", "user10"))
    path = state / REQUESTS_FILENAME
    assert path.read_text() == (HEADER + f"rr-0001,{h1},2025-01-02,\n"
                                + f'rr-0002,{h10},2025-01-03,"by email, via the helpdesk"\n')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in state.iterdir()) == [".removal_requests.csv.lock", "removal_requests.csv",
                                                       "removal_salt"]
    assert load_requests(path)["request_id"].tolist() == ["rr-0001", "rr-0002"]
    # The participant's id is stored nowhere in clear.
    assert scan_paths([state], ["user1", "user10"], []) == {}


def test_add_request_keeps_hand_edits_and_never_reuses_numbers(tmp_path):
    salt = load_or_create_salt(tmp_path)
    h2 = hashlib.sha256(salt + b"user2").hexdigest()
    path = tmp_path / REQUESTS_FILENAME
    old = HEADER + f"rr-0007,{h2},2024-12-31,first\nrr-0009,{h2},2025-01-01,duplicate"  # no final newline
    path.write_text(old)
    assert add_request(tmp_path, "user0", KNOWN, date(2025, 1, 5)) == "rr-0010"
    assert path.read_text().startswith(old + "\nrr-0010,")


def test_add_request_refusals_do_not_echo_the_id(tmp_path):
    add_request(tmp_path, "user1", KNOWN, date(2025, 1, 2))
    before = (tmp_path / REQUESTS_FILENAME).read_bytes()
    cases = [
        (("user99", KNOWN, date(2025, 1, 2), None), "unknown user id"),
        (("user1", KNOWN, date(2025, 1, 3), None), "already requested as rr-0001"),
        (("user2", KNOWN, date(2025, 1, 3), "participant USER2 asked by email"),
         "note must not contain the participant's id"),
        (("user2", KNOWN, date(2025, 1, 3), "two\nlines"), "note must be one line without control characters"),
        (("user2", KNOWN, datetime(2025, 1, 3, 12), None), "received must be a datetime.date"),
        (("", KNOWN, date(2025, 1, 3), None), "user id must be a non-empty string"),
    ]
    for args, message in cases:
        with pytest.raises(RemovalRequestError) as info:
            add_request(tmp_path, *args)
        assert str(info.value) == message
    assert (tmp_path / REQUESTS_FILENAME).read_bytes() == before


def test_add_request_failure_leaves_file_and_no_temporary(tmp_path, monkeypatch):
    add_request(tmp_path, "user1", KNOWN, date(2025, 1, 2))
    before = (tmp_path / REQUESTS_FILENAME).read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        add_request(tmp_path, "user2", KNOWN, date(2025, 1, 3))
    assert (tmp_path / REQUESTS_FILENAME).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".removal_requests.csv.lock", "removal_requests.csv",
                                                          "removal_salt"]


def test_add_request_refuses_a_malformed_file(tmp_path):
    (tmp_path / REQUESTS_FILENAME).write_text("")
    with pytest.raises(RemovalRequestError, match=r"removal_requests.csv: line 1: missing header$"):
        add_request(tmp_path, "user1", KNOWN, date(2025, 1, 2))
