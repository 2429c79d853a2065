"""Reuse the published moderation results as frozen reference inputs (SPEC §7.3 fix, §1.6, §2.2).

The OpenAI moderation model drifts and its id was never stored (SPEC §7.3), so re-calling
the API cannot reproduce the published ``moderation_flag``. The published values are
therefore imported from a PRISM ``metadata.jsonl`` and reused for the texts they belong to;
only the other texts go to a configured fallback backend (``local`` or ``openai``).

Design: this is a pre-step, not a Detector. A Detector sees a list of texts and nothing
else, while a published result is identified by its row key
``(column_id, user_id, conversation_id, interaction_id, utterance_id)`` (``metadata.jsonl``
drops the text, SPEC §2.3). So:

1. :func:`load_frozen_moderation` reads the file into a frame: the 5 key columns plus the
   23 flattened ``moderation_flag.*`` columns, validating every line.
2. :func:`match_frozen_moderation` looks up each current text instance by key and returns
   its frozen result, or ``None`` when there is none.
3. :func:`apply_frozen_then_fallback` sends only the unmatched texts to a fallback
   ``detect`` callable (a Detector's ``detect``, or the project's cached runner) and
   returns one result per row.

Text changes: matching by key alone is right for the published release, whose texts are the
ones the frozen results were computed on. A key whose text has since changed (a corrected
raw file, a new normalisation rule) must not reuse the old result. For that,
:func:`pin_frozen_to_texts` stores ``text_sha256`` (SHA-256 of the UTF-8 text) next to each
frozen row at a moment when the texts are known to be the published ones; from then on a
row whose current text hashes differently is treated as unmatched. Where ``text_sha256`` is
absent or null the row matches on its key alone. The caller decides when to pin and must
persist the pinned frame (pinning against already-changed texts proves nothing).

Frozen results carry ``backend="frozen"`` and ``model="published-prism-2024"``: the
published scores came from OpenAI's text-moderation family of early 2024 (SPEC §2.2,
[inferred]); the exact model id is unknown.

No Dagster import.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prism_pipeline.core.flags.moderation.base import (
    CATEGORY_COLUMNS,
    FLAGGED_COLUMN,
    FLAT_COLUMNS,
    FROZEN_BACKEND,
    SCORE_COLUMNS,
    frame_to_results,
    round_score,
)
from prism_pipeline.core.hashing import hash_texts
from prism_pipeline.prism.codebook import METADATA_COLUMNS, MODERATION_CATEGORIES, TEXT_COLUMN_IDS

BACKEND = FROZEN_BACKEND
MODEL = "published-prism-2024"
KEY_COLUMNS: tuple[str, ...] = METADATA_COLUMNS[:5]
ID_COLUMNS: tuple[str, ...] = KEY_COLUMNS[1:]
SHA_COLUMN = "text_sha256"
_NULL_KEY = "\x00null"  # stands for a missing id inside the join key; ids never contain NUL


class FrozenModerationError(ValueError):
    """A line of a published ``metadata.jsonl`` cannot be used as a frozen moderation result."""


def _fail(path: Path, lineno: int, field: str, problem: str) -> FrozenModerationError:
    return FrozenModerationError(f"{path}:{lineno}: field {field!r}: {problem}")


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _id_value(row: dict, key: str, path: Path, lineno: int) -> str | None:
    if key not in row:
        raise _fail(path, lineno, key, "missing")
    value = row[key]
    # The reference writer could emit a bare NaN for a missing id (SPEC §2.4); read it as null.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if not isinstance(value, str) or not value:
        raise _fail(path, lineno, key, f"expected a non-empty string or null, got {_type_name(value)}")
    return value


def _flag_values(flag: Any, path: Path, lineno: int) -> tuple[bool, list[bool], list[float]]:
    if not isinstance(flag, dict):
        raise _fail(path, lineno, "moderation_flag", f"expected an object, got {_type_name(flag)}")
    for part in ("flagged", "categories", "category_scores"):
        if part not in flag:
            raise _fail(path, lineno, f"moderation_flag.{part}", "missing")
    unexpected = [k for k in flag if k not in ("flagged", "categories", "category_scores")]
    if unexpected:
        raise _fail(path, lineno, f"moderation_flag.{unexpected[0]}", "unexpected key")
    if type(flag["flagged"]) is not bool:
        raise _fail(path, lineno, "moderation_flag.flagged", f"expected bool, got {_type_name(flag['flagged'])}")
    cats: list[bool] = []
    scores: list[float] = []
    for part, out in (("categories", cats), ("category_scores", scores)):
        obj = flag[part]
        if not isinstance(obj, dict):
            raise _fail(path, lineno, f"moderation_flag.{part}", f"expected an object, got {_type_name(obj)}")
        extra = [k for k in obj if k not in MODERATION_CATEGORIES]
        if extra:
            raise _fail(path, lineno, f"moderation_flag.{part}.{extra[0]}", "unexpected category")
        for c in MODERATION_CATEGORIES:
            field = f"moderation_flag.{part}.{c}"
            if c not in obj:
                raise _fail(path, lineno, field, "missing")
            v = obj[c]
            if part == "categories":
                if type(v) is not bool:
                    raise _fail(path, lineno, field, f"expected bool, got {_type_name(v)}")
                out.append(v)
            else:
                if type(v) not in (int, float) or not math.isfinite(v) or not 0.0 <= v <= 1.0:
                    shown = _type_name(v) if type(v) not in (int, float) else repr(v)
                    raise _fail(path, lineno, field, f"expected a number in [0, 1], got {shown}")
                out.append(round_score(v))  # the published scores are already 2 dp; idempotent
    return flag["flagged"], cats, scores


def load_frozen_moderation(metadata_path: str | PathLike[str]) -> pd.DataFrame:
    """Read the published ``moderation_flag`` of every row of a PRISM ``metadata.jsonl`` (SPEC §1.6).

    Returns one row per line, in file order: ``column_id, user_id, conversation_id,
    interaction_id, utterance_id`` (``str`` dtype, missing ids NaN), then
    ``moderation_flag.flagged``, ``moderation_flag.categories.<c>`` (bool) and
    ``moderation_flag.category_scores.<c>`` (float64) for the 11 categories in codebook order.

    Every line is validated; a problem raises :class:`FrozenModerationError` naming the file,
    the 1-based line number and the field (never a value from the file beyond its type).
    Accepted leniencies: blank lines are skipped; a bare ``NaN`` id (which the reference writer
    could emit, SPEC §2.4) is read as null; integer scores are read as floats. A line whose
    ``moderation_flag`` is null has no frozen result and is left out (the reference filled the
    field only where it was null, so null means "never moderated"). Other keys of the row
    (pii_flag, language_flag, ...) are not read.
    """
    path = Path(metadata_path)
    keys: dict[str, list[str | None]] = {k: [] for k in KEY_COLUMNS}
    flagged: list[bool] = []
    cat_rows: list[list[bool]] = []
    score_rows: list[list[float]] = []
    first_line: dict[tuple, int] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line.rstrip("\r\n"))  # so that colno counts within this line
            except json.JSONDecodeError as exc:
                raise FrozenModerationError(
                    f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})"
                ) from None
            if not isinstance(row, dict):
                raise FrozenModerationError(f"{path}:{lineno}: expected a JSON object, got {_type_name(row)}")
            key = tuple(_id_value(row, k, path, lineno) for k in KEY_COLUMNS)
            if key[0] not in TEXT_COLUMN_IDS:
                raise _fail(path, lineno, "column_id", f"expected one of {list(TEXT_COLUMN_IDS)}")
            if "moderation_flag" not in row:
                raise _fail(path, lineno, "moderation_flag", "missing")
            if row["moderation_flag"] is None:
                continue
            if key in first_line:
                raise FrozenModerationError(
                    f"{path}:{lineno}: duplicate key (column_id, user_id, conversation_id, interaction_id, "
                    f"utterance_id), first seen on line {first_line[key]}"
                )
            first_line[key] = lineno
            f, cats, scores = _flag_values(row["moderation_flag"], path, lineno)
            for k, v in zip(KEY_COLUMNS, key, strict=True):
                keys[k].append(v)
            flagged.append(f)
            cat_rows.append(cats)
            score_rows.append(scores)
    n = len(flagged)
    cat_arr = np.array(cat_rows, dtype=bool).reshape(n, len(MODERATION_CATEGORIES))
    score_arr = np.array(score_rows, dtype=np.float64).reshape(n, len(MODERATION_CATEGORIES))
    data: dict[str, Any] = {k: pd.Series(v, dtype="str") for k, v in keys.items()}
    data[FLAGGED_COLUMN] = np.array(flagged, dtype=bool)
    data.update({col: cat_arr[:, j] for j, col in enumerate(CATEGORY_COLUMNS)})
    data.update({col: score_arr[:, j] for j, col in enumerate(SCORE_COLUMNS)})
    return pd.DataFrame(data, columns=[*KEY_COLUMNS, *FLAT_COLUMNS])


text_sha256 = hash_texts  # the one text hash (core/hashing.py)


def _join_key(frame: pd.DataFrame, what: str) -> pd.Series:
    """One string per row made of the 5 key columns, with nulls spelled out so they match each other."""
    missing = [k for k in KEY_COLUMNS if k not in frame.columns]
    if missing:
        raise KeyError(f"{what} frame lacks key columns {missing}")
    parts = [frame[k].astype(object).where(frame[k].notna(), _NULL_KEY).astype(str) for k in KEY_COLUMNS]
    joined = parts[0]
    for p in parts[1:]:
        joined = joined + "\x1f" + p
    return joined


def pin_frozen_to_texts(frozen: pd.DataFrame, texts: pd.DataFrame) -> pd.DataFrame:
    """Add ``text_sha256`` to the frozen frame from the texts they were computed on.

    ``texts`` has the key columns and ``text`` and must be the published text instances
    (SPEC §2.1). Frozen rows with no text instance get a null hash (they then match by key
    alone). Returns a new frame; rows and order of ``frozen`` are kept.
    """
    if texts[KEY_COLUMNS[0]].isna().any() or _join_key(texts, "texts").duplicated().any():
        raise ValueError("texts frame: the key (column_id, ids) must be unique and column_id non-null")
    sha = pd.Series(text_sha256(texts["text"]).to_numpy(), index=_join_key(texts, "texts").to_numpy())
    out = frozen.copy()
    out[SHA_COLUMN] = pd.Series(_join_key(frozen, "frozen").map(sha).to_numpy(), index=frozen.index, dtype="str")
    return out


def match_frozen_moderation(texts: pd.DataFrame, frozen: pd.DataFrame) -> pd.Series:
    """The frozen result of each text instance, or ``None`` (SPEC §7.3 fix).

    ``texts``: the current text instances, with columns ``column_id, user_id,
    conversation_id, interaction_id, utterance_id, text`` (SPEC §2.1); ``frozen``: the frame of
    :func:`load_frozen_moderation`, optionally pinned by :func:`pin_frozen_to_texts`.

    A row matches when all 5 key columns are equal (a null id matches a null id) and, if the
    frozen row has a non-null ``text_sha256``, the current text hashes to it. Returns an object
    Series on ``texts.index`` holding result dicts (``backend="frozen"``,
    ``model="published-prism-2024"``) or ``None``.
    """
    if _join_key(frozen, "frozen").duplicated().any():
        raise ValueError("frozen frame: duplicate keys (column_id, ids); a key must identify one published row")
    text_key = _join_key(texts, "texts")
    position = pd.Series(np.arange(len(frozen)), index=_join_key(frozen, "frozen").to_numpy())
    pos = text_key.map(position)  # NaN where the key is not in the frozen frame
    hit = pos.notna().to_numpy().copy()  # writable: pinned rows may be dropped below
    if SHA_COLUMN in frozen.columns and hit.any():
        pinned = frozen[SHA_COLUMN].to_numpy(dtype=object)[pos[hit].astype(np.int64).to_numpy()]
        pinned_ok = pd.Series(pinned).notna().to_numpy()
        current = text_sha256(texts["text"]).to_numpy(dtype=object)[hit]
        same = pinned_ok & (pinned.astype(str) == current.astype(str))
        hit[np.flatnonzero(hit)] = ~pinned_ok | same
    out = pd.Series([None] * len(texts), index=texts.index, dtype=object)
    if hit.any():
        rows = frozen.iloc[pos[hit].astype(np.int64).to_numpy()]
        out.iloc[np.flatnonzero(hit)] = pd.Series(
            frame_to_results(rows, backend=BACKEND, model=MODEL), dtype=object).to_numpy()
    return out


def apply_frozen_then_fallback(
    texts: pd.DataFrame,
    frozen: pd.DataFrame | None,
    fallback_detect: Callable[[list[str | None]], Sequence[dict]],
) -> list[dict]:
    """One moderation result per row of ``texts``, in row order: the frozen result where one
    matches (:func:`match_frozen_moderation`), otherwise the fallback's.

    ``fallback_detect`` receives only the unmatched texts (in row order, ``None`` for a null
    text) in a single call and must return one result per text; it is not called when every
    row matched. ``frozen=None`` sends every text to the fallback.
    """
    if frozen is None:
        matched = pd.Series([None] * len(texts), index=texts.index, dtype=object)
    else:
        matched = match_frozen_moderation(texts, frozen)
    results = matched.tolist()
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        column = texts["text"].astype(object).where(texts["text"].notna(), None).tolist()
        fresh = list(fallback_detect([column[i] for i in todo]))
        if len(fresh) != len(todo):
            raise ValueError(f"fallback moderation returned {len(fresh)} results for {len(todo)} texts")
        for i, r in zip(todo, fresh, strict=True):
            results[i] = r
    return results
