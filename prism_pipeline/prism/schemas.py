"""Pandera DataFrameModels: the single source of every column's rule.

One model per table (SPEC §1.3–§1.6, §5, §7.5): the input files, the derived and released
tables, and every intermediate asset (sampling, text instances and flags, manual review, removal).
They are used three ways, so a rule is written once:

* the readers in ``prism_pipeline.prism.inputs.parse`` take each column's JSON type and
  nullability from here to reject wrong types line by line;
* blocking Dagster asset checks run ``Model.validate(..., lazy=True)`` (``validation.py``);
* ``validation.table_schema`` turns them into the ``dagster/column_schema`` metadata that
  fills the UI's Columns tab.

Tables are flat: nested JSON objects become ``parent.key`` columns. Families of nested keys
with one rule (the 19 use cases, the 9 slider values, …) are one regex field; the readers
check the exact key set, so a regex cannot hide a missing key.

Field metadata ``{"sensitive": True}`` marks free text, participant ids and hashes of either
(the removal leak scan looks for text hashes): their values are never copied into check
results, logs or errors (only file, line and field are).

A zero-row frame is checked through :func:`typed_if_empty`: pandas types the columns of an
empty frame as object, which says nothing about the values it does not have.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from prism_pipeline.core import schemas as core_schemas
from prism_pipeline.core.schemas import (  # noqa: F401 (re-exported: PRISM's models and checks use them)
    MODERATION_BACKENDS,
    MODERATION_CATEGORY_COLUMNS,
    MODERATION_SCORE_COLUMNS,
    NORMALISED,
    ROW_RULE_COLUMNS,
    SENSITIVE,
    SHA256,
    is_normalised_text,
    row_rule,
    sensitive_columns,
    typed_if_empty,
)
from prism_pipeline.prism import codebook as cb

_DATETIME = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"
_ISO3_OR_PNS = r"^([A-Z]{3}|Prefer not to say)$"
# Pandera regex aliases for the nested families (keys from codebook.py).
_USECASE_FLAGS = r"^lm_usecases\.(?!other_text$).+$"
_STATED_PREF_SLIDERS = r"^stated_prefs\.(?!other_text$).+$"
_ORDER_USECASES = r"^order_lm_usecases\.(?!other$).+$"
_ORDER_STATED_PREFS = r"^order_stated_prefs\.(?!other$).+$"
_MODERATION_CATEGORIES = MODERATION_CATEGORY_COLUMNS
_MODERATION_SCORES = MODERATION_SCORE_COLUMNS
_SHA256 = SHA256
COUNTRIES = cb.REP_COUNTRIES
SORT_ID_OF_BLOCK = cb.SORT_ID_OF_BLOCK
RELEASE_FILES = cb.RELEASE_FILES
_NORMALISED = NORMALISED


def _nested(parent: str, keys: tuple[str, ...]) -> list[str]:
    return [f"{parent}.{k}" for k in keys]


class SurveySchema(pa.DataFrameModel):
    """``survey.jsonl`` (SPEC §1.3), one row per participant, flattened."""

    user_id: Series[str] = pa.Field(unique=True, str_matches=r"^user\d+$", metadata=SENSITIVE,
                                    description="Pseudonymous participant id")
    survey_only: Series[bool] = pa.Field(description="Participant completed the survey only")
    num_completed_conversations: Series[int] = pa.Field(ge=0, le=7, description="Conversations completed")
    consent: Series[str] = pa.Field(isin=[cb.CONSENT])
    consent_age: Series[str] = pa.Field(isin=[cb.CONSENT_AGE])
    lm_familiarity: Series[str] = pa.Field(isin=cb.LM_FAMILIARITY)
    lm_indirect_use: Series[str] = pa.Field(isin=cb.YES_NO_UNSURE)
    lm_direct_use: Series[str] = pa.Field(isin=cb.YES_NO_UNSURE)
    lm_frequency_use: Series[str] = pa.Field(isin=cb.LM_FREQUENCY_USE, nullable=True,
                                             description="Null when not shown (no direct/indirect use)")
    self_description: Series[str] = pa.Field(metadata=SENSITIVE, description="Free text")
    system_string: Series[str] = pa.Field(metadata=SENSITIVE, description="Free text")
    age: Series[str] = pa.Field(isin=cb.AGE)
    gender: Series[str] = pa.Field(isin=cb.GENDER)
    employment_status: Series[str] = pa.Field(isin=cb.EMPLOYMENT_STATUS)
    education: Series[str] = pa.Field(isin=cb.EDUCATION)
    marital_status: Series[str] = pa.Field(isin=cb.MARITAL_STATUS)
    english_proficiency: Series[str] = pa.Field(isin=cb.ENGLISH_PROFICIENCY)
    study_id: Series[str] = pa.Field(description="Prolific study id")
    study_locale: Series[str] = pa.Field(str_matches=r"^[^A-Z]+$", description="Lower-case recruitment locale")
    religion_self_described: Series[str] = pa.Field(alias="religion.self_described", metadata=SENSITIVE)
    religion_categorised: Series[str] = pa.Field(alias="religion.categorised", isin=cb.RELIGION_CATEGORISED)
    religion_simplified: Series[str] = pa.Field(alias="religion.simplified", isin=cb.RELIGION_SIMPLIFIED)
    ethnicity_self_described: Series[str] = pa.Field(alias="ethnicity.self_described", metadata=SENSITIVE)
    ethnicity_categorised: Series[str] = pa.Field(alias="ethnicity.categorised", isin=cb.ETHNICITY_CATEGORISED)
    ethnicity_simplified: Series[str] = pa.Field(alias="ethnicity.simplified", isin=cb.ETHNICITY_SIMPLIFIED)
    birth_country: Series[str] = pa.Field(alias="location.birth_country")
    birth_country_iso: Series[str] = pa.Field(alias="location.birth_countryISO", str_matches=_ISO3_OR_PNS)
    birth_region: Series[str] = pa.Field(alias="location.birth_region", isin=cb.UN_REGIONS)
    birth_subregion: Series[str] = pa.Field(alias="location.birth_subregion")
    reside_country: Series[str] = pa.Field(alias="location.reside_country")
    reside_region: Series[str] = pa.Field(alias="location.reside_region", isin=cb.UN_REGIONS)
    reside_subregion: Series[str] = pa.Field(alias="location.reside_subregion")
    reside_country_iso: Series[str] = pa.Field(alias="location.reside_countryISO", str_matches=_ISO3_OR_PNS)
    same_birth_reside_country: Series[str] = pa.Field(alias="location.same_birth_reside_country",
                                                      isin=cb.SAME_BIRTH_RESIDE)
    special_region: Series[str] = pa.Field(alias="location.special_region", isin=cb.SPECIAL_REGION)
    lm_usecases: Series[pd.Int64Dtype] = pa.Field(alias=_USECASE_FLAGS, regex=True, isin=[0, 1], nullable=True,
                                                  description="1 ticked, 0 seen not ticked, null not shown")
    lm_usecases_other_text: Series[str] = pa.Field(alias="lm_usecases.other_text", nullable=True,
                                                   metadata=SENSITIVE)
    stated_prefs: Series[int] = pa.Field(alias=_STATED_PREF_SLIDERS, regex=True, ge=0, le=100,
                                         description="Slider 0-100; -1 (seen, unanswered) is invalid here")
    stated_prefs_other_text: Series[str] = pa.Field(alias="stated_prefs.other_text", nullable=True,
                                                    metadata=SENSITIVE)
    order_lm_usecases: Series[pd.Int64Dtype] = pa.Field(alias=_ORDER_USECASES, regex=True, ge=1, le=18,
                                                        nullable=True)
    order_lm_usecases_other: Series[pd.Int64Dtype] = pa.Field(alias="order_lm_usecases.other", isin=[19],
                                                              nullable=True)
    order_stated_prefs: Series[int] = pa.Field(alias=_ORDER_STATED_PREFS, regex=True, ge=1, le=8)
    order_stated_prefs_other: Series[int] = pa.Field(alias="order_stated_prefs.other", isin=[9])
    generated_datetime: Series[str] = pa.Field(str_matches=_DATETIME)
    timing_duration_s: Series[float] = pa.Field(ge=0)
    timing_duration_mins: Series[float] = pa.Field(ge=0)
    # Published derived flags: optional on input, never trusted (recomputed downstream).
    included_in_US_REP: Series[pd.BooleanDtype] = pa.Field(nullable=True, required=False)
    included_in_UK_REP: Series[pd.BooleanDtype] = pa.Field(nullable=True, required=False)
    included_in_balanced_subset: Series[pd.BooleanDtype] = pa.Field(nullable=True, required=False)

    class Config:
        strict = True
        coerce = False

    @row_rule("religion.categorised", "religion.simplified",
              description="religion.simplified follows from religion.categorised (SPEC §5)")
    def religion_simplified_consistent(cls, df: pd.DataFrame) -> Series[bool]:
        return df["religion.categorised"].map(cb.RELIGION_SIMPLIFIED_OF) == df["religion.simplified"]

    @row_rule("ethnicity.categorised", "ethnicity.simplified",
              description="ethnicity.simplified follows from ethnicity.categorised (SPEC §5)")
    def ethnicity_simplified_consistent(cls, df: pd.DataFrame) -> Series[bool]:
        return df["ethnicity.categorised"].map(cb.ETHNICITY_SIMPLIFIED_OF) == df["ethnicity.simplified"]

    @row_rule("lm_usecases.*", "order_lm_usecases.*",
              description="lm_usecases and order_lm_usecases are null together (question not shown)")
    def usecases_shown_consistently(cls, df: pd.DataFrame) -> Series[bool]:
        flags = df[_nested("lm_usecases", cb.USECASE_KEYS + ("other",))].isna()
        order = df[_nested("order_lm_usecases", cb.ORDER_LM_USECASES_KEYS)].isna()
        return (flags.all(axis=1) == order.all(axis=1)) & (flags.all(axis=1) | ~flags.any(axis=1))

    @row_rule("order_lm_usecases.*",
              description="order_lm_usecases is a permutation of 1..18 when shown")
    def usecase_order_is_permutation(cls, df: pd.DataFrame) -> Series[bool]:
        return _is_permutation(df[_nested("order_lm_usecases", cb.USECASE_KEYS)])

    @row_rule("order_stated_prefs.*",
              description="order_stated_prefs is a permutation of 1..8")
    def stated_pref_order_is_permutation(cls, df: pd.DataFrame) -> Series[bool]:
        return _is_permutation(df[_nested("order_stated_prefs", cb.STATED_PREF_KEYS)])

    @row_rule("timing_duration_s", "timing_duration_mins",
              description="timing_duration_mins == round(timing_duration_s / 60, 2)")
    def survey_minutes_follow_seconds(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["timing_duration_s"] / 60).round(2).sub(df["timing_duration_mins"]).abs() < 1e-9


class ConversationsSchema(pa.DataFrameModel):
    """``conversations.jsonl`` (SPEC §1.4) without ``conversation_history`` (see below)."""

    conversation_id: Series[str] = pa.Field(unique=True, str_matches=r"^c\d+$", metadata=SENSITIVE)
    user_id: Series[str] = pa.Field(str_matches=r"^user\d+$", metadata=SENSITIVE)
    conversation_type: Series[str] = pa.Field(isin=cb.CONVERSATION_TYPES)
    opening_prompt: Series[str] = pa.Field(metadata=SENSITIVE, description="Normalised turn-0 prompt")
    conversation_turns: Series[int] = pa.Field(ge=2, le=22, description="max(turn) + 1")
    performance_attributes: Series[pd.Int64Dtype] = pa.Field(alias=r"^performance_attributes\..+$", regex=True,
                                                             ge=1, le=100, nullable=True,
                                                             description="1-100, null = N/A")
    choice_attributes: Series[pd.Int64Dtype] = pa.Field(alias=r"^choice_attributes\..+$", regex=True,
                                                        ge=1, le=100, nullable=True,
                                                        description="1-100, null = N/A")
    open_feedback: Series[str] = pa.Field(metadata=SENSITIVE, description="Free text, not normalised")
    generated_datetime: Series[str] = pa.Field(str_matches=_DATETIME)
    timing_duration_s: Series[float] = pa.Field(ge=0, nullable=True)
    timing_duration_mins: Series[float] = pa.Field(ge=0, nullable=True)
    included_in_balanced_subset: Series[pd.BooleanDtype] = pa.Field(nullable=True, required=False)

    class Config:
        strict = True
        coerce = False

    @pa.check("opening_prompt", name="opening_prompt_normalised", description=_NORMALISED)
    def opening_prompt_normalised(cls, opening_prompt: Series[str]) -> Series[bool]:
        return is_normalised_text(opening_prompt)

    @row_rule("timing_duration_s", "timing_duration_mins",
              description="timing_duration_mins == round(timing_duration_s / 60, 2)")
    def conversation_minutes_follow_seconds(cls, df: pd.DataFrame) -> Series[bool]:
        diff = (df["timing_duration_s"] / 60).round(2).sub(df["timing_duration_mins"]).abs()
        both_null = df["timing_duration_s"].isna() & df["timing_duration_mins"].isna()
        return both_null | (diff < 1e-9)


class ConversationHistorySchema(pa.DataFrameModel):
    """``conversation_history`` items (SPEC §1.4), one row per item, indexed by (line, item)."""

    conversation_id: Series[str] = pa.Field(str_matches=r"^c\d+$", metadata=SENSITIVE)
    turn: Series[int] = pa.Field(ge=0, le=21)
    role: Series[str] = pa.Field(isin=cb.ROLES)
    content: Series[str] = pa.Field(metadata=SENSITIVE, description="Normalised text; empty is 'EMPTY STRING'")
    model_provider: Series[str] = pa.Field(isin=cb.MODEL_PROVIDERS, nullable=True)
    model_name: Series[str] = pa.Field(isin=cb.MODEL_NAMES, nullable=True)
    score: Series[pd.Int64Dtype] = pa.Field(ge=1, le=100, nullable=True)
    if_chosen: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    within_turn_id: Series[pd.Int64Dtype] = pa.Field(ge=0, le=3, nullable=True)
    # Frozen ids of scored items from the id registry (removal/registry.py); null on other items.
    utterance_id: Series[str] = pa.Field(str_matches=r"^ut\d+$", nullable=True, required=False, metadata=SENSITIVE)
    interaction_id: Series[str] = pa.Field(str_matches=r"^int\d+$", nullable=True, required=False,
                                           metadata=SENSITIVE)

    class Config:
        strict = True
        coerce = False

    @row_rule("role", "model_provider", "model_name", "score", "if_chosen", "within_turn_id",
              description="model items carry provider, name, score, if_chosen, within_turn_id; "
                                    "user items carry none")
    def model_fields_iff_model_role(cls, df: pd.DataFrame) -> Series[bool]:
        present = df[list(cb.HISTORY_MODEL_KEYS[3:])].notna()  # provider .. within_turn_id
        is_model = df["role"] == "model"
        return present.all(axis=1).where(is_model, ~present.any(axis=1))

    @row_rule("model_provider", "model_name",
              description="model_provider matches model_name (SPEC §1.5)")
    def provider_matches_model(cls, df: pd.DataFrame) -> Series[bool]:
        return df["model_name"].isna() | (df["model_name"].map(cb.MODEL_PROVIDER_OF) == df["model_provider"])

    @pa.check("content", name="content_normalised", description=_NORMALISED)
    def content_normalised(cls, content: Series[str]) -> Series[bool]:
        return is_normalised_text(content)


class UtterancesSchema(pa.DataFrameModel):
    """``utterances.jsonl`` (SPEC §1.5): one row per scored model response."""

    utterance_id: Series[str] = pa.Field(unique=True, str_matches=r"^ut\d+$", metadata=SENSITIVE)
    interaction_id: Series[str] = pa.Field(str_matches=r"^int\d+$", metadata=SENSITIVE)
    conversation_id: Series[str] = pa.Field(str_matches=r"^c\d+$", metadata=SENSITIVE)
    user_id: Series[str] = pa.Field(str_matches=r"^user\d+$", metadata=SENSITIVE)
    turn: Series[int] = pa.Field(ge=0, le=21)
    within_turn_id: Series[int] = pa.Field(ge=0, le=3)
    conversation_type: Series[str] = pa.Field(isin=cb.CONVERSATION_TYPES)
    user_prompt: Series[str] = pa.Field(metadata=SENSITIVE)
    model_response: Series[str] = pa.Field(metadata=SENSITIVE)
    model_name: Series[str] = pa.Field(isin=cb.MODEL_NAMES)
    model_provider: Series[str] = pa.Field(isin=cb.MODEL_PROVIDERS)
    score: Series[int] = pa.Field(ge=1, le=100)
    if_chosen: Series[bool]
    included_in_balanced_subset: Series[pd.BooleanDtype] = pa.Field(nullable=True, required=False)

    class Config:
        strict = True
        coerce = False


class InteractionsSchema(pa.DataFrameModel):
    """The wide interactions table (SPEC §5, ``pivot_to_wide_format``): one row per
    (conversation, turn), the 2–4 responses as suffixes a–d in row order."""

    interaction_id: Series[str] = pa.Field(unique=True, str_matches=r"^int\d+$", metadata=SENSITIVE)
    conversation_id: Series[str] = pa.Field(str_matches=r"^c\d+$", metadata=SENSITIVE)
    user_id: Series[str] = pa.Field(str_matches=r"^user\d+$", metadata=SENSITIVE)
    turn: Series[int] = pa.Field(ge=0, le=21)
    conversation_type: Series[str] = pa.Field(isin=cb.CONVERSATION_TYPES)
    user_prompt: Series[str] = pa.Field(metadata=SENSITIVE)
    n_responses: Series[int] = pa.Field(ge=1, le=4, description="Scored responses in this interaction "
                                                                  "(2-4 expected; see the responses_per_turn check)")
    n_chosen: Series[int] = pa.Field(ge=0, le=4, description="Responses with if_chosen True (should be 1)")
    utterance_ids: Series[str] = pa.Field(alias=r"^utterance_id_[abcd]$", regex=True, nullable=True,
                                          metadata=SENSITIVE)
    within_turn_ids: Series[pd.Int64Dtype] = pa.Field(alias=r"^within_turn_id_[abcd]$", regex=True,
                                                      ge=0, le=3, nullable=True)
    model_names: Series[str] = pa.Field(alias=r"^model_name_[abcd]$", regex=True, isin=cb.MODEL_NAMES,
                                        nullable=True)
    model_providers: Series[str] = pa.Field(alias=r"^model_provider_[abcd]$", regex=True,
                                            isin=cb.MODEL_PROVIDERS, nullable=True)
    model_responses: Series[str] = pa.Field(alias=r"^model_response_[abcd]$", regex=True, nullable=True,
                                            metadata=SENSITIVE)
    scores: Series[pd.Int64Dtype] = pa.Field(alias=r"^score_[abcd]$", regex=True, ge=1, le=100, nullable=True)
    if_chosen: Series[pd.BooleanDtype] = pa.Field(alias=r"^if_chosen_[abcd]$", regex=True, nullable=True)

    class Config:
        strict = True
        coerce = False


class MetadataSchema(pa.DataFrameModel):
    """``metadata.jsonl`` (SPEC §1.6, §2): one row per text instance."""

    column_id: Series[str] = pa.Field(isin=cb.TEXT_COLUMN_IDS)
    user_id: Series[str] = pa.Field(str_matches=r"^user\d+$", metadata=SENSITIVE)
    conversation_id: Series[str] = pa.Field(str_matches=r"^c\d+$", nullable=True, metadata=SENSITIVE)
    interaction_id: Series[str] = pa.Field(str_matches=r"^int\d+$", nullable=True, metadata=SENSITIVE)
    utterance_id: Series[str] = pa.Field(str_matches=r"^ut\d+$", nullable=True, metadata=SENSITIVE)
    pii_flag: Series[bool] = pa.Field(description="scrubadub 2.0.1 default cleaning changes the text")
    pii_manual_flag: Series[pd.BooleanDtype] = pa.Field(nullable=True,
                                                        description="Manual review verdict; null = not checked")
    language_flag: Series[str] = pa.Field(str_matches=r"^[a-z]{2,3}$", nullable=True,
                                          description="langid 1.1.6 label")
    en_flag: Series[bool] = pa.Field(description="language_flag == 'en'")
    moderation_flagged: Series[bool] = pa.Field(alias="moderation_flag.flagged")
    moderation_categories: Series[bool] = pa.Field(alias=_MODERATION_CATEGORIES, regex=True)
    moderation_scores: Series[float] = pa.Field(alias=_MODERATION_SCORES, regex=True,
                                                ge=0.0, le=1.0, description="Rounded to 2 dp (SPEC §2.2)")

    class Config:
        strict = True
        coerce = False

    @row_rule("en_flag", "language_flag",
              description="en_flag == (language_flag == 'en')")
    def en_flag_consistent(cls, df: pd.DataFrame) -> Series[bool]:
        return df["en_flag"] == df["language_flag"].eq("en").fillna(False).astype(bool)

    @row_rule("pii_manual_flag", "column_id", "pii_flag",
              description="pii_manual_flag is null for model texts and for texts without a PII hit")
    def manual_flag_only_on_reviewed_human_hits(cls, df: pd.DataFrame) -> Series[bool]:
        reviewable = (df["column_id"] != "model_response") & df["pii_flag"]
        return df["pii_manual_flag"].isna() | reviewable


# ---------------------------------------------------------------------------------------
# Intermediate tables: every other asset's frame (SPEC §2-§4, §7.3, §7.5, §7.7), so each
# asset shows its columns in the UI and has a schema check.
# ---------------------------------------------------------------------------------------
class CensusCellsSchema(pa.DataFrameModel):
    """``census_cells`` (SPEC §4.1, §6): adults per country × age band × census ethnicity × sex,
    one row per cell (unique on the four keys)."""

    country: Series[str] = pa.Field(isin=COUNTRIES)
    age_band: Series[str] = pa.Field(isin=cb.AGE_BANDS)
    census_ethnicity: Series[str] = pa.Field(isin=cb.CENSUS_ETHNICITIES)
    sex: Series[str] = pa.Field(isin=cb.CENSUS_SEXES)
    population: Series[int] = pa.Field(ge=0, description="Adults in the cell")
    share_of_adults: Series[float] = pa.Field(ge=0.0, le=1.0,
                                              description="population / the country's adult total (a fraction)")

    class Config:
        strict = True
        coerce = False
        unique = ("country", "age_band", "census_ethnicity", "sex")

    @row_rule("share_of_adults", "population", "country",
              description="share_of_adults == population / the country's summed population")
    def share_follows_population(cls, df: pd.DataFrame) -> Series[bool]:
        total = df.groupby("country")["population"].transform("sum")
        return (df["population"] / total - df["share_of_adults"]).abs() < 1e-12


class BalancedSubsetSchema(pa.DataFrameModel):
    """``balanced_subset`` (SPEC §3.1): the recomputed flag per conversation, in file order."""

    conversation_id: Series[str] = pa.Field(unique=True, str_matches=r"^c\d+$", metadata=SENSITIVE)
    included_in_balanced_subset: Series[bool]

    class Config:
        strict = True
        coerce = False


class _RepSampleSchema(pa.DataFrameModel):
    """One row per survey participant, in file order, and the country's REP flag."""

    user_id: Series[str] = pa.Field(unique=True, str_matches=r"^user\d+$", metadata=SENSITIVE)

    class Config:
        strict = True
        coerce = False


