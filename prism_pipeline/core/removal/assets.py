"""Participant removal as assets (codebook §3.4, SPEC §7.7); checks, job and sensor beside them.

* ``removal_requests``: ``<state dir>/removal_requests.csv`` (the ``removal_requests_csv``
  source), salted hashes only. Every input asset drops the requested participants' rows as its
  first step, so a rebuild (``full_release``) never brings them back.
* ``erasure``: applies new requests to everything stored, by dropping rows rather than
  rebuilding (``core/removal/redact.py``): every stored table of the dataset, the flag-cache
  entries and manual reviews of texts only they had (then compacted), and the dataset's own
  stores (``Dataset.after_erasure``: PRISM's id registry). It records an
  observation on every asset whose stored table it redacted (rows removed, request ids: the
  asset pages and the graph show what a removal touched). Output: rows removed per request and
  release file.
* ``removal_ledger``: after the release, one ledger entry per newly applied request (release
  sha256 before and after, rows removed per file); ``erasure_verified`` (``checks.py``) scans
  everything for the removed participants' ids and text hashes.
* ``removal_rerun`` (``jobs.py``) and ``removal_request_sensor`` (``sensors.py``).

:func:`removal_assets` builds them for one dataset.

Nothing of a participant is written to the event log: metadata are counts and request ids.
"""

import sys
import threading

import dagster as dg
import pandas as pd

from prism_pipeline.core import schemas
from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.flags.cache import DEFAULT_FILENAME, remove_cache_files, shard_cache_files
from prism_pipeline.core.flags.manual_review import REVIEW_FILENAME
from prism_pipeline.core.flags.pii_review import SHEET_FILENAME
from prism_pipeline.core.hashing import code_version
from prism_pipeline.core.removal import footprint as footprints
from prism_pipeline.core.removal import ledger, redact, requests
from prism_pipeline.core.removal.footprint import RUN_FOOTPRINTS, Footprint, purge_flag_cache, purge_reviews
from prism_pipeline.core.removal.jobs import REMOVAL_JOB, missing_before_removal
from prism_pipeline.core.removal.ledger import LEDGER_FILENAME
from prism_pipeline.core.removal.redact import redact_state
from prism_pipeline.core.removal.requests import REQUESTS_FILENAME, load_or_create_salt, load_requests
from prism_pipeline.core.resources import DatasetPaths
from prism_pipeline.core.validation import SchemaCheck

# The groups read as a flow on the collapsed Lineage page: the removal layer (requests and the
# erasure) sits between the source files and the inputs it filters and the tables it redacts;
# the ledger is the audit trail after the release.
GROUP = "removal"
AUDIT_GROUP = "audit"
LEDGER_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("request_id", "str", description="rr-NNNN"),
    dg.TableColumn("user_hash", "str", description="sha256(salt + user_id), never the id"),
    dg.TableColumn("received", "str", description="ISO date the request was received"),
    dg.TableColumn("applied_at", "str", description="UTC time the release without them was written"),
    dg.TableColumn("run_id", "str", description="The Dagster run that applied it"),
    dg.TableColumn("rows_removed", "json", description="Release file → rows removed"),
    dg.TableColumn("release_sha256_before", "json", description="Release file → sha256 before the removal"),
    dg.TableColumn("release_sha256_after", "json", description="Release file → sha256 after it"),
])


class _CachePurge:
    """Runs :func:`purge_flag_cache` in a thread as soon as the redaction knows the hashes:
    SQLite releases the GIL, so deleting from the ~120 MB cache and rebuilding it overlaps with
    the redaction of the remaining tables instead of adding to it (measured: erasure 1.2 s
    against 1.5 s one after the other). The run holds the state folder's lock (core/lock.py),
    so no other run writes the cache meanwhile."""

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


