"""Pandera models of the engine's own tables, and the helpers every dataset's models use.

A dataset's ``schemas.py`` holds the models of its files and derived tables; this module holds
what the engine writes for any dataset: the flags (``text_flags``), the manual PII review and
its evidence (keyed by the dataset's text kind column, so built per dataset by
:func:`pii_manual_review_schema` and :func:`pii_review_evidence_schema`), the removal requests
and the erasure's row counts. The DataFrameModels are the single source of each column's rule:
schema checks run them (``validation.py``) and they fill the UI's Columns tab.

Field metadata ``{"sensitive": True}`` marks free text, participant ids and hashes of either:
their values are never copied into check results, logs or errors (only file, line and field are).

No Dagster import.
"""

from __future__ import annotations

import functools
import re

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from prism_pipeline.core.dataset import TextKinds

SENSITIVE = {"sensitive": True}
# Formats of the pipeline's own keys (removal requests, reviews, ledger).
SHA256_HEX_PATTERN = r"[0-9a-f]{64}"
ISO_DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
REQUEST_ID_PATTERN = r"rr-[0-9]{4,}"
PSEUDONYM_PATTERN = r"[a-z][a-z0-9_-]{0,39}"  # a reviewer: annotator-1, never a name
SHA256 = rf"^{SHA256_HEX_PATTERN}$"
ISO_DATE = rf"^{ISO_DATE_PATTERN}$"
MODERATION_CATEGORY_COLUMNS = r"^moderation_flag\.categories\..+$"
MODERATION_SCORE_COLUMNS = r"^moderation_flag\.category_scores\..+$"
# Moderation backends (frozen: a dataset's published results; local, openai: core/flags/moderation;
# that package imports scikit-learn and the OpenAI SDK, too heavy here; a test asserts they agree).
MODERATION_BACKENDS = ("frozen", "local", "openai")
ROW_RULE_COLUMNS = "columns"  # the statistics key of a row rule's columns
NORMALISED = "normalised (SPEC §1.2): trimmed, never empty or 'None' (empty is the 'EMPTY STRING' sentinel)"


def row_rule(*columns: str, description: str):
    """A multi-column (row) rule reading ``columns`` (``parent.*`` for a nested family). A
    failing row is reported once, naming these columns only (``validation.py``)."""
    return pa.dataframe_check(description=description, statistics={ROW_RULE_COLUMNS: columns})


def is_normalised_text(texts: pd.Series) -> pd.Series:
    """True where a text is what ``process_text`` (``core/normalise.py``) leaves unchanged."""
    return texts.str.strip().eq(texts) & texts.ne("") & texts.ne("None")


