"""Pandera DataFrameModels of ThoughtTrace: the single source of every column's rule.

The reader (``inputs/parse.py``) takes each column's JSON type and nullability from here; the
blocking schema checks run the models in the step that made the table (``core/validation.py``)
and name ``ThoughtTrace.jsonl``, the line and the field (``messages[3].type``) of each failure;
the models fill the UI's Columns tab. Field metadata ``SENSITIVE`` marks free text and
participant ids: their values are never shown.

Rules that span rows of one table are row rules (``core.schemas.row_rule``): message types
alternate from ``user``; ``reasons`` only on user messages and ``reactions`` only on assistant
ones; a thought's label is of its kind's vocabulary; ``created_at <= updated_at``; a user's
conversations carry the same survey answers.

No Dagster import.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from prism_pipeline.core import schemas as core_schemas
from prism_pipeline.core.schemas import (
    MODERATION_CATEGORY_COLUMNS,
    MODERATION_SCORE_COLUMNS,
    NORMALISED,
    SENSITIVE,
    is_normalised_text,
    row_rule,
)
from prism_pipeline.thoughttrace import layout
from prism_pipeline.thoughttrace.dataset import RELEASE_FILES, TEXT_KINDS

CONVERSATION_ID = r"^user\d+_task\d+_conversation\d+$"  # the user id is the part before the first "_"
USER_ID = r"^user\d+$"
# created_at / updated_at carry an offset (2026-03-18T15:10:11.885000+00:00); message and thought
# timestamps are UTC with Z (2026-04-02T10:00:00.000Z).
OFFSET_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}:\d{2}$"
Z_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
ANSWER_COLUMNS = layout.SURVEY_KEYS
# The ids of a message, thought or survey answer are its conversation's, whose model checks them:
# a bad id is reported once, on its line's `id`, not again for every message of the line.
_COPY = "The conversation's (checked by ConversationsSchema)"


def parse_times(values: pd.Series) -> pd.Series:
    """ISO 8601 strings as UTC times; NaT where a string is not a real time (month 13)."""
    return pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")


def _real_time(values: pd.Series) -> pd.Series:
    return parse_times(values).notna()


class ConversationsSchema(pa.DataFrameModel):
    """``ThoughtTrace.jsonl``'s conversation fields, one row per line (index ``line``); ``id`` is
    ``conversation_id``, and ``user_id`` its part before the first ``_``."""

    conversation_id: Series[str] = pa.Field(unique=True, str_matches=CONVERSATION_ID, metadata=SENSITIVE,
                                            description="`id`: user{N}_task{K}_conversation{M}")
    user_id: Series[str] = pa.Field(metadata=SENSITIVE, description="The part of id before '_' (user{N})")
    model_name: Series[str] = pa.Field(str_length={"min_value": 1}, description="Display name, e.g. Claude Opus 4.6")
    model_provider: Series[str] = pa.Field(str_length={"min_value": 1}, description="e.g. Anthropic")
    created_at: Series[str] = pa.Field(str_matches=OFFSET_TIME, description="ISO 8601 with offset")
    updated_at: Series[str] = pa.Field(str_matches=OFFSET_TIME, description="ISO 8601 with offset")
    task_summary: Series[str] = pa.Field(metadata=SENSITIVE, description="Free text, not normalised")
    task_expectation: Series[str] = pa.Field(metadata=SENSITIVE, description="Free text, not normalised")

    class Config:
        strict = True
        coerce = False

    @pa.check("created_at", "updated_at", name="real_time", description="a real date and time")
    def real_time(cls, values: Series[str]) -> Series[bool]:
        return _real_time(values)

    @row_rule("created_at", "updated_at", description="created_at <= updated_at")
    def created_before_updated(cls, df: pd.DataFrame) -> Series[bool]:
        created, updated = parse_times(df["created_at"]), parse_times(df["updated_at"])
        return created.isna() | updated.isna() | (created <= updated)  # an unreal time fails real_time


class MessagesSchema(pa.DataFrameModel):
    """``messages[i]``, one row per message, indexed by (line, message position, the key of its
    thought list: ``reasons`` or ``reactions``); the columns of ``messages.jsonl``."""

    conversation_id: Series[str] = pa.Field(metadata=SENSITIVE, description=_COPY)
    user_id: Series[str] = pa.Field(metadata=SENSITIVE, description=_COPY)
    message_index: Series[int] = pa.Field(ge=0, description="0-based position in the conversation")
    message_id: Series[int] = pa.Field(ge=0, description="The message's `id`: epoch milliseconds")
    type: Series[str] = pa.Field(isin=layout.MESSAGE_TYPES)
    timestamp: Series[str] = pa.Field(str_matches=Z_TIME, description="ISO 8601, UTC (Z)")
    content: Series[str] = pa.Field(metadata=SENSITIVE, description=f"Normalised text: {NORMALISED}")

    class Config:
        strict = True
        coerce = False

    @pa.check("timestamp", name="real_time", description="a real date and time")
    def real_time(cls, values: Series[str]) -> Series[bool]:
        return _real_time(values)

    @pa.check("content", name="content_normalised", description=NORMALISED)
    def content_normalised(cls, content: Series[str]) -> Series[bool]:
        return is_normalised_text(content)

    @row_rule("type", description="messages alternate user, assistant, user, ... starting with user")
    def alternates_from_user(cls, df: pd.DataFrame) -> Series[bool]:
        expected = np.where(df["message_index"].to_numpy() % 2 == 0, "user", "assistant")
        return df["type"].eq(pd.Series(expected, index=df.index))

    @row_rule("type", "thought_list",
              description="`reasons` only on user messages and `reactions` only on assistant ones")
    def thoughts_follow_type(cls, df: pd.DataFrame) -> Series[bool]:
        lists = pd.Series(df.index.get_level_values("list"), index=df.index)
        return lists.eq(df["type"].map(layout.THOUGHT_LIST_OF_TYPE))


class ThoughtsSchema(pa.DataFrameModel):
    """The reasons and reactions, one row per thought, indexed by (line, message position, list
    key, position in the list); the columns of ``thoughts.jsonl``."""

    conversation_id: Series[str] = pa.Field(metadata=SENSITIVE, description=_COPY)
    user_id: Series[str] = pa.Field(metadata=SENSITIVE, description=_COPY)
    message_index: Series[int] = pa.Field(ge=0)
    thought_index: Series[int] = pa.Field(ge=0, description="0-based position in its message's list")
    kind: Series[str] = pa.Field(isin=layout.THOUGHT_KINDS, description="reason (from `reasons`) or reaction")
    label: Series[str] = pa.Field(isin=layout.LABELS, description="7 reason and 5 reaction labels")
    timestamp: Series[str] = pa.Field(str_matches=Z_TIME, description="ISO 8601, UTC (Z); may be later than the "
                                                                      "next message (written afterwards)")
    content: Series[str] = pa.Field(metadata=SENSITIVE, description="Free text, not normalised")

    class Config:
        strict = True
        coerce = False

    @pa.check("timestamp", name="real_time", description="a real date and time")
    def real_time(cls, values: Series[str]) -> Series[bool]:
        return _real_time(values)

    @row_rule("label", "kind", description="a reason carries a reason label, a reaction a reaction label")
    def label_of_its_kind(cls, df: pd.DataFrame) -> Series[bool]:
        reason = df["label"].isin(layout.REASON_LABELS)
        reaction = df["label"].isin(layout.REACTION_LABELS)
        return (df["kind"].eq("reason") & reason) | (df["kind"].eq("reaction") & reaction) | ~(reason | reaction)


class SurveyAnswersSchema(pa.DataFrameModel):
    """``survey_answers[0]`` of the conversations that have one (index ``line``): every value a
    string; a user's conversations carry the same answers."""

    conversation_id: Series[str] = pa.Field(metadata=SENSITIVE, description=_COPY)
    user_id: Series[str] = pa.Field(metadata=SENSITIVE, description=_COPY)
    age: Series[str] = pa.Field(str_matches=r"^[0-9]+$", description="Digits, e.g. '31'")
    gender: Series[str]
    education: Series[str] = pa.Field(description="e.g. Undergraduate, Graduate")
    occupation: Series[str] = pa.Field(metadata=SENSITIVE, description="Free text")
    frequency: Series[str] = pa.Field(isin=layout.FREQUENCIES, description="'1'..'5'")
    purposes: Series[str] = pa.Field(metadata=SENSITIVE, description="Free-text comma list")

    class Config:
        strict = True
        coerce = False

    @row_rule(*ANSWER_COLUMNS, description="a user's conversations carry the same survey answers")
    def same_answers_per_user(cls, df: pd.DataFrame) -> Series[bool]:
        if df.empty:
            return pd.Series(True, index=df.index)
        distinct = df.groupby("user_id")[list(ANSWER_COLUMNS)].transform("nunique")
        return distinct.le(1).all(axis=1)


