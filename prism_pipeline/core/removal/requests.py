"""Participant removal requests as data (codebook §3.4, SPEC §7.7).

PRISM promises to remove a participant's data on request. The requests live in the private
state dir as ``<state_dir>/removal_requests.csv``, columns exactly::

    request_id,user_hash,received,note

| column     | meaning                                                                      |
|------------|------------------------------------------------------------------------------|
| request_id | ``rr-0001``, ``rr-0002``, ... (sequential, never reused; width grows past 9999) |
| user_hash  | ``sha256(salt + user_id UTF-8)`` as 64 lowercase hex characters (:func:`user_hash`) |
| received   | the date the request arrived, ISO ``YYYY-MM-DD``                             |
| note       | optional free text; it must NOT contain the participant's id (``add_request``  |
|            | rejects a note containing it) nor any other personal detail                  |

The participant's id is never stored in clear, only its salted hash: after a removal the
pipeline's leak scanner (:mod:`prism_pipeline.core.removal.scan`) must find no trace of the
participant anywhere in the outputs or the state dir, and that includes this file. The salt
is a per-installation secret (``<state_dir>/removal_salt``, 32 random bytes as hex, mode
0600). User ids are ``user0`` ... ``user1499``, so an unsalted hash could be reversed by
trying them all; with a secret salt it cannot. The salt must be backed up with the requests
file: without it no hash can be matched again and every request silently stops applying.

Duplicates: two rows with the same ``user_hash`` are not an error (a participant who asked
twice). :func:`load_requests` keeps the first row and reports the rest in the returned frame's
``attrs``: ``attrs["duplicates_ignored"]`` (an int) and ``attrs["duplicate_request_ids"]`` (the
ignored request ids, which are not personal). Read them right after loading: pandas does not
carry ``attrs`` through every operation.

Errors (:class:`RemovalRequestError`) name the file, the line and the field, never a value: a
wrong line may hold a participant's id.

No Dagster import.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from prism_pipeline.core.atomic import atomic_write_bytes, create_once, locked
from prism_pipeline.core.schemas import ISO_DATE_PATTERN, REQUEST_ID_PATTERN, SHA256_HEX_PATTERN

REQUEST_COLUMNS: tuple[str, ...] = ("request_id", "user_hash", "received", "note")
REQUESTS_FILENAME = "removal_requests.csv"
SALT_FILENAME = "removal_salt"
SALT_BYTES = 32

REQUEST_ID_RE = re.compile(REQUEST_ID_PATTERN)
SHA256_HEX_RE = re.compile(SHA256_HEX_PATTERN)
DATE_RE = re.compile(ISO_DATE_PATTERN)


class RemovalRequestError(ValueError):
    """A removal request or the requests file is invalid. Messages never contain a participant's id."""


# -- salt and hashes -------------------------------------------------------------------