def typed_if_empty(model: type[pa.DataFrameModel], frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``, or when it has no rows, ``frame`` with each column cast to the model's dtype.

    pandas gives the columns of an empty constructor or of an empty selection the object dtype
    (``erasure`` without requests, ``census_weights`` of an empty pool): with no values there is
    nothing of the wrong type, and a strict dtype check would fail on nothing. Column names are
    still checked."""
    if len(frame) or frame.columns.empty:
        return frame
    dtypes = {}
    for name, column in model.to_schema().columns.items():
        names = [c for c in frame.columns if re.match(name, c)] if column.regex else [name] * (name in frame.columns)
        dtypes.update(dict.fromkeys(names, column.dtype.type))
    return frame.astype(dtypes)


def sensitive_columns(model: type[pa.DataFrameModel], columns) -> set[str]:
    """The columns of a frame whose values must never be shown (free text and ids)."""
    schema = model.to_schema()
    out: set[str] = set()
    for name, col in schema.columns.items():
        if not (col.metadata or {}).get("sensitive"):
            continue
        if col.regex:
            out.update(c for c in columns if re.match(name, c))
        else:
            out.add(name)
    return out


class TextFlagsSchema(pa.DataFrameModel):
    """``text_flags`` (SPEC §2.2, §7.3): the flags of each text instance (same rows and order),
    with the moderation result's provenance."""

    text_sha256: Series[str] = pa.Field(str_matches=SHA256, nullable=True, metadata=SENSITIVE,
                                        description="sha256 of the text's UTF-8 bytes; null for a null text")
    language_flag: Series[str] = pa.Field(str_matches=r"^[a-z]{2,3}$", nullable=True,
                                          description="langid 1.1.6 label")
    pii_flag: Series[bool] = pa.Field(description="scrubadub 2.0.1 default cleaning changes the text")
    moderation_flagged: Series[bool] = pa.Field(alias="moderation_flag.flagged")
    moderation_categories: Series[bool] = pa.Field(alias=MODERATION_CATEGORY_COLUMNS, regex=True)
    moderation_scores: Series[float] = pa.Field(alias=MODERATION_SCORE_COLUMNS, regex=True, ge=0.0, le=1.0,
                                                description="Rounded to 2 dp (SPEC §2.2)")
    moderation_backend: Series[str] = pa.Field(isin=MODERATION_BACKENDS,
                                               description="frozen = the published result (SPEC §7.3)")
    moderation_model: Series[str] = pa.Field(str_length={"min_value": 1}, description="Model id behind the result")

    class Config:
        strict = True
        coerce = False

    @row_rule("text_sha256", "language_flag", "pii_flag",
              description="a null text (null text_sha256) has a null language_flag and pii_flag False")
    def null_text_has_no_flags(cls, df: pd.DataFrame) -> Series[bool]:
        return df["text_sha256"].notna() | (df["language_flag"].isna() & ~df["pii_flag"])


class RemovalRequestsSchema(pa.DataFrameModel):
    """``removal_requests`` (SPEC §7.7, ``core/removal/requests.py``): salted hashes only."""

    request_id: Series[str] = pa.Field(unique=True, str_matches=rf"^{REQUEST_ID_PATTERN}$")
    user_hash: Series[str] = pa.Field(unique=True, str_matches=SHA256, metadata=SENSITIVE,
                                      description="sha256(salt + user_id), never the id")
    received: Series[str] = pa.Field(str_matches=ISO_DATE, description="ISO date")
    note: Series[str] = pa.Field(metadata=SENSITIVE, description="Free text, may be empty")

    class Config:
        strict = True
        coerce = False


@functools.cache  # one class per dataset: the same kinds give the same model
def pii_manual_review_schema(kinds: TextKinds) -> type[pa.DataFrameModel]:
    """``pii_manual_review`` (SPEC §2.3, ``core/flags/manual_review.py``): one verdict per (text
    kind, text_sha256), the kind column named as the dataset names it."""

    class PiiManualReviewSchema(pa.DataFrameModel):
        __doc__ = pii_manual_review_schema.__doc__
        kind: Series[str] = pa.Field(alias=kinds.column, isin=kinds.human)
        text_sha256: Series[str] = pa.Field(str_matches=SHA256, metadata=SENSITIVE,
                                            description="sha256 of the reviewed text; never the text")
        verdict: Series[bool] = pa.Field(description="True = real PII, False = a false alarm")
        reviewed_on: Series[str] = pa.Field(str_matches=ISO_DATE)
        reviewer: Series[str] = pa.Field(str_matches=rf"^{PSEUDONYM_PATTERN}$", description="A pseudonym")
        note: Series[str] = pa.Field(metadata=SENSITIVE, description="Free text, may be empty")

        class Config:
            strict = True
            coerce = False
            unique = (kinds.column, "text_sha256")

    return PiiManualReviewSchema


@functools.cache  # one class per dataset: the same kinds give the same model
def pii_review_evidence_schema(kinds: TextKinds) -> type[pa.DataFrameModel]:
    """``pii_review_evidence`` (SPEC §2.3, ``core/flags/pii_review.py``): per flagged human text,
    the scrubadub filth behind ``pii_flag``. Private state only, never released."""

    class PiiReviewEvidenceSchema(pa.DataFrameModel):
        __doc__ = pii_review_evidence_schema.__doc__
        kind: Series[str] = pa.Field(alias=kinds.column, isin=kinds.human)
        text_sha256: Series[str] = pa.Field(str_matches=SHA256, metadata=SENSITIVE,
                                            description="sha256 of the flagged text; never the text")
        instances: Series[int] = pa.Field(ge=1, description="Text instances of this kind with this text")
        filth_types: Series[str] = pa.Field(str_matches=r"^[a-z_]+(;[a-z_]+)*$",
                                            description="scrubadub filth types that fired, sorted, ';'-joined")
        spans: Series[str] = pa.Field(str_matches=r"^\[\[.+\]\]$",
                                      description="JSON [[type, start, end], ...]: character offsets, never the span")
        reviewed: Series[bool] = pa.Field(description="The text has a verdict in pii_manual_review.csv")

        class Config:
            strict = True
            coerce = False
            unique = (kinds.column, "text_sha256")

    return PiiReviewEvidenceSchema


@functools.cache  # one class per dataset: the same kinds give the same model
def erasure_schema(release_files: tuple[str, ...]) -> type[pa.DataFrameModel]:
    """``erasure`` (SPEC §7.7): release rows removed per request and file, for the ledger."""

    class ErasureSchema(pa.DataFrameModel):
        __doc__ = erasure_schema.__doc__
        request_id: Series[str] = pa.Field(str_matches=rf"^{REQUEST_ID_PATTERN}$")
        file: Series[str] = pa.Field(isin=release_files)
        rows: Series[int] = pa.Field(ge=0)

        class Config:
            strict = True
            coerce = False
            unique = ("request_id", "file")

    return ErasureSchema
