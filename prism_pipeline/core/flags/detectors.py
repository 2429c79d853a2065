"""The shared interface of per-text detectors (SPEC §2.2, §7.4).

A detector turns a list of texts into one JSON-serialisable result per text, in the same
order. ``detector_id`` and ``version`` together key its results in the content-hash cache
(:mod:`prism_pipeline.core.flags.cache`), so ``version`` must name everything that can
change the output (library versions, model, configuration).

Optional members the runner uses when present: ``null_result() -> dict`` (the result for a
null text, which is never passed to ``detect``), ``load()`` (load libraries/models now; the
runner calls it in the parent before forking workers so they inherit them) and
``preload_modules`` (modules a forkserver imports once for all workers).

Detectors run inside worker processes (:mod:`prism_pipeline.core.flags.runner`), so
they are described by a picklable :class:`DetectorSpec` (module, class, kwargs) and built
once per worker, instead of being pickled themselves.

No Dagster import.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Detector(Protocol):
    detector_id: str  # stable name, e.g. "langid", "scrubadub", "moderation-local"

    @property
    def version(self) -> str: ...  # everything that can change its output, e.g. "langid==1.1.6;model=default"

    def detect(self, texts: list[str]) -> list[dict]: ...  # one JSON-serialisable result per text, same order


@dataclass(frozen=True)
class DetectorSpec:
    """A picklable recipe for a detector: ``getattr(import_module(module), cls)(**kwargs)``.

    Worker processes build their own instance from it (one per worker), so a detector
    holding unpicklable state (a model, a compiled scrubber, an HTTP client) still works.
    """

    module: str
    cls: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Detector:
        return getattr(importlib.import_module(self.module), self.cls)(**self.kwargs)

    @classmethod
    def of(cls, detector_type: type, **kwargs: Any) -> DetectorSpec:
        """Spec for a detector class defined at module level."""
        return cls(detector_type.__module__, detector_type.__qualname__, dict(kwargs))


# Well-known detectors, by name only: referring to them imports nothing heavy.
LANGUAGE_DETECTOR = DetectorSpec("prism_pipeline.core.flags.language", "LangidDetector")
PII_DETECTOR = DetectorSpec("prism_pipeline.core.flags.pii", "ScrubadubDetector")


# ---------------------------------------------------------------------------------------
# Worker-process side of the runner (kept here because this module imports nothing heavy,
# so a spawned worker can set its thread limits before numpy/BLAS are loaded).
# ---------------------------------------------------------------------------------------
WORKER_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_WORKER_DETECTORS: list = []


def init_worker(detectors: list, env: dict[str, str]) -> None:
    """Pool initializer: one thread per BLAS/OpenMP pool, one detector instance per worker.

    ``detectors`` holds :class:`DetectorSpec` (built here) or, under the ``fork`` start
    method only, already-built instances inherited from the parent.
    """
    os.environ.update(env)
    try:  # numpy may already be loaded (fork, forkserver preload): limit its pools directly
        from threadpoolctl import threadpool_limits  # noqa: PLC0415

        threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass
    _WORKER_DETECTORS[:] = [d.build() if isinstance(d, DetectorSpec) else d for d in detectors]


def encode_result(result: dict) -> str:
    """The stored form of a result: compact JSON, UTF-8 kept, NaN/inf rejected."""
    return json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def run_chunk(index: int, texts: list[str]) -> list[str]:
    """Run worker detector ``index`` on one chunk of texts; results encoded for the cache
    here, in parallel, rather than in the parent."""
    results = _WORKER_DETECTORS[index].detect(texts)
    if len(results) != len(texts):
        raise RuntimeError(f"detector {_WORKER_DETECTORS[index].detector_id} returned {len(results)} results "
                           f"for {len(texts)} texts")
    return [encode_result(r) for r in results]
