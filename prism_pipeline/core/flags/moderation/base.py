"""Shared shape of one moderation result (SPEC §2.2 ``moderation_flag``, §2.4 row shape).

Every backend returns, per text, a plain JSON-serialisable dict with the keys, in this order::

    {"flagged": bool,
     "categories": {<11 categories>: bool},
     "category_scores": {<11 categories>: float rounded to 2 dp},
     "backend": "<backend name>",
     "model": "<model id>"}

The 11 category keys and their order are :data:`MODERATION_CATEGORIES`. The first three
keys are the released ``moderation_flag`` object; ``backend`` and ``model`` are provenance that
the reference never stored (SPEC §7.3). One optional key, ``extra``, may follow: the OpenAI
backend can keep the scores of categories that are not among the 11 (see
:mod:`.openai_backend`); it is never part of the released object (:func:`release_view`).

No Dagster import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

# The 11 categories of the published moderation_flag, in their published order (SPEC §2.2:
# OpenAI's text-moderation categories of early 2024). Every backend maps onto these.
MODERATION_CATEGORIES = (
    "sexual",
    "hate",
    "harassment",
    "self-harm",
    "sexual/minors",
    "hate/threatening",
    "violence/graphic",
    "self-harm/intent",
    "self-harm/instructions",
    "harassment/threatening",
    "violence",
)
# The backend name a published (frozen) result carries: a dataset's own input, never a Detector.
FROZEN_BACKEND = "frozen"

RESULT_KEYS = ("flagged", "categories", "category_scores", "backend", "model")
RELEASED_KEYS = ("flagged", "categories", "category_scores")
EXTRA_KEY = "extra"
EXTRA_KEYS = ("api_flagged", "categories", "category_scores")

# Flat column names of the project's table representation (preamble: nested keys -> "parent.key").
FLAGGED_COLUMN = "moderation_flag.flagged"
CATEGORY_COLUMNS = tuple(f"moderation_flag.categories.{c}" for c in MODERATION_CATEGORIES)
SCORE_COLUMNS = tuple(f"moderation_flag.category_scores.{c}" for c in MODERATION_CATEGORIES)
FLAT_COLUMNS = (FLAGGED_COLUMN, *CATEGORY_COLUMNS, *SCORE_COLUMNS)
BACKEND_COLUMN = "moderation_backend"
MODEL_COLUMN = "moderation_model"


class ModerationResultError(ValueError):
    """A moderation result does not have the shape of SPEC §2.2 / §2.4."""


def round_score(value: float) -> float:
    """A score as released: Python's ``round(x, 2)``, which the reference applied (SPEC §2.2).

    Python's ``round`` (not ``numpy.round``) so that halfway cases land exactly where the
    reference's ``round(x, 2)`` put them.
    """
    return round(float(value), 2)


def make_result(
    categories: Mapping[str, Any],
    category_scores: Mapping[str, Any],
    *,
    backend: str,
    model: str,
    flagged: bool | None = None,
) -> dict:
    """Build one result in canonical key order, scores rounded to 2 dp (SPEC §2.2).

    ``categories`` and ``category_scores`` must hold at least the 11 categories; any other key
    is ignored here (callers that want to keep them use the ``extra`` key). ``flagged``
    defaults to "any of the 11 categories is true".
    """
    missing = [c for c in MODERATION_CATEGORIES if c not in categories or c not in category_scores]
    if missing:
        raise ModerationResultError(f"moderation result from backend {backend!r} lacks categories {missing}")
    cats = {c: bool(categories[c]) for c in MODERATION_CATEGORIES}
    scores = {c: round_score(category_scores[c]) for c in MODERATION_CATEGORIES}
    if flagged is None:
        flagged = any(cats.values())
    return {
        "flagged": bool(flagged),
        "categories": cats,
        "category_scores": scores,
        "backend": backend,
        "model": model,
    }


def empty_result(backend: str, model: str) -> dict:
    """The result for a text that was not sent to any model (a null text): nothing flagged, all 0.0.

    Mirrors ``pii_flag`` = 0 for a null text (SPEC §2.2). The reference never had null texts
    to moderate (empty texts are the sentinel "EMPTY STRING", which is moderated like any text).
    """
    return {
        "flagged": False,
        "categories": dict.fromkeys(MODERATION_CATEGORIES, False),
        "category_scores": dict.fromkeys(MODERATION_CATEGORIES, 0.0),
        "backend": backend,
        "model": model,
    }


def release_view(result: Mapping[str, Any]) -> dict:
    """The released ``moderation_flag`` object of one result: flagged, categories, category_scores."""
    return {k: result[k] for k in RELEASED_KEYS}


def _type_name(value: Any) -> str:
    """``bool`` for a Python bool, ``numpy.bool`` for numpy's (whose plain name is also "bool")."""
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__.split('.')[0]}.{t.__name__}"