class UkRepSampleSchema(_RepSampleSchema):
    """``uk_rep_sample`` (SPEC §4.2-§4.3)."""

    included_in_UK_REP: Series[bool]


class UsRepSampleSchema(_RepSampleSchema):
    """``us_rep_sample`` (SPEC §4.2-§4.3)."""

    included_in_US_REP: Series[bool]


class CensusWeightsSchema(pa.DataFrameModel):
    """``census_weights`` (SPEC §7.5, ``sampling/weights.py``): one row per UK/US pool participant."""

    user_id: Series[str] = pa.Field(unique=True, str_matches=r"^user\d+$", metadata=SENSITIVE)
    country: Series[str] = pa.Field(isin=COUNTRIES)
    age_band: Series[str] = pa.Field(isin=cb.AGE_BANDS)
    census_ethnicity: Series[str] = pa.Field(isin=cb.CENSUS_ETHNICITIES)
    sex: Series[str] = pa.Field(isin=cb.CENSUS_SEXES)
    weight: Series[float] = pa.Field(ge=0.0, nullable=True,
                                     description="Census share / pool share of the cell, mean 1 per country; "
                                                 "null without a census cell")

    class Config:
        strict = True
        coerce = False

    @row_rule("weight", "country",
              description="within each country the non-null weights sum to their count (mean 1)")
    def weights_mean_one(cls, df: pd.DataFrame) -> Series[bool]:
        by_country = df.groupby("country")["weight"]
        return (by_country.transform("sum") - by_country.transform("count")).abs() < 1e-9 * (1 + len(df))