class UsersSchema(pa.DataFrameModel):
    """``users`` (``users.jsonl``): one row per participant, in order of first appearance, with
    their survey answers (null when none of their conversations has any)."""

    user_id: Series[str] = pa.Field(unique=True, str_matches=USER_ID, metadata=SENSITIVE)
    age: Series[str] = pa.Field(nullable=True, str_matches=r"^[0-9]+$")
    gender: Series[str] = pa.Field(nullable=True)
    education: Series[str] = pa.Field(nullable=True)
    occupation: Series[str] = pa.Field(nullable=True, metadata=SENSITIVE)
    frequency: Series[str] = pa.Field(nullable=True, isin=layout.FREQUENCIES)
    purposes: Series[str] = pa.Field(nullable=True, metadata=SENSITIVE)
    num_conversations: Series[int] = pa.Field(ge=1, description="The user's conversations in the release")

    class Config:
        strict = True
        coerce = False


_KIND_INDEXES = {"user_message": (True, False), "assistant_message": (True, False), "reason": (True, True),
                 "reaction": (True, True), "task_summary": (False, False), "task_expectation": (False, False)}


def _indexes_follow_kind(df: pd.DataFrame) -> pd.Series:
    expected = np.array([_KIND_INDEXES.get(k, (False, False)) for k in TEXT_KINDS.all])
    rows = df[TEXT_KINDS.column].map({k: i for i, k in enumerate(TEXT_KINDS.all)})
    known = rows.notna().to_numpy()
    want = expected[rows.fillna(0).astype("int64").to_numpy()]
    have = df[["message_index", "thought_index"]].notna().to_numpy()
    return pd.Series(~known | (have == want).all(axis=1), index=df.index)


