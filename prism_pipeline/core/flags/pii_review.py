"""Evidence for the manual PII review, and the reviewer's sheet round trip (SPEC §2.3).

The reference's two annotators reviewed all 167 human texts scrubadub flagged and found no
real PII; a reviewer needs to see *why* a text was flagged. ``pii_flag`` stays exactly
scrubadub's rule (``pii.py``); beside it:

* :func:`review_evidence`: one row per flagged human text (key: the dataset's kind column +
  ``text_sha256``, as ``pii_manual_review.csv``) with the scrubadub filth types that fired, their
  character spans, how many instances share the text, and whether it has a verdict. It is the
  ``pii_review_evidence`` asset, stored in the private state dir only: never in the release,
  never in logs or metadata (those carry counts per filth type).
* :func:`reviewer_sheet` / :func:`import_sheet`: the pending texts as a CSV a reviewer fills in
  (verdict, reviewer pseudonym, date, note) and its import into the review table. The sheet
  holds the texts themselves, so it lives in the state dir too (``SHEET_FILENAME``), and a
  removal deletes it; the review table keeps hashes only.

No Dagster import.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from prism_pipeline.core.atomic import atomic_write_text
from prism_pipeline.core.dataset import TextKinds
from prism_pipeline.core.flags import manual_review
from prism_pipeline.core.flags.cache import FlagCache
from prism_pipeline.core.flags.pii import ScrubadubDetector
from prism_pipeline.core.hashing import hash_texts

key = manual_review.key


def evidence_columns(kinds: TextKinds) -> tuple[str, ...]:
    return (kinds.column, "text_sha256", "instances", "filth_types", "spans", "reviewed")


def sheet_columns(kinds: TextKinds) -> tuple[str, ...]:
    return (kinds.column, "text_sha256", "filth_types", "spans", "text", "verdict", "reviewed_on", "reviewer", "note")


SHEET_FILENAME = "pii_review_sheet.csv"  # under the state dir: it holds participant text


class SheetError(ValueError):
    """A filled-in sheet that cannot be imported; the message names the sheet row (1-based, after the header)."""


def flagged_human_texts(text_instances: pd.DataFrame, text_flags: pd.DataFrame, kinds: TextKinds) -> pd.DataFrame:
    """One row per distinct (kind, text_sha256) of a human text with ``pii_flag`` True: the
    key, ``text`` and ``instances`` (rows sharing it). ``text_flags`` is aligned with
    ``text_instances`` row by row."""
    flagged = (text_instances[kinds.column].isin(kinds.human).to_numpy()
               & text_flags["pii_flag"].to_numpy(dtype=bool))
    rows = pd.DataFrame({kinds.column: text_instances[kinds.column].to_numpy()[flagged],
                         "text_sha256": text_flags["text_sha256"].to_numpy()[flagged],
                         "text": text_instances["text"].to_numpy()[flagged]})
    counts = rows.groupby(key(kinds), sort=False).size().rename("instances")
    return rows.drop_duplicates(key(kinds)).join(counts, on=key(kinds))


EVIDENCE_DETECTOR = "scrubadub_filth"  # the flag cache's entries of each text's filth spans


def _filth(texts: pd.DataFrame, detector: ScrubadubDetector, cache: FlagCache | None) -> list[list]:
    """The filth spans of each text: from the flag cache by text hash (as its flags are, under
    scrubadub's version), the missing ones computed and stored. A warm run then never imports
    scrubadub; a removal deletes a removed text's entries with its flags."""
    hashes = texts["text_sha256"].astype("str").tolist()
    cached = cache.get_many_json(EVIDENCE_DETECTOR, detector.version, hashes) if cache is not None else {}
    computed = {h: [list(span) for span in detector.filth(t)]
                for h, t in zip(hashes, texts["text"]) if h not in cached}
    if cache is not None and computed:
        cache.put_many_json(EVIDENCE_DETECTOR, detector.version, [(h, json.dumps(f)) for h, f in computed.items()])
    return [computed[h] if h in computed else json.loads(cached[h]) for h in hashes]


def review_evidence(text_instances: pd.DataFrame, text_flags: pd.DataFrame, review: pd.DataFrame, kinds: TextKinds,
                    detector: ScrubadubDetector | None = None, cache: FlagCache | None = None) -> pd.DataFrame:
    """The ``pii_review_evidence`` table (columns :func:`evidence_columns`, canonical order).

    ``filth_types``: the distinct types that fired, sorted, ``;``-joined (``email;phone``);
    ``spans``: JSON ``[[type, start, end], ...]`` in text order (character offsets);
    ``reviewed``: the key has a verdict in ``review``. ``cache``: the flag cache, which keeps
    the spans by text hash (:func:`_filth`)."""
    texts = flagged_human_texts(text_instances, text_flags, kinds)
    filth = _filth(texts, detector or ScrubadubDetector(), cache) if len(texts) else []
    reviewed = pd.MultiIndex.from_frame(texts[key(kinds)].astype("str")).isin(
        pd.MultiIndex.from_frame(review[key(kinds)].astype("str")))
    table = pd.DataFrame({
        kinds.column: texts[kinds.column].astype("str").to_numpy(),
        "text_sha256": texts["text_sha256"].astype("str").to_numpy(),
        "instances": texts["instances"].to_numpy(dtype="int64"),
        "filth_types": pd.Series([";".join(sorted({t for t, _, _ in f})) for f in filth], dtype="str"),
        "spans": pd.Series([json.dumps(f) for f in filth], dtype="str"),
        "reviewed": pd.Series(reviewed, dtype=bool),
    })
    return manual_review.canonical_order(table.astype({kinds.column: "str", "text_sha256": "str"}), kinds)


def filth_type_counts(evidence: pd.DataFrame) -> dict[str, int]:
    """Flagged distinct texts per filth type (a text with two types counts for both): metadata."""
    types = evidence["filth_types"].str.split(";").explode()
    return {str(k): int(v) for k, v in types[types.astype(bool)].value_counts().sort_index().items()}


def _pending(evidence: pd.DataFrame, review: pd.DataFrame, kinds: TextKinds) -> pd.DataFrame:
    """Evidence rows without a verdict in the current review table (which may be newer than
    the evidence's ``reviewed`` column, after an import)."""
    reviewed = pd.MultiIndex.from_frame(evidence[key(kinds)]).isin(
        pd.MultiIndex.from_frame(review[key(kinds)].astype("str")))
    return evidence.loc[~reviewed]


def reviewer_sheet(evidence: pd.DataFrame, text_instances: pd.DataFrame, text_flags: pd.DataFrame,
                   review: pd.DataFrame, kinds: TextKinds) -> pd.DataFrame:
    """The pending flagged texts with their text and empty verdict columns (:func:`sheet_columns`)."""
    pending = _pending(evidence, review, kinds)[[kinds.column, "text_sha256", "filth_types", "spans"]]
    texts = flagged_human_texts(text_instances, text_flags, kinds).set_index(key(kinds))["text"]
    sheet = pending.join(texts, on=key(kinds))
    return (sheet.assign(verdict="", reviewed_on="", reviewer="", note="")[list(sheet_columns(kinds))]
            .reset_index(drop=True))


def write_sheet(sheet: pd.DataFrame, path) -> None:
    """Write the sheet atomically; the temporary file's mode 0600 stays (it holds texts)."""
    atomic_write_text(path, sheet.to_csv(index=False, lineterminator="\n"))


def read_sheet(path, kinds: TextKinds) -> pd.DataFrame:
    sheet = pd.read_csv(path, dtype="str", keep_default_na=False)
    if tuple(sheet.columns) != sheet_columns(kinds):
        raise SheetError(f"{path}: columns must be {list(sheet_columns(kinds))}, got {list(sheet.columns)}")
    return sheet


def import_sheet(sheet: pd.DataFrame, evidence: pd.DataFrame, review: pd.DataFrame, today: dt.date,
                 kinds: TextKinds) -> tuple[pd.DataFrame, dict[str, int]]:
    """Merge a filled-in sheet into the review table: (new review table, counts).

    Rows with an empty verdict stay pending. A filled row must be a pending flagged text of
    ``evidence`` whose ``text`` still hashes to its ``text_sha256`` (a shifted or edited row
    is refused, not imported under the wrong key); an empty ``reviewed_on`` becomes ``today``.
    The text is dropped: the review table stores hashes only."""
    filled = sheet.loc[sheet["verdict"].str.strip() != ""]
    position = pd.Series(range(1, len(sheet) + 1), index=sheet.index)
    if len(filled):
        mismatch = hash_texts(filled["text"]) != filled["text_sha256"]
        _refuse(position[filled.index[mismatch.to_numpy()]], "has a text that does not match its text_sha256 "
                                                             "(edited or shifted row)")
        keys = pd.MultiIndex.from_frame(filled[key(kinds)])
        pending = _pending(evidence, review, kinds)
        _refuse(position[filled.index[~keys.isin(pd.MultiIndex.from_frame(pending[key(kinds)]))]],
                "is not a pending flagged text of the last run (already reviewed, or no longer flagged)")
    rows = filled.assign(reviewed_on=filled["reviewed_on"].str.strip().replace("", today.isoformat()),
                         verdict=filled["verdict"].str.strip())
    try:
        added = manual_review.validate_review(rows[list(manual_review.review_columns(kinds))], kinds)
    except manual_review.ReviewTableError as err:
        raise SheetError(f"filled rows of the sheet (rows counted among the filled ones): {err}") from None
    merged = manual_review.canonical_order(pd.concat([review, added], ignore_index=True), kinds)
    return (manual_review.validate_review(merged, kinds),
            {"imported": len(added), "still_pending": len(sheet) - len(filled)})


def _refuse(rows: pd.Series, what: str) -> None:
    if len(rows):
        raise SheetError(f"sheet row {int(rows.iloc[0])} {what}"
                         + (f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""))
