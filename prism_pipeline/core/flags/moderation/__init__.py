"""Moderation backends of the metadata layer (SPEC §2.2 ``moderation_flag``, §7.3, §7.4).

- ``local`` (default, offline): alt-profanity-check, mapped onto ``harassment`` only (:mod:`.local`).
- ``openai``: the OpenAI moderation endpoint, batched, bounded, with a retry limit (:mod:`.openai_backend`).
- ``frozen``: the published results of a PRISM ``metadata.jsonl``, reused by row key. It is a
  pre-step over the text-instance frame, not a Detector, because a Detector only sees texts
  (:mod:`.frozen`); the texts it does not cover go to ``local`` or ``openai``.

``make_moderation_backend(name, **kwargs)`` builds a Detector from simple kwargs, so it can
also be built inside a worker process from a picklable spec (:func:`moderation_detector_spec`).
See ``docs/moderation.md``.

No Dagster import.
"""

from __future__ import annotations

from typing import Any

from .base import (
    FLAT_COLUMNS,
    FROZEN_BACKEND,
    ModerationResultError,
    empty_result,
    frame_to_results,
    make_result,
    release_view,
    results_to_frame,
    round_score,
    validate_result,
)
from .local import LocalModerationBackend
from .openai_backend import ModerationAPIError, OpenAIModerationBackend

DEFAULT_BACKEND = "local"
BACKENDS: dict[str, type] = {"local": LocalModerationBackend, "openai": OpenAIModerationBackend}


def _backend_class(name: str) -> type:
    if name == FROZEN_BACKEND:
        raise ValueError(
            "'frozen' is not a Detector: published results are a dataset's own input (PRISM: "
            "prism_pipeline/prism/metadata/frozen.py), and only the texts they do not cover go to 'local' or "
            "'openai'"
        )
    if name not in BACKENDS:
        raise ValueError(f"unknown moderation backend {name!r}; expected one of {sorted(BACKENDS)}")
    return BACKENDS[name]


def make_moderation_backend(name: str = DEFAULT_BACKEND, **kwargs: Any) -> Any:
    """Build the moderation Detector called ``name`` ("local" or "openai") with its kwargs."""
    return _backend_class(name)(**kwargs)


def moderation_detector_spec(name: str = DEFAULT_BACKEND, **kwargs: Any) -> Any:
    """A picklable ``DetectorSpec`` that builds ``make_moderation_backend(name, **kwargs)`` in a worker."""
    from prism_pipeline.core.flags.detectors import DetectorSpec

    return DetectorSpec.of(_backend_class(name), **kwargs)


__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "FLAT_COLUMNS",
    "FROZEN_BACKEND",
    "LocalModerationBackend",
    "ModerationAPIError",
    "ModerationResultError",
    "OpenAIModerationBackend",
    "empty_result",
    "frame_to_results",
    "make_moderation_backend",
    "make_result",
    "moderation_detector_spec",
    "release_view",
    "results_to_frame",
    "round_score",
    "validate_result",
]
