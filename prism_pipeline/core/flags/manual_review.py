"""``pii_manual_flag``: the versioned manual review of PII-flagged human texts (SPEC §2.3, §7.2).

In the reference, every human-written text with ``pii_flag`` True (167 rows) was checked by
hand and none was real PII; the sheet travelled by clipboard and was never versioned. Here
the verdicts live in ``data/reference/pii_manual_review.csv``, one row per reviewed text:

| column      | meaning                                                                  |
|-------------|--------------------------------------------------------------------------|
| column_id   | the text's block (a human block: never ``model_response``)               |
| text_sha256 | sha256 of the text's UTF-8 bytes (``runner.text_sha256``); never the text |
| verdict     | ``true`` = real PII, ``false`` = a false alarm of the detector            |
| reviewed_on | ISO date of the review                                                   |
| reviewer    | a pseudonym (``annotator-1``), never a name                              |
| note        | optional free text about the decision, never a quote of the text         |

The key is (column_id, text_sha256), so a review follows its text: it survives any
re-ordering, re-numbering or rebuild while the text is unchanged, covers every row with the
same text in that block, and stops applying the moment the text changes (the new text needs
its own review).

Rule (SPEC §2.3): ``pii_manual_flag`` = the reviewed verdict where a human text
(``column_id != "model_response"``) has ``pii_flag`` True and a review; null everywhere else,
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
from prism_pipeline.core.locations import REPO_ROOT
from prism_pipeline.prism import codebook

REVIEW_COLUMNS: tuple[str, ...] = ("column_id", "text_sha256", "verdict", "reviewed_on", "reviewer", "note")
KEY = ["column_id", "text_sha256"]
REVIEW_FILENAME = "pii_manual_review.csv"  # in the reference dir
DEFAULT_REVIEW_PATH = REPO_ROOT / "data" / "reference" / REVIEW_FILENAME
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PSEUDONYM = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_VERDICTS = {"true": True, "false": False}
FLAG_COLUMNS = ("column_id", "text_sha256", "pii_flag")


class ReviewTableError(ValueError):
    """The manual-review table breaks its format; the message names the CSV row (1-based, after the header)."""


def empty_review() -> pd.DataFrame:
    """A review table with no rows and the right dtypes."""
    return validate_review(pd.DataFrame({c: pd.Series(dtype="str") for c in REVIEW_COLUMNS}).assign(
        verdict=pd.Series(dtype="bool")))


def _fail(rows: pd.Series, what: str) -> None:
    bad = rows.to_numpy().nonzero()[0]
    if len(bad):
        raise ReviewTableError(f"{len(bad)} review rows {what} (first: row {bad[0] + 1})")


def validate_review(review: pd.DataFrame) -> pd.DataFrame:
    """Check a review table and return it with ``verdict`` as bool and a RangeIndex."""
    if tuple(review.columns) != REVIEW_COLUMNS:
        raise ReviewTableError(f"review columns must be {list(REVIEW_COLUMNS)}, got {list(review.columns)}")
    review = review.reset_index(drop=True)
    if review["verdict"].dtype != bool:
        verdict = review["verdict"].astype("str").str.strip().str.lower()
        _fail(~verdict.isin(list(_VERDICTS)), "have a verdict other than true/false")
        review = review.assign(verdict=verdict.map(_VERDICTS).astype(bool))
    text = review.drop(columns="verdict").astype("str").fillna("")
    _fail(~text["column_id"].isin(codebook.HUMAN_TEXT_COLUMN_IDS),
          f"have a column_id outside the human blocks {list(codebook.HUMAN_TEXT_COLUMN_IDS)}")
    _fail(~text["text_sha256"].str.fullmatch(_SHA256.pattern), "have a text_sha256 that is not 64 lower-case hex digits")
    _fail(~text["reviewed_on"].str.fullmatch(_DATE.pattern), "have a reviewed_on that is not a YYYY-MM-DD date")
    _fail(~text["reviewer"].str.fullmatch(_PSEUDONYM.pattern), "have a reviewer that is not a pseudonym like annotator-1")
    _fail(text.duplicated(KEY), "repeat a (column_id, text_sha256) key")
    return pd.concat([text[["column_id", "text_sha256"]], review[["verdict"]],
                      text[["reviewed_on", "reviewer", "note"]]], axis=1)


def load_review(path: str | Path = DEFAULT_REVIEW_PATH) -> pd.DataFrame:
    """Read and validate the manual-review CSV."""
    frame = pd.read_csv(path, dtype="str", keep_default_na=False)
    return validate_review(frame)


def canonical_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in block order, then by hash (a RangeIndex): the order of the review table, stable diffs."""
    rank = frame["column_id"].map({c: i for i, c in enumerate(codebook.TEXT_COLUMN_IDS)})
    order = pd.DataFrame({"rank": rank, "h": frame["text_sha256"]}).sort_values(["rank", "h"]).index
    return frame.loc[order].reset_index(drop=True)