def removal_assets(dataset: Dataset) -> list[dg.AssetsDefinition]:
    """``removal_requests``, ``erasure`` and ``removal_ledger`` for one dataset (module doc)."""
    owners, prefix = list(dataset.owners), list(dataset.key_prefix)
    version = code_version(sys.modules[__name__], redact, requests, footprints, ledger,
                           *[sys.modules[dataset.function(ref).__module__]
                             for ref in (dataset.raw_footprint, dataset.after_erasure) if ref])
    release_assets = [dg.AssetKey(dataset.key(name)) for name in dataset.release_assets]
    requests_check = SchemaCheck("removal_requests", schemas.RemovalRequestsSchema, REQUESTS_FILENAME,
                                 key_prefix=dataset.key_prefix)
    erasure_check = SchemaCheck("erasure", schemas.erasure_schema(dataset.release_files), "erasure",
                                key_prefix=dataset.key_prefix)

    @dg.asset(
        group_name=GROUP, owners=owners, kinds={"csv"}, code_version=version, key_prefix=prefix,
        deps=[dg.AssetKey(dataset.key("removal_requests_csv"))],
        # load_requests already rejects a malformed file; the schema restates its rules.
        check_specs=[requests_check.spec()],
        description="Removal requests (SPEC §7.7): request id, salted hash of the participant's id, date received, "
                    "note. Applied as the first filter of every input asset.",
        metadata={"dagster/column_schema": requests_check.column_schema()},
    )
    def removal_requests(paths: DatasetPaths):
        table = load_requests(paths.state / REQUESTS_FILENAME)
        duplicates = int(table.attrs.get("duplicates_ignored", 0))
        applied = ledger.applied_request_ids(paths.state / LEDGER_FILENAME)
        pending = sorted(set(table["request_id"]) - applied)
        yield dg.Output(table.copy(), metadata={
            "requests": len(table), "duplicates_ignored": duplicates,
            "pending_request_ids": dg.MetadataValue.json(pending)})
        yield requests_check.result(table)

    @dg.asset(
        group_name=GROUP, owners=owners, kinds={"pickle", "sqlite"}, code_version=version, key_prefix=prefix,
        ins={"removal_requests": dg.AssetIn(key_prefix=prefix)}, check_specs=[erasure_check.spec()],
        description="Apply removal requests to everything stored (SPEC §7.7, core/removal/redact.py): drop removed "
                    "participants' rows from every stored table (a row filter equals a rebuild: every table is "
                    "separable by participant), delete the flag-cache entries and manual reviews of texts only they "
                    "had (then rebuilt) and their entries in the dataset's own stores. Output: rows removed per "
                    "request and release file, for the ledger. No ids.",
        metadata={"dagster/column_schema": erasure_check.column_schema()},
    )
    def erasure(context: dg.AssetExecutionContext, paths: DatasetPaths, removal_requests: pd.DataFrame):
        output = _erase(context, paths, removal_requests)
        yield output
        yield erasure_check.result(output.value)

    def _erase(context: dg.AssetExecutionContext, paths: DatasetPaths,
               removal_requests: pd.DataFrame) -> dg.Output[pd.DataFrame]:
        empty = pd.DataFrame({"request_id": pd.Series(dtype="str"), "file": pd.Series(dtype="str"),
                              "rows": pd.Series(dtype="int64")})
        pending = ledger.pending(removal_requests, paths.state / LEDGER_FILENAME)
        if pending.empty:
            return dg.Output(empty, metadata={"requests": len(removal_requests), "pending": 0})
        if context.job_name == REMOVAL_JOB:  # (a full run rebuilds whatever is missing)
            problem = missing_before_removal(dataset, paths)
            if problem:
                raise dg.Failure(description=problem)
        salt = load_or_create_salt(paths.state)
        # Shard cache files left by a killed sharded run (core/flags/cache.py, "Shard files")
        # may hold the removed texts' hashes; they are only unmerged work, so they go whole.
        for path in shard_cache_files(paths.state):
            remove_cache_files(path)
        cache_purge = _CachePurge(paths.state / DEFAULT_FILENAME)
        try:
            redaction = redact_state(paths.state, dataset, set(removal_requests["user_hash"]), salt,
                                     on_removed_only=cache_purge.start)
        finally:
            deleted = cache_purge.join()
        if redaction is not None and not redaction.resumed and set(pending["user_hash"]) <= redaction.found_user_hashes:
            footprint = redaction.footprint
            request_of = dict(zip(pending["user_hash"], pending["request_id"]))
            rows_by_request = {request_of[h]: rows for h, rows in redaction.rows_by_user_hash.items()
                               if h in request_of}
            source = "stored state"
        else:
            # Nothing stored yet, a pending participant no longer in the stored state (an earlier
            # run redacted it and failed before the ledger), or an erasure killed midway and
            # completed now (this run dropped only the rest): the raw files tell.
            raw = dataset.function(dataset.raw_footprint)(paths.raw, removal_requests, salt)
            footprint = Footprint(raw.ids, raw.removed_only_hashes)
            rows_by_request = {r: rows for r, rows in raw.rows_by_request.items()
                               if r in set(pending["request_id"])}
            source = "raw files"
        own = dataset.function(dataset.after_erasure)(paths.state, footprint) if dataset.after_erasure else {}
        if footprint.removed_only_hashes - cache_purge.hashes:  # the raw files found more (see above)
            deleted += purge_flag_cache(paths.state / DEFAULT_FILENAME, footprint.removed_only_hashes)
        reviews = purge_reviews(paths.reference / REVIEW_FILENAME, footprint.removed_only_hashes, dataset.text_kinds)
        # The reviewer sheet holds pending texts themselves; export it again after the removal.
        sheet = paths.state / SHEET_FILENAME
        sheet_deleted = sheet.exists()
        sheet.unlink(missing_ok=True)
        RUN_FOOTPRINTS[context.run.run_id] = footprint
        _observe_redactions(context, dataset, redaction.rows_by_table if redaction else {}, reviews,
                            list(pending["request_id"]))
        rows = pd.DataFrame([(rid, file, n) for rid, files in sorted(rows_by_request.items())
                             for file, n in files.items()], columns=["request_id", "file", "rows"])
        return dg.Output(rows.astype({"rows": "int64"}) if len(rows) else empty, metadata={
            "requests": len(removal_requests), "pending": len(pending), "footprint_from": source,
            "stored_rows_removed": dg.MetadataValue.json(redaction.rows_by_table if redaction else {}),
            **own, "cache_entries_deleted": deleted, "reviews_deleted": reviews,
            "reviewer_sheet_deleted": sheet_deleted, "dagster/row_count": len(rows)})

    @dg.asset(
        group_name=AUDIT_GROUP, owners=owners, kinds={"jsonl"}, code_version=version, deps=release_assets,
        key_prefix=prefix, ins={name: dg.AssetIn(key_prefix=prefix) for name in ("removal_requests", "erasure")},
        description="The removal ledger (SPEC §7.7, core/removal/ledger.py): after the release is written, one entry "
                    "per newly applied request: salted hash, dates, run id, rows removed per release file and every "
                    "release file's sha256 before and after. Append-only, atomic; no ids.",
        metadata={"dagster/column_schema": LEDGER_SCHEMA},
    )
    def removal_ledger(context: dg.AssetExecutionContext, paths: DatasetPaths, removal_requests: pd.DataFrame,
                       erasure: pd.DataFrame) -> dg.MaterializeResult:
        path = paths.state / LEDGER_FILENAME
        pending = ledger.pending(removal_requests, path)
        if not pending.empty:
            before, after = _release_shas(context, release_assets)
            ledger.append_entries(path, ledger.ledger_entries(pending, erasure, context.run.run_id, before, after))
            context.log.info(f"removal ledger: applied {', '.join(pending['request_id'])}")
        return dg.MaterializeResult(metadata={
            "entries": len(ledger.read_ledger(path)),
            "applied_now": dg.MetadataValue.json(list(pending["request_id"]))})

    return [removal_requests, erasure, removal_ledger]