_TEXT_ID_COLUMNS = {"user_id": r"^user\d+$", "conversation_id": r"^c\d+$", "interaction_id": r"^int\d+$",
                    "utterance_id": r"^ut\d+$"}


class TextInstancesSchema(pa.DataFrameModel):
    """``text_instances`` (SPEC §2.1): one row per text instance, in canonical order."""

    column_id: Series[str] = pa.Field(isin=cb.TEXT_COLUMN_IDS)
    user_id: Series[str] = pa.Field(str_matches=_TEXT_ID_COLUMNS["user_id"], metadata=SENSITIVE)
    conversation_id: Series[str] = pa.Field(str_matches=_TEXT_ID_COLUMNS["conversation_id"], nullable=True,
                                            metadata=SENSITIVE)
    interaction_id: Series[str] = pa.Field(str_matches=_TEXT_ID_COLUMNS["interaction_id"], nullable=True,
                                           metadata=SENSITIVE)
    utterance_id: Series[str] = pa.Field(str_matches=_TEXT_ID_COLUMNS["utterance_id"], nullable=True,
                                         metadata=SENSITIVE)
    text: Series[str] = pa.Field(nullable=True, metadata=SENSITIVE, description="The text as released")

    class Config:
        strict = True
        coerce = False

    @row_rule("column_id", "user_id", "conversation_id", "interaction_id", "utterance_id",
              description="each block carries exactly its ids (SPEC §2.1): user_id; + conversation_id "
                                    "from open_feedback; + interaction_id from user_prompt; + utterance_id for "
                                    "model_response")
    def ids_follow_block(cls, df: pd.DataFrame) -> Series[bool]:
        ids = list(_TEXT_ID_COLUMNS)
        carried = df["column_id"].map({block: ids.index(sort_id) + 1
                                       for block, (sort_id, _) in SORT_ID_OF_BLOCK.items()})
        expected = np.arange(len(ids)) < carried.to_numpy(dtype="float64")[:, None]
        return pd.Series((df[ids].notna().to_numpy() == expected).all(axis=1), index=df.index)