def write_review(review: pd.DataFrame, path: str | Path = DEFAULT_REVIEW_PATH) -> None:
    """Write the review table in :func:`canonical_order`, atomically (the old file stays whole
    until the new one is complete)."""
    review = canonical_order(validate_review(review))
    out = review.assign(verdict=review["verdict"].map({True: "true", False: "false"}))
    atomic_write_text(Path(path), out.to_csv(index=False, lineterminator="\n"))


def _needs_review(flags: pd.DataFrame) -> pd.Series:
    missing = [c for c in FLAG_COLUMNS if c not in flags.columns]
    if missing:
        raise KeyError(f"flags lack columns {missing}")
    return flags["column_id"].isin(codebook.HUMAN_TEXT_COLUMN_IDS) & flags["pii_flag"].fillna(False).astype(bool)


def _lookup(flags: pd.DataFrame, review: pd.DataFrame) -> pd.Series:
    """The review verdict for each row of ``flags`` (NA where there is none), vectorised."""
    verdicts = review.set_index(KEY)["verdict"]
    keys = pd.MultiIndex.from_frame(flags[KEY].astype("str"))
    return pd.Series(verdicts.reindex(keys).to_numpy(), index=flags.index, dtype="boolean")


def pii_manual_flag(flags: pd.DataFrame, review: pd.DataFrame) -> pd.Series:
    """``pii_manual_flag`` per row of ``flags`` (SPEC §2.3), nullable boolean.

    ``flags`` needs ``column_id``, ``text_sha256`` and ``pii_flag``; ``review`` is a
    validated review table. Returns the verdict for reviewed, PII-flagged human texts and
    null everywhere else (unreviewed = not checked; model texts are never checked).
    """
    needs = _needs_review(flags)
    return _lookup(flags, review).where(needs, pd.NA).astype("boolean").rename("pii_manual_flag")


