"""Participant removal as assets, a check, a job and a sensor (codebook §3.4, SPEC §7.7).

* ``removal_requests`` (source): ``<PRISM_STATE_DIR>/removal_requests.csv``, salted hashes only.
  Every input asset drops the requested participants' rows as its first step, so a rebuild
  (``full_release``) never brings them back.
* ``erasure``: applies new requests to everything stored, by dropping rows rather than
  rebuilding (``removal/redact.py``): every stored table, the id registry, the flag-cache
  entries and manual reviews of texts only they had (then compacted). Output: rows removed per
  request and release file, for the ledger.
* ``erasure_verified`` (check): after the release is written, scans every file under the
  output and state dirs and the Dagster event log for their ids and the hashes of their
  texts; fails on any match, naming files and counts, never the ids.
* ``removal_rerun`` job: the erasure, the two redrawn samples and weights, the release
  (carried forward without the removed participants' lines) and erasure_verified. Nothing is
  rebuilt or re-flagged. ``removal_request_sensor`` launches it when the requests file changes
  and has requests the ledger has not recorded.

Nothing of a participant is written to the event log: metadata are counts and request ids.
"""

import hashlib
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster._core.storage.event_log import SqliteEventLogStorage  # no public name; dagster pinned

from prism_pipeline import schemas
from prism_pipeline.metadata_flags.cache import DEFAULT_FILENAME, remove_cache_files, shard_cache_files
from prism_pipeline.removal import ledger
from prism_pipeline.removal.footprint import Footprint, purge_flag_cache, purge_reviews, removed_footprint
from prism_pipeline.removal.ledger import LEDGER_FILENAME
from prism_pipeline.removal.redact import redact_state
from prism_pipeline.removal.registry import REGISTRY_FILENAME, forget_conversations
from prism_pipeline.removal.requests import REQUESTS_FILENAME, load_or_create_salt, load_requests
from prism_pipeline.removal.scan import count_in_bytes, scan_paths
from prism_pipeline.resources import PrismPaths
from prism_pipeline.validation import schema_check_result, table_schema

GROUP = "removal"
OWNERS = ["team:prism-data"]
CONVERSATION_ID = re.compile(r"c[0-9]+")
REMOVAL_JOB = "removal_rerun"


@dg.asset(
    group_name="inputs", owners=OWNERS, kinds={"csv"}, code_version="1",
    description="Removal requests (codebook §3.4, SPEC §7.7): request id, salted hash of the participant's id, "
                "date received, note. Applied as the first filter of every input asset.",
    metadata={"dagster/column_schema": table_schema(schemas.RemovalRequestsSchema)},
)
def removal_requests(prism_paths: PrismPaths) -> dg.Output[pd.DataFrame]:
    requests = load_requests(prism_paths.state / REQUESTS_FILENAME)
    duplicates = int(requests.attrs.get("duplicates_ignored", 0))
    applied = ledger.applied_request_ids(prism_paths.state / LEDGER_FILENAME)
    pending = sorted(set(requests["request_id"]) - applied)
    return dg.Output(requests.copy(), metadata={
        "requests": len(requests), "duplicates_ignored": duplicates,
        "pending_request_ids": dg.MetadataValue.json(pending)})


# Footprints of the removals applied in this process, by run id. The erasure step hands the
# removed ids and text hashes to the leak check of the same run in memory, because they are
# exactly what the check looks for and so may never be written anywhere (not to the state dir,
# not to the event log). The removal job runs in one process (in_process_executor); a check run
# on its own, or in another process, recomputes them from the raw files instead.
_FOOTPRINTS: dict[str, Footprint] = {}


class _CachePurge:
    """Runs :func:`purge_flag_cache` in a thread as soon as the redaction knows the hashes:
    SQLite releases the GIL, so deleting from the ~120 MB cache and rebuilding it overlaps with
    the redaction of the remaining tables instead of adding to it (measured: erasure 1.2 s
    against 1.5 s one after the other). Runs are queued one at a time (dagster.yaml), so no
    other run writes the cache meanwhile."""

    def __init__(self, path):
        self.path, self.hashes, self._thread, self._result = path, set(), None, (0, None)

    def run(self, hashes: set[str]) -> int:
        self.hashes = set(hashes)
        return purge_flag_cache(self.path, self.hashes)

    def start(self, hashes: set[str]) -> None:
        def work():
            try:
                self._result = (self.run(hashes), None)
            except BaseException as err:  # re-raised by join() in the step's thread
                self._result = (0, err)

        self._thread = threading.Thread(target=work, name="flag-cache-purge")
        self._thread.start()

    def join(self) -> int:
        if self._thread is not None:
            self._thread.join()
        result, err = self._result
        if err is not None:
            raise err
        return result