def load_or_create_salt(state_dir: str | Path) -> bytes:
    """The installation's secret salt, created on first use (32 random bytes, stored as hex
    in ``<state_dir>/removal_salt`` with mode 0600).

    Creation is atomic and never overwrites (``atomic.create_once``): if another process got
    there first, its salt is used. Replacing an existing salt would orphan every request."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / SALT_FILENAME
    if not path.exists():
        create_once(path, secrets.token_bytes(SALT_BYTES).hex().encode("ascii") + b"\n")
    text = path.read_bytes().strip()
    if not re.fullmatch(rb"[0-9a-f]{%d}" % (2 * SALT_BYTES), text):
        raise RemovalRequestError(f"{path}: not {2 * SALT_BYTES} lowercase hex characters")
    return bytes.fromhex(text.decode("ascii"))


def _hash_one(user_id: str, salt: bytes) -> str:
    return hashlib.sha256(salt + user_id.encode("utf-8")).hexdigest()


def user_hash(user_ids: pd.Series | str, salt: bytes) -> pd.Series | str:
    """``sha256(salt + user_id UTF-8)`` as 64 lowercase hex characters, for one id or a
    Series (same index; each distinct id is hashed once; a missing id stays missing)."""
    if isinstance(user_ids, str):
        return _hash_one(user_ids, salt)
    codes, uniques = pd.factorize(user_ids)
    if len(uniques) and not all(isinstance(u, str) for u in uniques):
        raise TypeError("user ids must be strings")
    hashes = np.array([_hash_one(u, salt) for u in uniques] + [None], dtype=object)
    return pd.Series(hashes[codes], index=user_ids.index, name=user_ids.name, dtype="str")


def removed_users(state_dir: str | Path, requests: pd.DataFrame, user_ids: pd.Series) -> pd.Series:
    """True for rows whose participant asked to be removed (the filter every input applies)."""
    if requests.empty:
        return pd.Series(False, index=user_ids.index)
    return removed_mask(user_ids, requests, load_or_create_salt(state_dir))


def removed_mask(user_ids: pd.Series, requests: pd.DataFrame, salt: bytes) -> pd.Series:
    """True where the row's user has a removal request (same index as ``user_ids``)."""
    hashes = user_hash(user_ids, salt)
    mask = hashes.isin(requests["user_hash"].unique().tolist()) & hashes.notna()
    return pd.Series(mask.to_numpy(dtype=bool), index=user_ids.index, name="removed")


class RemovalArrived(RuntimeError):
    """A removal request for a participant of the release being published arrived during the
    run (:func:`check_none_arrived`); the message names the requests and the command to run."""


def check_none_arrived(state_dir: str | Path, user_ids: set[str], rerun: str) -> None:
    """Raise :class:`RemovalArrived` when the requests file, read now, asks to remove any of
    ``user_ids`` (the participants of the release about to be published). A run filters the
    requests it read at its start; this catches one that arrived after, so no interleaving of
    a run with ``remove`` publishes a removed participant. ``rerun``: the command that applies it."""
    path = Path(state_dir) / REQUESTS_FILENAME
    if not user_ids or not path.exists():
        return
    requests = load_requests(path)
    if requests.empty:
        return
    ids = pd.Series(sorted(user_ids), dtype="str")
    hashes = set(user_hash(ids, load_or_create_salt(state_dir)))
    arrived = sorted(requests.loc[requests["user_hash"].isin(hashes), "request_id"])
    if arrived:
        raise RemovalArrived(
            f"removal request{'s' if len(arrived) > 1 else ''} {', '.join(arrived)} arrived during this run for "
            f"participants of this release, so it was not published (the previous release is unchanged): apply "
            f"{'them' if len(arrived) > 1 else 'it'} with `{rerun}` (under the Dagster daemon the removal sensor "
            "does it)")


# -- the requests file -----------------------------------------------------------------

def empty_requests() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in REQUEST_COLUMNS})


def _valid_date(text: str) -> bool:
    if not DATE_RE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(1-based line where the record starts, fields) for every non-blank CSV record."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RemovalRequestError(f"{path}: line {line}: not valid UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            raise RemovalRequestError(f"{path}: line {start}: malformed CSV quoting") from None
        if fields:
            yield start, fields
        start = reader.line_num + 1