def _observe_redactions(context: dg.AssetExecutionContext, dataset: Dataset, rows_by_table: dict[str, int],
                        reviews_deleted: int, request_ids: list[str]) -> None:
    """An observation on every asset whose stored table this erasure rewrote (and on the review
    table when reviews were deleted): the asset's page shows what a removal touched, with counts
    and request ids only."""
    touched = {table: rows for table, rows in rows_by_table.items() if rows}
    if reviews_deleted:
        touched["pii_manual_review"] = touched.get("pii_manual_review", 0) + reviews_deleted
    for table, rows in sorted(touched.items()):
        context.log_event(dg.AssetObservation(asset_key=dataset.key(table), metadata={
            "redacted_by": "erasure", "rows_removed": int(rows),
            "removal_requests": dg.MetadataValue.json(request_ids)}))


def _release_shas(context: dg.AssetExecutionContext,
                  release_assets: list[dg.AssetKey]) -> tuple[dict[str, str | None], dict[str, str]]:
    """(sha256 before, after) per release file, from the release's materialisation in this run."""
    events = context.instance.get_latest_materialization_events(release_assets)
    before, after = {}, {}
    for key in release_assets:
        event = events.get(key)
        if event is None or event.run_id != context.run.run_id:
            raise dg.Failure(description=f"{key.to_user_string()} was not written in this run: the ledger records "
                                         "only a release written together with its removal")
        meta = event.asset_materialization.metadata
        name = meta["path"].value.rsplit("/", 1)[-1]
        before[name] = None if meta.get("sha256_before") is None or meta["sha256_before"].value == "absent" \
            else meta["sha256_before"].value
        after[name] = meta["sha256"].value
    return before, after