class TextInstancesSchema(pa.DataFrameModel):
    """``text_instances``: every text the flags annotate, one row each, in canonical order
    (conversation order; in a conversation each message then its thoughts, then the task
    summary and expectation)."""

    text_kind: Series[str] = pa.Field(isin=TEXT_KINDS.all)
    conversation_id: Series[str] = pa.Field(str_matches=CONVERSATION_ID, metadata=SENSITIVE)
    user_id: Series[str] = pa.Field(str_matches=USER_ID, metadata=SENSITIVE)
    message_index: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True, description="Null for task texts")
    thought_index: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True, description="Set for thoughts only")
    text: Series[str] = pa.Field(metadata=SENSITIVE, description="The text as released")

    class Config:
        strict = True
        coerce = False

    @row_rule("text_kind", "message_index", "thought_index",
              description="messages carry message_index; thoughts message_index and thought_index; task texts "
                          "neither")
    def indexes_follow_kind(cls, df: pd.DataFrame) -> Series[bool]:
        return _indexes_follow_kind(df)


class MetadataSchema(pa.DataFrameModel):
    """``metadata.jsonl``: one row per text instance, same order, with the engine's flags."""

    conversation_id: Series[str] = pa.Field(str_matches=CONVERSATION_ID, metadata=SENSITIVE)
    user_id: Series[str] = pa.Field(str_matches=USER_ID, metadata=SENSITIVE)
    text_kind: Series[str] = pa.Field(isin=TEXT_KINDS.all)
    message_index: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    thought_index: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    language_flag: Series[str] = pa.Field(str_matches=r"^[a-z]{2,3}$", description="langid 1.1.6 label")
    en_flag: Series[bool] = pa.Field(description="language_flag == 'en'")
    pii_flag: Series[bool] = pa.Field(description="scrubadub 2.0.1 default cleaning changes the text")
    pii_manual_flag: Series[pd.BooleanDtype] = pa.Field(nullable=True,
                                                        description="Manual review verdict; null = not checked")
    moderation_flagged: Series[bool] = pa.Field(alias="moderation_flag.flagged")
    moderation_categories: Series[bool] = pa.Field(alias=MODERATION_CATEGORY_COLUMNS, regex=True)
    moderation_scores: Series[float] = pa.Field(alias=MODERATION_SCORE_COLUMNS, regex=True, ge=0.0, le=1.0,
                                                description="Rounded to 2 dp")

    class Config:
        strict = True
        coerce = False

    @row_rule("en_flag", "language_flag", description="en_flag == (language_flag == 'en')")
    def en_flag_consistent(cls, df: pd.DataFrame) -> Series[bool]:
        return df["en_flag"] == df["language_flag"].eq("en").fillna(False).astype(bool)

    @row_rule("pii_manual_flag", "text_kind", "pii_flag",
              description="pii_manual_flag is null for model texts and for texts without a PII hit")
    def manual_flag_only_on_reviewed_human_hits(cls, df: pd.DataFrame) -> Series[bool]:
        return df["pii_manual_flag"].isna() | (df["text_kind"].isin(TEXT_KINDS.human) & df["pii_flag"])

    @row_rule("text_kind", "message_index", "thought_index",
              description="messages carry message_index; thoughts both; task texts neither")
    def indexes_follow_kind(cls, df: pd.DataFrame) -> Series[bool]:
        return _indexes_follow_kind(df)


# The engine's tables for ThoughtTrace's text kinds and release files (core/schemas.py).
TextFlagsSchema = core_schemas.TextFlagsSchema
PiiManualReviewSchema = core_schemas.pii_manual_review_schema(TEXT_KINDS)
PiiReviewEvidenceSchema = core_schemas.pii_review_evidence_schema(TEXT_KINDS)
ErasureSchema = core_schemas.erasure_schema(RELEASE_FILES)