class PublishedModerationSchema(pa.DataFrameModel):
    """``published_moderation`` (SPEC §7.3, ``moderation/frozen.py``): the published
    ``moderation_flag`` per metadata.jsonl key. The asset is a frame without columns when there
    is no published file (the check passes on it)."""

    column_id: Series[str] = pa.Field(isin=cb.TEXT_COLUMN_IDS)
    user_id: Series[str] = pa.Field(str_matches=_TEXT_ID_COLUMNS["user_id"], metadata=SENSITIVE)
    conversation_id: Series[str] = pa.Field(str_matches=_TEXT_ID_COLUMNS["conversation_id"], nullable=True,
                                            metadata=SENSITIVE)
    interaction_id: Series[str] = pa.Field(str_matches=_TEXT_ID_COLUMNS["interaction_id"], nullable=True,
                                           metadata=SENSITIVE)
    utterance_id: Series[str] = pa.Field(str_matches=_TEXT_ID_COLUMNS["utterance_id"], nullable=True,
                                         metadata=SENSITIVE)
    moderation_flagged: Series[bool] = pa.Field(alias="moderation_flag.flagged")
    moderation_categories: Series[bool] = pa.Field(alias=_MODERATION_CATEGORIES, regex=True)
    moderation_scores: Series[float] = pa.Field(alias=_MODERATION_SCORES, regex=True, ge=0.0, le=1.0,
                                                description="As published (2 dp)")
    text_sha256: Series[str] = pa.Field(str_matches=_SHA256, nullable=True, required=False, metadata=SENSITIVE,
                                        description="Only when pinned to its texts (frozen.pin_frozen_to_texts)")

    class Config:
        strict = True
        coerce = False
        unique = ("column_id", "user_id", "conversation_id", "interaction_id", "utterance_id")


# The engine's tables for PRISM's text kinds and release files (core/schemas.py).
TextFlagsSchema = core_schemas.TextFlagsSchema
RemovalRequestsSchema = core_schemas.RemovalRequestsSchema
PiiManualReviewSchema = core_schemas.pii_manual_review_schema(cb.TEXT_KINDS)
PiiReviewEvidenceSchema = core_schemas.pii_review_evidence_schema(cb.TEXT_KINDS)
ErasureSchema = core_schemas.erasure_schema(cb.RELEASE_FILES)


def _is_permutation(positions: pd.DataFrame) -> pd.Series:
    """True per row when the non-null positions are exactly 1..k (or the row is all null)."""
    values = positions.to_numpy(dtype="float64", na_value=float("nan"))
    k = values.shape[1]
    expected = list(range(1, k + 1))
    all_null = pd.isna(values).all(axis=1)
    ordered = np.sort(values, axis=1)
    ok = (ordered == np.array(expected, dtype="float64")).all(axis=1)
    return pd.Series(ok | all_null, index=positions.index)