def pending_reviews(flags: pd.DataFrame, review: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``flags`` that need a review and have none: human, ``pii_flag`` True, no verdict.

    Returns those rows with the columns given (including ``text`` if ``flags`` has it, for
    the private reviewer sheet; do not log it).
    """
    return flags.loc[_needs_review(flags) & _lookup(flags, review).isna()]


def orphan_reviews(flags: pd.DataFrame, review: pd.DataFrame) -> pd.DataFrame:
    """Reviews whose key matches no PII-flagged human row of ``flags`` (text changed or gone,
    or the detector no longer flags it). Reported, never dropped automatically."""
    flagged = flags.loc[_needs_review(flags), KEY].astype("str")
    live = pd.MultiIndex.from_frame(flagged)
    return review.loc[~pd.MultiIndex.from_frame(review[KEY]).isin(live)]


def review_summary(flags: pd.DataFrame, review: pd.DataFrame) -> dict[str, int]:
    """Counts for run metadata and warnings: flagged human rows, reviewed, pending, orphans."""
    needs = _needs_review(flags)
    verdict = _lookup(flags, review)
    pending = pending_reviews(flags, review)
    return {
        "human_pii_flagged": int(needs.sum()),
        "reviewed": int((needs & verdict.notna()).sum()),
        "reviewed_real_pii": int((needs & verdict.fillna(False)).sum()),
        "pending": len(pending),
        "pending_distinct_texts": int(pending[KEY].drop_duplicates().shape[0]),
        "orphan_reviews": len(orphan_reviews(flags, review)),
    }


def pending_message(summary: dict[str, int]) -> str | None:
    """The warning for a backlog, e.g. "3 human texts flagged for PII await review", or None."""
    n = summary["pending"]
    if n == 0:
        return None
    return f"{n} human text{'s' if n != 1 else ''} flagged for PII await{'s' if n == 1 else ''} review"


def new_review_rows(
    pending: pd.DataFrame, verdict: bool, reviewed_on: str, reviewer: str, note: str = ""
) -> pd.DataFrame:
    """Review rows (one per distinct key) recording the same verdict for every pending text.

    For a reviewer who has checked the private sheet; append to the table with
    ``pd.concat`` and :func:`write_review`.
    """
    keys = pending[KEY].astype("str").drop_duplicates().reset_index(drop=True)
    rows = keys.assign(verdict=bool(verdict), reviewed_on=reviewed_on, reviewer=reviewer, note=note)
    return validate_review(rows[list(REVIEW_COLUMNS)])


# ---------------------------------------------------------------------------------------
# The committed synthetic sample (data/raw/): its flagged human texts carry the reference's
# outcome (SPEC §2.3: none was real PII) so a sample run shows the released shape. These rows
# are marked reviewer "synthetic-sample"; they are not a human review, and they match no real
# text (the key is the text hash). After regenerating data/raw/, re-sync with
#   .venv/bin/python -c "from prism_pipeline.core.flags.manual_review import *; \
#       print(sync_synthetic_sample('data/raw', DEFAULT_REVIEW_PATH, '2026-11-22'))"
# ---------------------------------------------------------------------------------------
SYNTHETIC_REVIEWER = "synthetic-sample"
SYNTHETIC_NOTE = "synthetic sample; reference outcome applied (SPEC 2.3), not a human review"


def sample_flags(raw_dir: str | Path) -> pd.DataFrame:
    """Human text instances of a release directory with their hash and ``pii_flag``."""
    from prism_pipeline.core.flags.pii import ScrubadubDetector  # noqa: PLC0415
    from prism_pipeline.core.flags.runner import hash_texts  # noqa: PLC0415
    from prism_pipeline.prism.conversation_tables.derive import derive_utterances  # noqa: PLC0415
    from prism_pipeline.prism.inputs.parse import read_conversations, read_survey  # noqa: PLC0415
    from prism_pipeline.prism.metadata.text_instances import build_text_instances  # noqa: PLC0415

    raw_dir = Path(raw_dir)
    conversations, history = read_conversations(raw_dir / "conversations.jsonl")
    instances = build_text_instances(read_survey(raw_dir / "survey.jsonl"), conversations,
                                     derive_utterances(conversations, history))
    human = instances.loc[instances["column_id"].isin(codebook.HUMAN_TEXT_COLUMN_IDS)].copy()
    human["text_sha256"] = hash_texts(human["text"])
    human["pii_flag"] = [r["pii_flag"] for r in ScrubadubDetector().detect(human["text"].tolist())]
    return human.drop(columns="text")


def sync_synthetic_sample(raw_dir: str | Path, path: str | Path, reviewed_on: str) -> dict[str, int]:
    """Make the review table cover the sample's flagged human texts: add synthetic rows for
    pending keys, drop synthetic rows that match nothing. Human reviews are never touched."""
    flags = sample_flags(raw_dir)
    review = load_review(path)
    stale = orphan_reviews(flags, review)
    stale = stale.loc[stale["reviewer"] == SYNTHETIC_REVIEWER]
    kept = review.drop(index=stale.index)
    added = new_review_rows(pending_reviews(flags, kept), False, reviewed_on, SYNTHETIC_REVIEWER, SYNTHETIC_NOTE)
    write_review(pd.concat([kept, added], ignore_index=True), path)
    return {"added": len(added), "removed": len(stale)}

