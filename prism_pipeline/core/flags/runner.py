"""Run per-text detectors over many texts: de-duplicated, cached, parallel, shardable (SPEC §7.4).

:func:`run_detectors` hashes every text (sha256 of its UTF-8 bytes), looks every detector's
results up in the :class:`~.cache.FlagCache` and computes only the misses, one copy of each
distinct text, in chunks. Each finished chunk is committed to the cache at once, so a run
killed at any point resumes from the last committed chunk. The result has one row per input
row, in input order.

Warm reruns
-----------
The rows' texts are de-duplicated once (``pd.factorize`` of their hashes); each detector's
stored results for those distinct texts are read from SQLite (one range scan of its detector
version's rows when there are many, :meth:`~.cache.FlagCache.get_series`), and only what is
missing is computed. Rows take their results by code (each distinct result decoded once), so
a warm rerun is the sha256 loop (PRISM's 106,554 texts, 43 MB), the SQLite reads and some
numpy and pandas; measured in ``benchmarks/bench_metadata.py``.

Parallelism
-----------
Misses go to a ``ProcessPoolExecutor`` of ``workers`` processes (default ``os.cpu_count()``),
at most two chunks per worker in flight. Each worker limits BLAS/OpenMP to one thread and
holds one instance per detector, built in the worker from its picklable
:class:`~.detectors.DetectorSpec` (module, class, kwargs), so a detector need not be
picklable; workers encode results to JSON, the parent only commits. Start method: ``fork``
when the calling process has a single thread (workers start in milliseconds and inherit
whatever the parent already imported), otherwise ``forkserver`` (forking a multi-threaded
process, e.g. a Dagster step with its helper threads, can deadlock) with the detectors' heavy
modules preloaded once in the server; ``spawn`` is the portable fallback. Under ``fork`` the
parent loads each detector's libraries and model first (its optional ``load()``), so the
workers inherit them instead of loading ~2 s of scrubadub + langid each; under
``forkserver``/``spawn`` each worker loads them itself. Below ``min_pool_texts``
computations the run stays in-process, where pool start-up and IPC would cost more than
they save: by default 2,000 (~0.2 s of work) with ``fork``, 20,000 otherwise (a fresh
forkserver or spawned interpreter imports pandas, Dagster via ``prism_pipeline/__init__``
and the detectors' libraries: 3-10 s on 2 cores). Detectors passed as instances rather than
specs always run in-process (e.g. an HTTP client whose parallelism is its own business).

Sharding over machines or Dagster partitions
--------------------------------------------
``shard=(i, n)`` restricts the run to texts whose hash falls in partition ``i`` of ``n``
(:func:`shard_of`: ``int(sha256[:8], 16) % n``), and returns only those rows (rows with a
null text belong to shard 0). The partition depends on the text alone, so it is stable
across runs and machines, and duplicates of a text always land in the same shard.

No two processes write one cache file (SQLite's locks cannot be trusted over a network
filesystem, and a shard step may run on another machine). The ``text_flags`` graph asset
(``metadata_flags/assets.py``) does this with ```build_defs(flag_shards=n)`, n > 1,``:

* step ``flag_shard`` ``i`` opens the main cache read-only and asks :func:`uncached_rows`
  which of shard ``i``'s texts it lacks, per detector; only those go to ``run_detectors``,
  against the shard's own file (``cache.shard_cache_path``: ``flags/shard-i-of-n.sqlite``).
  A warm rerun finds everything in the main cache and computes, and writes, nothing;
* the final step ``collect_flags`` merges every shard file into the main cache
  (``FlagCache.merge_from``), deletes them, and calls ``run_detectors(texts, specs, cache,
  compute_missing=False)``, which reads every result from the cache and raises
  ``LookupError`` if a shard left anything uncomputed.

With ``n = 1`` the one step writes the main cache directly. The same recipe works for a
Dagster asset with ``StaticPartitionsDefinition([f"{i}-of-{n}" ...])`` run per partition.

No Dagster import.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from prism_pipeline.core.flags import detectors as _detectors
from prism_pipeline.core.flags.cache import FlagCache
from prism_pipeline.core.flags.detectors import Detector, DetectorSpec, encode_result
from prism_pipeline.core.hashing import text_digests, text_mask

HASH_COLUMN = "text_sha256"
DIGEST = np.dtype("S32")  # a sha256 digest, for the shard arithmetic
DEFAULT_CHUNK_SIZE = 1_000
# Computations below which the run stays in-process, by pool start method (see above).
DEFAULT_MIN_POOL_TEXTS = {"fork": 2_000, "forkserver": 20_000, "spawn": 20_000}
Progress = Callable[[int, int], None]


def shard_of(hashes: Sequence[str] | pd.Series, n_shards: int) -> np.ndarray:
    """Partition number of each hash: ``int(sha256[:8], 16) % n_shards``."""
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    return np.array([int(h[:8], 16) % n_shards for h in hashes], dtype=np.int64)


@dataclass
class _Slot:
    """One detector of a run: its instance (in the parent), spec (for workers) and results.

    The run's distinct texts (``hashes``, ``texts``: in order of first appearance, shared by
    every slot of the run) get one stored JSON result each in ``results`` (None until read
    from the cache or computed); ``misses`` are the positions still to compute.
    """

    instance: Detector
    spec: DetectorSpec | None
    detector_id: str
    version: str
    hashes: list[str] = field(default_factory=list)
    texts: np.ndarray = field(default_factory=lambda: np.empty(0, object))
    results: np.ndarray = field(default_factory=lambda: np.empty(0, object))
    misses: np.ndarray = field(default_factory=lambda: np.empty(0, np.intp))


def _as_slot(detector: DetectorSpec | Detector) -> _Slot:
    if isinstance(detector, DetectorSpec):
        instance, spec = detector.build(), detector
    else:
        instance, spec = detector, None
    return _Slot(instance, spec, str(instance.detector_id), str(instance.version))


def _start_method(requested: str | None) -> str:
    if requested is not None:
        return requested
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


class _ProgressReporter:
    """Calls ``progress(done, total)`` each time another tenth of the work is done, and at the end."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done, self._next = progress, total, 0, 1

    def add(self, n: int) -> None:
        self.done += n
        if self.progress is None:
            return
        reached = self.total if self.total == 0 else math.floor(10 * self.done / self.total)
        if self.done >= self.total or reached >= self._next:
            self._next = reached + 1
            self.progress(self.done, self.total)