def load_requests(path: str | Path) -> pd.DataFrame:
    """The validated requests (all columns ``str``, ``note`` "" when empty, rows in file
    order, RangeIndex). A missing file means no requests. Duplicate user hashes keep their
    first row; see the module doc for ``attrs``. A malformed file raises
    :class:`RemovalRequestError` naming file, line and field."""
    path = Path(path)
    frame = empty_requests()
    if not path.exists():
        frame.attrs.update(duplicates_ignored=0, duplicate_request_ids=[])
        return frame
    records = _records(path)
    first = next(records, None)
    if first is None:
        # An emptied file is not "no requests": that would silently undo every removal.
        raise RemovalRequestError(f"{path}: line 1: missing header")
    if tuple(first[1]) != REQUEST_COLUMNS:
        raise RemovalRequestError(f"{path}: line {first[0]}: header must be exactly {','.join(REQUEST_COLUMNS)}")
    rows: list[list[str]] = []
    seen_ids: dict[str, int] = {}
    seen_hashes: set[str] = set()
    duplicates: list[str] = []
    for line, fields in records:
        if len(fields) != len(REQUEST_COLUMNS):
            raise RemovalRequestError(f"{path}: line {line}: expected {len(REQUEST_COLUMNS)} fields, "
                                      f"found {len(fields)}")
        rid, uhash, received, note = fields

        def fail(field: str, problem: str) -> RemovalRequestError:
            return RemovalRequestError(f"{path}: line {line}, field {field}: {problem}")  # noqa: B023 (called in this iteration)

        if not REQUEST_ID_RE.fullmatch(rid):
            raise fail("request_id", "not of the form rr-0001")
        if rid in seen_ids:
            raise fail("request_id", f"repeats line {seen_ids[rid]}")
        seen_ids[rid] = line
        if uhash == "":
            raise fail("user_hash", "empty")
        if not SHA256_HEX_RE.fullmatch(uhash):
            raise fail("user_hash", "not 64 lowercase hex characters")
        if not _valid_date(received):
            raise fail("received", "not an ISO date YYYY-MM-DD")
        if uhash in seen_hashes:
            duplicates.append(rid)
            continue
        seen_hashes.add(uhash)
        rows.append([rid, uhash, received, note])
    if rows:
        frame = pd.DataFrame(rows, columns=list(REQUEST_COLUMNS), dtype="str")
    frame.attrs.update(duplicates_ignored=len(duplicates), duplicate_request_ids=duplicates)
    return frame


def _next_request_id(path: Path) -> str:
    """One above the highest request number in the file, duplicates included (never reused)."""
    numbers = [int(rid[3:]) for _, (rid, *_) in list(_records(path))[1:]] if path.exists() else []
    return f"rr-{max(numbers, default=0) + 1:04d}"


def _csv_line(fields: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue().encode("utf-8")


def add_request(state_dir: str | Path, user_id: str, known_user_ids: pd.Series, received: date,
                note: str | None = None) -> str:
    """Record a removal request for ``user_id`` and return its new request id.

    Checks, in order: ``user_id`` is one of ``known_user_ids`` (else "unknown user id"); the
    note is one line without control characters and does not contain the id (case-insensitive);
    the participant has no request yet (else "already requested as rr-0003"). The file is
    rewritten atomically (its previous bytes kept verbatim, one line appended) under a lock."""
    state_dir = Path(state_dir)
    if not isinstance(user_id, str) or user_id == "":
        raise RemovalRequestError("user id must be a non-empty string")
    if isinstance(received, datetime) or not isinstance(received, date):
        raise RemovalRequestError("received must be a datetime.date")
    if not (known_user_ids == user_id).any():
        raise RemovalRequestError("unknown user id")
    note = "" if note is None else note
    if not isinstance(note, str):
        raise RemovalRequestError("note must be a string")
    if any(unicodedata.category(ch) == "Cc" for ch in note):
        raise RemovalRequestError("note must be one line without control characters")
    if user_id.casefold() in note.casefold():
        raise RemovalRequestError("note must not contain the participant's id")
    salt = load_or_create_salt(state_dir)
    path = state_dir / REQUESTS_FILENAME
    with locked(state_dir / f".{REQUESTS_FILENAME}.lock"):
        requests = load_requests(path)
        uhash = _hash_one(user_id, salt)
        hit = requests.loc[requests["user_hash"] == uhash, "request_id"]
        if len(hit):
            raise RemovalRequestError(f"already requested as {hit.iloc[0]}")
        request_id = _next_request_id(path)
        old = path.read_bytes() if path.exists() else _csv_line(list(REQUEST_COLUMNS))
        if not old.endswith(b"\n"):
            old += b"\n"
        atomic_write_bytes(path, old + _csv_line([request_id, uhash, received.isoformat(), note]))
    return request_id
