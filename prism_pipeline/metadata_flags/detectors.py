"""The shared interface of per-text detectors (SPEC §2.2, §7.4).

A detector turns a list of texts into one JSON-serialisable result per text, in the same
order. ``detector_id`` and ``version`` together key its results in the content-hash cache
(:mod:`prism_pipeline.metadata_flags.cache`), so ``version`` must name everything that can
change the output (library versions, model, configuration).

Detectors run inside worker processes (:mod:`prism_pipeline.metadata_flags.runner`), so
they are described by a picklable :class:`DetectorSpec` (module, class, kwargs) and built
once per worker, instead of being pickled themselves.

No Dagster import.
"""

from __future__ import annotations

import importlib
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