def run_detectors(
    texts: pd.Series,
    detectors: Sequence[DetectorSpec | Detector],
    cache: FlagCache,
    workers: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
    shard: tuple[int, int] | None = None,
    *,
    min_pool_texts: int | None = None,
    start_method: str | None = None,
    compute_missing: bool = True,
) -> pd.DataFrame:
    """Each detector's result for each text, computing only what the cache lacks.

    Returns a DataFrame with the index of ``texts`` (restricted to the shard's rows when
    ``shard`` is given) and columns ``text_sha256`` then, per detector in order, one column
    per top-level key of its result (nested values stay dicts); two detectors sharing a key
    is a ``ValueError``. A null text is never sent to a detector: its row gets the detector's
    ``null_result()`` if it has one, else nulls.

    ``progress(done, total)`` counts (detector, distinct text) computations. ``workers=1``
    or fewer than ``min_pool_texts`` computations (default by start method,
    ``DEFAULT_MIN_POOL_TEXTS``) run in-process. ``compute_missing=False``
    raises ``LookupError`` instead of computing (for a final step after sharded runs).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if not detectors:
        raise ValueError("no detectors given")
    if shard is not None and not 0 <= shard[0] < shard[1]:
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard}")
    values = texts.to_numpy(dtype=object)
    present = text_mask(values, texts.dtype)
    every = bool(present.all())  # no null text: skip the masked copies below
    digest_list = text_digests((values if every else values[present]).tolist())
    digests = np.fromiter(digest_list, dtype=DIGEST, count=len(digest_list))  # 2x faster than b"".join
    if shard is not None:
        index, n_shards = shard
        mine = _shard_of_digests(digests, n_shards) == index
        keep = ~present if index == 0 else np.zeros(len(values), dtype=bool)
        keep[np.flatnonzero(present)[mine]] = True
        texts, values, present = texts[keep], values[keep], present[keep]
        digest_list, digests = list(itertools.compress(digest_list, mine)), digests[mine]

    hex_list = list(map(bytes.hex, digest_list))
    codes, distinct = pd.factorize(pd.Index(hex_list, dtype=object))  # distinct texts, first appearance
    first = np.unique(codes, return_index=True)[1]  # the first row of each distinct text
    distinct_hashes, distinct_texts = list(distinct), (values if every else values[present])[first]
    slots = [_as_slot(d) for d in detectors]
    _check_ids(slots)
    for slot in slots:
        slot.hashes, slot.texts = distinct_hashes, distinct_texts
        slot.results = _stored(cache, slot.detector_id, slot.version, distinct)
        slot.misses = np.flatnonzero(pd.isna(slot.results))
    total = sum(len(s.misses) for s in slots)
    if total and not compute_missing:
        detail = ", ".join(f"{s.detector_id}: {len(s.misses)}" for s in slots if len(s.misses))
        raise LookupError(f"{total} text results are not in the cache at {cache.path} ({detail})")

    reporter = _ProgressReporter(progress, total)
    if total == 0:
        reporter.add(0)
    else:
        tasks = [
            (k, slot.misses[start : start + chunk_size])
            for k, slot in enumerate(slots)
            for start in range(0, len(slot.misses), chunk_size)
        ]
        n_workers = (os.cpu_count() or 1) if workers is None else workers
        pooled = [k for k, s in enumerate(slots) if s.spec is not None and len(s.misses)]
        pool_tasks = [t for t in tasks if t[0] in pooled]
        local_tasks = [t for t in tasks if t[0] not in pooled]
        method = _start_method(start_method)
        threshold = DEFAULT_MIN_POOL_TEXTS.get(method, 20_000) if min_pool_texts is None else min_pool_texts
        if n_workers <= 1 or total < threshold or len(pool_tasks) < 2:
            local_tasks, pool_tasks = tasks, []
        for k, chunk in local_tasks:
            results = slots[k].instance.detect(slots[k].texts[chunk].tolist())
            _commit(slots[k], cache, chunk, [encode_result(r) for r in results], reporter)
        if pool_tasks:
            _run_pool(slots, pooled, pool_tasks, cache, reporter, n_workers, method)

    if every:
        hashes = np.array(hex_list, dtype=object)
    else:
        hashes = np.full(len(values), None, dtype=object)
        hashes[present] = hex_list
    return _assemble(texts.index, hashes, present, codes, slots)


def uncached_rows(
    texts: pd.Series,
    detectors: Sequence[DetectorSpec | Detector],
    cache: FlagCache | None,
    shard: tuple[int, int] | None = None,
) -> list[np.ndarray]:
    """Per detector, a boolean mask over ``texts``: True on the rows (of ``shard``, when
    given) whose text has no result in ``cache`` for that detector version; ``cache=None``
    is an empty cache. Null texts are never uncached (they are never computed). Reads only,
    so a read-only cache will do: a sharded step asks the main cache what to compute and
    writes the answers to its own file."""
    values = texts.to_numpy(dtype=object)
    present = text_mask(values, texts.dtype)
    rows = np.flatnonzero(present)
    digest_list = text_digests(values[present].tolist())
    digests = np.fromiter(digest_list, dtype=DIGEST, count=len(digest_list))
    if shard is not None:
        mine = _shard_of_digests(digests, shard[1]) == shard[0]
        rows, digest_list = rows[mine], list(itertools.compress(digest_list, mine))
    codes, distinct = pd.factorize(pd.Index(list(map(bytes.hex, digest_list)), dtype=object))
    masks = []
    for detector in detectors:
        lacking = np.ones(len(rows), dtype=bool)
        if cache is not None and len(rows):
            slot = _as_slot(detector)
            lacking = pd.isna(_stored(cache, slot.detector_id, slot.version, distinct))[codes]
        mask = np.zeros(len(values), dtype=bool)
        mask[rows[lacking]] = True
        masks.append(mask)
    return masks


def _stored(cache: FlagCache, detector_id: str, version: str, hashes: pd.Index) -> np.ndarray:
    """The stored JSON result of each hash (unique), None where the cache has none."""
    found = cache.get_series(detector_id, version, hashes)
    results = np.full(len(hashes), None, dtype=object)
    at = found.index.get_indexer(hashes)
    results[at >= 0] = found.to_numpy()[at[at >= 0]]
    return results


def _shard_of_digests(digests: np.ndarray, n_shards: int) -> np.ndarray:
    """:func:`shard_of` from the 32-byte digests: their first 4 bytes, big-endian."""
    heads = np.ascontiguousarray(digests).view(">u4")[::8].astype(np.int64)
    return heads % n_shards


def _check_ids(slots: list[_Slot]) -> None:
    ids = [s.detector_id for s in slots]
    if len(set(ids)) != len(ids):
        raise ValueError(f"detector ids must be distinct, got {ids}")


def _commit(
    slot: _Slot, cache: FlagCache, chunk: np.ndarray, encoded: list[str], reporter: _ProgressReporter,
) -> None:
    """Store one computed chunk (one transaction) and keep its results for the output."""
    if len(encoded) != len(chunk):
        raise RuntimeError(f"detector {slot.detector_id} returned {len(encoded)} results for {len(chunk)} texts")
    cache.put_many_json(slot.detector_id, slot.version, zip([slot.hashes[i] for i in chunk], encoded, strict=True))
    slot.results[chunk] = encoded
    reporter.add(len(chunk))


def _run_pool(
    slots: list[_Slot],
    pooled: list[int],
    tasks: list[tuple[int, np.ndarray]],
    cache: FlagCache,
    reporter: _ProgressReporter,
    n_workers: int,
    method: str,
) -> None:
    context = multiprocessing.get_context(method)
    if method == "fork":
        for k in pooled:  # load once here; forked workers inherit it
            load = getattr(slots[k].instance, "load", None)
            if callable(load):
                load()
    # Under fork the parent's built instances are inherited as-is; otherwise workers build from specs.
    worker_detectors = [slots[k].instance if method == "fork" else slots[k].spec for k in pooled]
    if method == "forkserver":
        preload = {_detectors.__name__}
        for k in pooled:
            preload.add(slots[k].spec.module)
            preload.update(getattr(slots[k].instance, "preload_modules", ()))
        context.set_forkserver_preload(sorted(preload))
    worker_index = {k: j for j, k in enumerate(pooled)}
    with ProcessPoolExecutor(
        max_workers=min(n_workers, len(tasks)),
        mp_context=context,
        initializer=_detectors.init_worker,
        initargs=(worker_detectors, dict(_detectors.WORKER_THREAD_ENV)),
    ) as pool:
        pending: dict[Future, tuple[int, np.ndarray]] = {}
        queue = iter(tasks)

        def submit(task: tuple[int, np.ndarray]) -> None:
            k, chunk = task
            pending[pool.submit(_detectors.run_chunk, worker_index[k], slots[k].texts[chunk].tolist())] = task

        # Keep ~2 chunks per worker in flight: bounded memory, workers never idle.
        for task in itertools.islice(queue, 2 * n_workers):
            submit(task)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                k, chunk = pending.pop(future)
                _commit(slots[k], cache, chunk, future.result(), reporter)
                task = next(queue, None)
                if task is not None:
                    submit(task)


def _assemble(index: pd.Index, hashes: np.ndarray, present: np.ndarray, codes: np.ndarray,
              slots: list[_Slot]) -> pd.DataFrame:
    """Per-row results (``codes``: each present row's distinct text). Results repeat a lot, so
    each distinct result is decoded once and rows take theirs by position (no per-row dicts).
    Distinct results are decoded in order of first appearance, the null text's last, so column
    order and dtypes depend on this run's texts only."""
    out = pd.DataFrame({HASH_COLUMN: hashes}, index=index)
    for slot in slots:
        result_codes, distinct = pd.factorize(pd.Series(slot.results, dtype=object))
        results = list(distinct)
        row_codes = np.empty(len(present), dtype=np.intp)
        row_codes[present] = result_codes[codes]
        if not present.all():
            null_result = getattr(slot.instance, "null_result", None)
            null_json = encode_result(null_result() if callable(null_result) else {})
            if null_json not in results:
                results.append(null_json)
            row_codes[~present] = results.index(null_json)
        distinct_results = [json.loads(r) for r in results]
        frame = pd.DataFrame.from_records(distinct_results) if distinct_results else pd.DataFrame()
        clash = set(frame.columns) & set(out.columns)
        if clash:
            raise ValueError(f"detector {slot.detector_id} result keys {sorted(clash)} clash with other columns")
        for column in frame.columns:
            out[column] = frame[column].iloc[row_codes].set_axis(index)
    return out