def _check_category_map(value: Any, where: str, kind: type, keys: Sequence[str]) -> None:
    if not isinstance(value, dict):
        raise ModerationResultError(f"{where}: expected an object, got {_type_name(value)}")
    if tuple(value) != tuple(keys):
        missing = [k for k in keys if k not in value]
        unexpected = [k for k in value if k not in keys]
        if missing or unexpected:
            raise ModerationResultError(f"{where}: missing keys {missing}, unexpected keys {unexpected}")
        raise ModerationResultError(f"{where}: keys not in codebook order {list(keys)}")
    for key, v in value.items():
        if kind is bool:
            if type(v) is not bool:
                raise ModerationResultError(f"{where}.{key}: expected bool, got {_type_name(v)}")
        else:
            if type(v) is not float:
                raise ModerationResultError(f"{where}.{key}: expected float, got {_type_name(v)}")
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise ModerationResultError(f"{where}.{key}: score {v!r} outside [0, 1]")
            if round(v, 2) != v:
                raise ModerationResultError(f"{where}.{key}: score {v!r} not rounded to 2 decimals")


def validate_result(result: Any) -> None:
    """Raise :class:`ModerationResultError` unless ``result`` has the exact shape above.

    Checks: key set and order; ``flagged`` a Python bool; the 11 categories in codebook order
    with Python bools; the 11 scores as Python floats in [0, 1] equal to their 2-dp rounding;
    ``backend`` and ``model`` non-empty strings; the optional ``extra`` object. Python types
    (not numpy scalars) are required so that a result is JSON-serialisable as is.
    """
    if not isinstance(result, dict):
        raise ModerationResultError(f"moderation result: expected a dict, got {_type_name(result)}")
    keys = tuple(result)
    if keys not in (RESULT_KEYS, (*RESULT_KEYS, EXTRA_KEY)):
        raise ModerationResultError(f"moderation result: keys {list(keys)}, expected {list(RESULT_KEYS)} "
                                    "(+ optional 'extra')")
    if type(result["flagged"]) is not bool:
        raise ModerationResultError(f"moderation result.flagged: expected bool, got {_type_name(result['flagged'])}")
    _check_category_map(result["categories"], "moderation result.categories", bool, MODERATION_CATEGORIES)
    _check_category_map(result["category_scores"], "moderation result.category_scores", float, MODERATION_CATEGORIES)
    for key in ("backend", "model"):
        if not isinstance(result[key], str) or not result[key]:
            raise ModerationResultError(f"moderation result.{key}: expected a non-empty string, got {result[key]!r}")
    if EXTRA_KEY in result:
        extra = result[EXTRA_KEY]
        if not isinstance(extra, dict) or tuple(extra) != EXTRA_KEYS:
            raise ModerationResultError(f"moderation result.extra: expected keys {list(EXTRA_KEYS)}")
        if type(extra["api_flagged"]) is not bool:
            raise ModerationResultError("moderation result.extra.api_flagged: expected bool")
        names = tuple(extra["categories"]) if isinstance(extra["categories"], dict) else ()
        _check_category_map(extra["categories"], "moderation result.extra.categories", bool, names)
        _check_category_map(extra["category_scores"], "moderation result.extra.category_scores", float, names)


def results_to_frame(results: Sequence[Mapping[str, Any]], *, provenance: bool = True) -> pd.DataFrame:
    """Flatten results into the project's columns (``moderation_flag.flagged``,
    ``moderation_flag.categories.<c>``, ``moderation_flag.category_scores.<c>``), one row per
    result, plus ``moderation_backend`` / ``moderation_model`` when ``provenance``.

    Column-wise comprehensions: one pass per column, no per-row DataFrame work.
    """
    data: dict[str, Any] = {
        FLAGGED_COLUMN: np.fromiter((r["flagged"] for r in results), dtype=bool, count=len(results))
    }
    for c, col in zip(MODERATION_CATEGORIES, CATEGORY_COLUMNS, strict=True):
        data[col] = np.fromiter((r["categories"][c] for r in results), dtype=bool, count=len(results))
    for c, col in zip(MODERATION_CATEGORIES, SCORE_COLUMNS, strict=True):
        data[col] = np.fromiter((r["category_scores"][c] for r in results), dtype=np.float64, count=len(results))
    if provenance:
        data[BACKEND_COLUMN] = pd.Series([r["backend"] for r in results], dtype="str")
        data[MODEL_COLUMN] = pd.Series([r["model"] for r in results], dtype="str")
    return pd.DataFrame(data)


def frame_to_results(frame: pd.DataFrame, *, backend: str, model: str) -> list[dict]:
    """The inverse of :func:`results_to_frame` for the 23 ``moderation_flag.*`` columns.

    Reads each column once as a Python list and zips them, so building the per-row dicts is
    the only per-row work.
    """
    flagged = frame[FLAGGED_COLUMN].astype(bool).tolist()
    cats = [frame[col].astype(bool).tolist() for col in CATEGORY_COLUMNS]
    scores = [frame[col].astype(np.float64).tolist() for col in SCORE_COLUMNS]
    return [
        {
            "flagged": f,
            "categories": dict(zip(MODERATION_CATEGORIES, cat_row, strict=True)),
            "category_scores": {c: round_score(s) for c, s in zip(MODERATION_CATEGORIES, score_row, strict=True)},
            "backend": backend,
            "model": model,
        }
        for f, cat_row, score_row in zip(flagged, zip(*cats), zip(*scores), strict=True)
    ]


def check_texts(texts: Iterable[Any]) -> list[str | None]:
    """The detector input as a list, rejecting anything but ``str`` or ``None`` (by position only:
    a text itself never goes into an error message)."""
    out = list(texts)
    for i, t in enumerate(out):
        if t is not None and not isinstance(t, str):
            raise TypeError(f"moderation input #{i}: expected str or None, got {type(t).__name__}")
    return out
