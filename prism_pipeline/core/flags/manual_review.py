"""``pii_manual_flag``: the versioned manual review of PII-flagged human texts (SPEC §2.3, §7.2).

In the reference, every human-written text with ``pii_flag`` True (167 rows) was checked by
hand and none was real PII; the sheet travelled by clipboard and was never versioned. Here
the verdicts live in the reference dir's ``pii_manual_review.csv``, one row per reviewed text:

| column      | meaning                                                                  |
|-------------|--------------------------------------------------------------------------|
| <kind>      | the text's kind, a human one (PRISM's ``column_id``: never ``model_response``) |
| text_sha256 | sha256 of the text's UTF-8 bytes (``runner.text_sha256``); never the text |
| verdict     | ``true`` = real PII, ``false`` = a false alarm of the detector            |
| reviewed_on | ISO date of the review                                                   |
| reviewer    | a pseudonym (``annotator-1``), never a name                              |
| note        | optional free text about the decision, never a quote of the text         |

The key is (kind, text_sha256), the kind column named as the dataset names it (``kinds``: a
:class:`~prism_pipeline.core.dataset.TextKinds`), so a review follows its text: it survives any
re-ordering, re-numbering or rebuild while the text is unchanged, covers every row with the
same text in that block, and stops applying the moment the text changes (the new text needs
its own review).

Rule (SPEC §2.3): ``pii_manual_flag`` = the reviewed verdict where a human text (a kind in
``kinds.human``) has ``pii_flag`` True and a review; null everywhere else,
including every model text. A flagged human text WITHOUT a review also gets null, which the
codebook defines as "not checked": the release stays correct and the pipeline reports the
backlog (:func:`pending_reviews`, :func:`review_summary`) instead of failing or guessing.
Reviews whose text no longer appears flagged are reported (:func:`orphan_reviews`) and kept
until someone edits the CSV: deleting a verdict is a human decision.

No Dagster import.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from prism_pipeline.core.atomic import atomic_write_text
from prism_pipeline.core.dataset import TextKinds
from prism_pipeline.core.schemas import ISO_DATE_PATTERN, PSEUDONYM_PATTERN, SHA256_HEX_PATTERN

REVIEW_FILENAME = "pii_manual_review.csv"  # in the reference dir
_SHA256 = re.compile(SHA256_HEX_PATTERN)
_DATE = re.compile(ISO_DATE_PATTERN)
_PSEUDONYM = re.compile(PSEUDONYM_PATTERN)
_VERDICTS = {"true": True, "false": False}


def review_columns(kinds: TextKinds) -> tuple[str, ...]:
    return (kinds.column, "text_sha256", "verdict", "reviewed_on", "reviewer", "note")


def key(kinds: TextKinds) -> list[str]:
    """The review table's key: (kind column, text_sha256)."""
    return [kinds.column, "text_sha256"]


class ReviewTableError(ValueError):
    """The manual-review table breaks its format; the message names the CSV row (1-based, after the header)."""


def empty_review(kinds: TextKinds) -> pd.DataFrame:
    """A review table with no rows and the right dtypes."""
    return validate_review(pd.DataFrame({c: pd.Series(dtype="str") for c in review_columns(kinds)}).assign(
        verdict=pd.Series(dtype="bool")), kinds)


def _fail(rows: pd.Series, what: str) -> None:
    bad = rows.to_numpy().nonzero()[0]
    if len(bad):
        raise ReviewTableError(f"{len(bad)} review rows {what} (first: row {bad[0] + 1})")


def validate_review(review: pd.DataFrame, kinds: TextKinds) -> pd.DataFrame:
    """Check a review table and return it with ``verdict`` as bool and a RangeIndex."""
    columns = review_columns(kinds)
    if tuple(review.columns) != columns:
        raise ReviewTableError(f"review columns must be {list(columns)}, got {list(review.columns)}")
    review = review.reset_index(drop=True)
    if review["verdict"].dtype != bool:
        verdict = review["verdict"].astype("str").str.strip().str.lower()
        _fail(~verdict.isin(list(_VERDICTS)), "have a verdict other than true/false")
        review = review.assign(verdict=verdict.map(_VERDICTS).astype(bool))
    text = review.drop(columns="verdict").astype("str").fillna("")
    _fail(~text[kinds.column].isin(kinds.human), f"have a {kinds.column} outside the human kinds {list(kinds.human)}")
    _fail(~text["text_sha256"].str.fullmatch(_SHA256.pattern),
          "have a text_sha256 that is not 64 lower-case hex digits")
    _fail(~text["reviewed_on"].str.fullmatch(_DATE.pattern), "have a reviewed_on that is not a YYYY-MM-DD date")
    _fail(~text["reviewer"].str.fullmatch(_PSEUDONYM.pattern),
          "have a reviewer that is not a pseudonym like annotator-1")
    _fail(text.duplicated(key(kinds)), f"repeat a ({kinds.column}, text_sha256) key")
    return pd.concat([text[key(kinds)], review[["verdict"]], text[["reviewed_on", "reviewer", "note"]]], axis=1)


def load_review(path: str | Path, kinds: TextKinds) -> pd.DataFrame:
    """Read and validate the manual-review CSV."""
    frame = pd.read_csv(path, dtype="str", keep_default_na=False)
    return validate_review(frame, kinds)