@dg.asset(
    group_name=GROUP, owners=OWNERS, kinds={"pickle", "sqlite"}, code_version="2",
    description="Apply removal requests to everything stored (SPEC §7.7, removal/redact.py): drop removed "
                "participants' rows from every stored table (a row filter equals a rebuild: every table is "
                "separable by participant), delete their ids from the id registry and the flag-cache entries "
                "and manual reviews of texts only they had (then rebuilt). Output: rows removed per request "
                "and release file, for the ledger. No ids.",
    metadata={"dagster/column_schema": table_schema(schemas.ErasureSchema)},
)
def erasure(context: dg.AssetExecutionContext, prism_paths: PrismPaths,
            removal_requests: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    empty = pd.DataFrame({"request_id": pd.Series(dtype="str"), "file": pd.Series(dtype="str"),
                          "rows": pd.Series(dtype="int64")})
    pending = ledger.pending(removal_requests, prism_paths.state / LEDGER_FILENAME)
    if pending.empty:
        return dg.Output(empty, metadata={"requests": len(removal_requests), "pending": 0})
    salt = load_or_create_salt(prism_paths.state)
    # Shard cache files left by a killed sharded run (metadata_flags/cache.py, "Shard files")
    # may hold the removed texts' hashes; they are only unmerged work, so they go whole.
    for path in shard_cache_files(prism_paths.state):
        remove_cache_files(path)
    cache_purge = _CachePurge(prism_paths.state / DEFAULT_FILENAME)
    try:
        redaction = redact_state(prism_paths.state, set(removal_requests["user_hash"]), salt,
                                 on_removed_only=cache_purge.start)
    finally:
        deleted = cache_purge.join()
    if redaction is None and context.job_name == REMOVAL_JOB:
        raise dg.Failure(description=f"nothing is stored under {prism_paths.state} yet, so there is nothing to "
                                     "redact: run the full_release job, which applies every removal request")
    if redaction is not None and set(pending["user_hash"]) <= redaction.found_user_hashes:
        footprint = redaction.footprint
        request_of = dict(zip(pending["user_hash"], pending["request_id"]))
        rows_by_request = {request_of[h]: rows for h, rows in redaction.rows_by_user_hash.items() if h in request_of}
        source = "stored state"
    else:
        # Nothing stored yet, or a pending participant is no longer in the stored state (an
        # earlier run redacted it and failed before the ledger): the raw files tell.
        raw = removed_footprint(prism_paths.raw, removal_requests, salt)
        footprint = Footprint(raw.ids, raw.removed_only_hashes)
        rows_by_request = {r: rows for r, rows in raw.rows_by_request.items() if r in set(pending["request_id"])}
        source = "raw files"
    registry_rows = forget_conversations(prism_paths.state / REGISTRY_FILENAME,
                                         [i for i in footprint.ids if CONVERSATION_ID.fullmatch(i)])
    if footprint.removed_only_hashes - cache_purge.hashes:  # the raw files found more (see above)
        deleted += purge_flag_cache(prism_paths.state / DEFAULT_FILENAME, footprint.removed_only_hashes)
    reviews = purge_reviews(prism_paths.reference / "pii_manual_review.csv", footprint.removed_only_hashes)
    _FOOTPRINTS[context.run.run_id] = footprint
    rows = pd.DataFrame([(rid, file, n) for rid, files in sorted(rows_by_request.items())
                         for file, n in files.items()], columns=["request_id", "file", "rows"])
    return dg.Output(rows.astype({"rows": "int64"}) if len(rows) else empty, metadata={
        "requests": len(removal_requests), "pending": len(pending), "footprint_from": source,
        "stored_rows_removed": dg.MetadataValue.json(redaction.rows_by_table if redaction else {}),
        "registry_rows_deleted": registry_rows, "cache_entries_deleted": deleted, "reviews_deleted": reviews,
        "dagster/row_count": len(rows)})


@dg.asset_check(asset="removal_requests",
                description="schemas.RemovalRequestsSchema: unique rr-NNNN ids, unique salted hashes, ISO dates. "
                            "Non-blocking: load_requests already rejects a malformed file.")
def removal_requests_schema(removal_requests: pd.DataFrame) -> dg.AssetCheckResult:
    return schema_check_result(schemas.RemovalRequestsSchema, removal_requests, REQUESTS_FILENAME)


@dg.asset_check(asset="erasure",
                description="schemas.ErasureSchema: rows >= 0 per (request, release file). Non-blocking.")
def erasure_schema(erasure: pd.DataFrame) -> dg.AssetCheckResult:
    return schema_check_result(schemas.ErasureSchema, erasure, "erasure")


@dg.asset_check(
    asset="metadata_release",
    additional_ins={"removal_requests": dg.AssetIn()},
    additional_deps=["interactions", "census_weights", "erasure", "utterances_input", "published_moderation"],
    description="After a removal: no file under the output dir or the state dir, and no event in the Dagster "
                "instance's event log, holds a removed participant's user/conversation/utterance/interaction id or "
                "the sha256 of a text only they had. Reports files and match counts only.",
)
def erasure_verified(context: dg.AssetCheckExecutionContext, prism_paths: PrismPaths,
                     removal_requests: pd.DataFrame) -> dg.AssetCheckResult:
    if removal_requests.empty:
        return dg.AssetCheckResult(passed=True, description="no removal requests", metadata={"requests": 0})
    footprint = _FOOTPRINTS.pop(context.run.run_id, None)
    scope = "this run's removals"
    if footprint is None:
        # Run on its own, or after a run that applied nothing: every request, from the raw files.
        footprint = removed_footprint(prism_paths.raw, removal_requests, load_or_create_salt(prism_paths.state))
        scope = "every request"
    # The file scan runs in its own threads (the search releases the GIL) while this one reads
    # the event log through the API.
    with ThreadPoolExecutor(max_workers=1) as pool:
        files = pool.submit(scan_paths, [prism_paths.output, prism_paths.state], footprint.ids,
                            footprint.removed_only_hashes)
        events = event_log_matches(context.instance, footprint.ids, footprint.removed_only_hashes)
        found = files.result()
    if events:
        found["dagster event log"] = events
    return dg.AssetCheckResult(
        passed=not found,
        description=None if not found else f"{sum(found.values())} matches in {len(found)} files",
        metadata={"requests": len(removal_requests), "scope": scope, "files_with_matches": dg.MetadataValue.json(found),
                  "identifiers_scanned": len(footprint.ids),
                  "text_hashes_scanned": len(footprint.removed_only_hashes)},
    )


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


# What a removal run materialises: the requests, the erasure (which redacts every stored table),
# the two things that are not separable by participant (the REP draws and the census weights)
# and the release, plus their checks, erasure_verified among them. Everything else is
# redacted in place by the erasure, not recomputed (removal/redact.py).
REMOVAL_RUN_ASSETS = ("removal_requests", "erasure", "uk_rep_sample", "us_rep_sample", "census_weights",
                      "survey_release", "conversations_release", "utterances_release", "metadata_release")
removal_rerun_job = dg.define_asset_job(
    REMOVAL_JOB,
    # One check: erasure_verified. The others validate rules a row drop cannot break (every table
    # only loses whole participants); they run with full_release and from the UI at any time.
    # Each extra step costs ~0.1 s of event-log writes, a tenth of the whole removal budget.
    selection=dg.AssetSelection.assets(*REMOVAL_RUN_ASSETS).without_checks()
    | dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey("metadata_release"), "erasure_verified")),
    description="Apply removal requests without a rebuild: redact every stored table, the id registry, the flag "
                "cache and the reviews; redraw the REP samples and census weights; carry the release forward "
                "without the removed participants' lines (rebuilt instead if anything upstream changed since it "
                "was written); verify nothing of them is left; append the ledger. Nothing is re-flagged.",
)


@dg.sensor(job=removal_rerun_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launches removal_rerun when removal_requests.csv changes and holds requests the ledger "
                       "has not recorded.")
def removal_request_sensor(context: dg.SensorEvaluationContext, prism_paths: PrismPaths):
    path = prism_paths.state / REQUESTS_FILENAME
    if not path.exists():
        return dg.SkipReason("no removal_requests.csv")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest == context.cursor:
        return dg.SkipReason("requests unchanged")
    pending = ledger.pending(load_requests(path), prism_paths.state / LEDGER_FILENAME)
    context.update_cursor(digest)
    if pending.empty:
        return dg.SkipReason("every request is already applied")
    return dg.RunRequest(run_key=f"removal-{digest[:16]}",
                         tags={"prism/removal_requests": ",".join(pending["request_id"])})