def canonical_order(frame: pd.DataFrame, kinds: TextKinds) -> pd.DataFrame:
    """Rows in kind order, then by hash (a RangeIndex): the order of the review table, stable diffs."""
    rank = frame[kinds.column].map({c: i for i, c in enumerate(kinds.all)})
    order = pd.DataFrame({"rank": rank, "h": frame["text_sha256"]}).sort_values(["rank", "h"]).index
    return frame.loc[order].reset_index(drop=True)


def write_review(review: pd.DataFrame, path: str | Path, kinds: TextKinds) -> None:
    """Write the review table in :func:`canonical_order`, atomically (the old file stays whole
    until the new one is complete)."""
    review = canonical_order(validate_review(review, kinds), kinds)
    out = review.assign(verdict=review["verdict"].map({True: "true", False: "false"}))
    atomic_write_text(Path(path), out.to_csv(index=False, lineterminator="\n"))


def _needs_review(flags: pd.DataFrame, kinds: TextKinds) -> pd.Series:
    missing = [c for c in (kinds.column, "text_sha256", "pii_flag") if c not in flags.columns]
    if missing:
        raise KeyError(f"flags lack columns {missing}")
    return flags[kinds.column].isin(kinds.human) & flags["pii_flag"].fillna(False).astype(bool)


def _lookup(flags: pd.DataFrame, review: pd.DataFrame, kinds: TextKinds) -> pd.Series:
    """The review verdict for each row of ``flags`` (NA where there is none), vectorised."""
    verdicts = review.set_index(key(kinds))["verdict"]
    keys = pd.MultiIndex.from_frame(flags[key(kinds)].astype("str"))
    return pd.Series(verdicts.reindex(keys).to_numpy(), index=flags.index, dtype="boolean")


def pii_manual_flag(flags: pd.DataFrame, review: pd.DataFrame, kinds: TextKinds) -> pd.Series:
    """``pii_manual_flag`` per row of ``flags`` (SPEC §2.3), nullable boolean.

    ``flags`` needs the kind column, ``text_sha256`` and ``pii_flag``; ``review`` is a
    validated review table. Returns the verdict for reviewed, PII-flagged human texts and
    null everywhere else (unreviewed = not checked; model texts are never checked).
    """
    needs = _needs_review(flags, kinds)
    return _lookup(flags, review, kinds).where(needs, pd.NA).astype("boolean").rename("pii_manual_flag")


def pending_reviews(flags: pd.DataFrame, review: pd.DataFrame, kinds: TextKinds) -> pd.DataFrame:
    """Rows of ``flags`` that need a review and have none: human, ``pii_flag`` True, no verdict.

    Returns those rows with the columns given (including ``text`` if ``flags`` has it, for
    the private reviewer sheet; do not log it).
    """
    return flags.loc[_needs_review(flags, kinds) & _lookup(flags, review, kinds).isna()]


def orphan_reviews(flags: pd.DataFrame, review: pd.DataFrame, kinds: TextKinds) -> pd.DataFrame:
    """Reviews whose key matches no PII-flagged human row of ``flags`` (text changed or gone,
    or the detector no longer flags it). Reported, never dropped automatically."""
    flagged = flags.loc[_needs_review(flags, kinds), key(kinds)].astype("str")
    live = pd.MultiIndex.from_frame(flagged)
    return review.loc[~pd.MultiIndex.from_frame(review[key(kinds)]).isin(live)]


def review_summary(flags: pd.DataFrame, review: pd.DataFrame, kinds: TextKinds) -> dict[str, int]:
    """Counts for run metadata and warnings: flagged human rows, reviewed, pending, orphans."""
    needs = _needs_review(flags, kinds)
    verdict = _lookup(flags, review, kinds)
    pending = pending_reviews(flags, review, kinds)
    return {
        "human_pii_flagged": int(needs.sum()),
        "reviewed": int((needs & verdict.notna()).sum()),
        "reviewed_real_pii": int((needs & verdict.fillna(False)).sum()),
        "pending": len(pending),
        "pending_distinct_texts": int(pending[key(kinds)].drop_duplicates().shape[0]),
        "orphan_reviews": len(orphan_reviews(flags, review, kinds)),
    }


def pending_message(summary: dict[str, int]) -> str | None:
    """The warning for a backlog, e.g. "3 human texts flagged for PII await review", or None."""
    n = summary["pending"]
    if n == 0:
        return None
    return f"{n} human text{'s' if n != 1 else ''} flagged for PII await{'s' if n == 1 else ''} review"


def new_review_rows(pending: pd.DataFrame, verdict: bool, reviewed_on: str, reviewer: str, kinds: TextKinds,
                    note: str = "") -> pd.DataFrame:
    """Review rows (one per distinct key) recording the same verdict for every pending text.

    For a reviewer who has checked the private sheet; append to the table with
    ``pd.concat`` and :func:`write_review`.
    """
    keys = pending[key(kinds)].astype("str").drop_duplicates().reset_index(drop=True)
    rows = keys.assign(verdict=bool(verdict), reviewed_on=reviewed_on, reviewer=reviewer, note=note)
    return validate_review(rows[list(review_columns(kinds))], kinds)
