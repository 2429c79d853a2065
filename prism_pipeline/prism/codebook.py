"""The PRISM codebook as constants: column orders, nested keys and category sets.

Implements SPEC §1.3–§1.6 (released files) and §5 (derived columns). Every value here is a
fact of the published release; ``prism_pipeline_tests/test_codebook.py`` checks these sets
against ``data/reference/codebook_entries.json`` so a typo here cannot pass silently.

No Dagster import: this module is shared by the schemas, the generator and the writers.
"""

from __future__ import annotations

from prism_pipeline.core.flags.moderation.base import MODERATION_CATEGORIES as _MODERATION_CATEGORIES
from prism_pipeline.core.normalise import EMPTY_STRING as _EMPTY_STRING
from prism_pipeline.prism import dataset as _dataset

# ---------------------------------------------------------------------------------------
# Survey (SPEC §1.3)
# ---------------------------------------------------------------------------------------
SURVEY_COLUMNS: tuple[str, ...] = (
    "user_id",
    "survey_only",
    "num_completed_conversations",
    "consent",
    "consent_age",
    "lm_familiarity",
    "lm_indirect_use",
    "lm_direct_use",
    "lm_frequency_use",
    "self_description",
    "system_string",
    "age",
    "gender",
    "employment_status",
    "education",
    "marital_status",
    "english_proficiency",
    "study_id",
    "study_locale",
    "religion",
    "ethnicity",
    "location",
    "lm_usecases",
    "stated_prefs",
    "order_lm_usecases",
    "order_stated_prefs",
    "generated_datetime",
    "timing_duration_s",
    "timing_duration_mins",
    "included_in_US_REP",
    "included_in_UK_REP",
    "included_in_balanced_subset",
)

CONSENT = "Yes, I consent to take part"
CONSENT_AGE = "I certify that I am 18 years of age or over"

LM_FAMILIARITY = ("Somewhat familiar", "Very familiar", "Not familiar at all")
YES_NO_UNSURE = ("Yes", "No", "Unsure")
# "Less than one a year" is the published typo, kept (SPEC §1.3).
LM_FREQUENCY_USE = (
    "Once per month",
    "Every week",
    "More than once a month",
    "Less than one a year",
    "Every day",
)
AGE = (
    "18-24 years old",
    "25-34 years old",
    "35-44 years old",
    "45-54 years old",
    "55-64 years old",
    "65+ years old",
    "Prefer not to say",
)
GENDER = ("Male", "Female", "Non-binary / third gender", "Prefer not to say")
EMPLOYMENT_STATUS = (
    "Working full-time",
    "Working part-time",
    "Student",
    "Unemployed, seeking work",
    "Retired",
    "Homemaker / Stay-at-home parent",
    "Unemployed, not seeking work",
    "Prefer not to say",
)
EDUCATION = (
    "University Bachelors Degree",
    "Graduate / Professional degree",
    "Some University but no degree",
    "Completed Secondary School",
    "Vocational",
    "Some Secondary",
    "Completed Primary School",
    "Prefer not to say",
    "Some Primary",
)
MARITAL_STATUS = (
    "Never been married",
    "Married",
    "Divorced / Separated",
    "Prefer not to say",
    "Widowed",
)
ENGLISH_PROFICIENCY = ("Native speaker", "Fluent", "Advanced", "Intermediate", "Basic")

IDENTITY_KEYS = ("self_described", "categorised", "simplified")
RELIGION_CATEGORISED = (
    "Non-religious",
    "Christian",
    "Agnostic",
    "Prefer not to say",
    "Jewish",
    "Muslim",
    "Spiritual",
    "Buddhist",
    "Folk religion",
    "Hindu",
    "Other",
    "Sikh",
)
# categorised -> simplified (SPEC §5, "Simplified mappings")
RELIGION_SIMPLIFIED_OF = {
    "Christian": "Christian",
    "Non-religious": "No Affiliation",
    "Agnostic": "No Affiliation",
    "Spiritual": "No Affiliation",
    "Jewish": "Jewish",
    "Muslim": "Muslim",
    "Hindu": "Other",
    "Sikh": "Other",
    "Buddhist": "Other",
    "Folk religion": "Other",
    "Other": "Other",
    "Prefer not to say": "Prefer not to say",
}
RELIGION_SIMPLIFIED = ("No Affiliation", "Christian", "Prefer not to say", "Jewish", "Muslim", "Other")
ETHNICITY_CATEGORISED = (
    "White",
    "Black / African",
    "Hispanic / Latino",
    "Asian",
    "Prefer not to say",
    "Mixed",
    "Other",
    "Middle Eastern / Arab",
    "Indigenous / First Peoples",
)
ETHNICITY_SIMPLIFIED_OF = {
    "White": "White",
    "Black / African": "Black",
    "Hispanic / Latino": "Hispanic",
    "Asian": "Asian",
    "Mixed": "Mixed",
    "Other": "Other",
    "Middle Eastern / Arab": "Other",
    "Indigenous / First Peoples": "Other",
    "Prefer not to say": "Prefer not to say",
}
ETHNICITY_SIMPLIFIED = ("White", "Black", "Hispanic", "Asian", "Prefer not to say", "Mixed", "Other")

# Code order of the 10 location keys (SPEC §1.3; the codebook documents only 8).
LOCATION_KEYS = (
    "birth_country",
    "birth_countryISO",
    "birth_region",
    "birth_subregion",
    "reside_country",
    "reside_region",
    "reside_subregion",
    "reside_countryISO",
    "same_birth_reside_country",
    "special_region",
)
SAME_BIRTH_RESIDE = ("Yes", "No", "Prefer not to say")
SPECIAL_REGION = (
    "US",
    "Europe",
    "UK",
    "Latin America and the Caribbean",
    "Australia and New Zealand",
    "Africa",
    "Asia",
    "Northern America",
    "Middle East",
    "Prefer not to say",
    "Oceania",
)
UN_REGIONS = ("Africa", "Americas", "Asia", "Europe", "Oceania", "Prefer not to say")

# Use cases in mapping order (header_usecases_mapping.csv), then other / other_text.
USECASE_KEYS = (
    "homework_assistance",
    "research",
    "source_suggestions",
    "professional_work",
    "creative_writing",
    "casual_conversation",
    "personal_recommendations",
    "daily_productivity",
    "technical_or_programming_help",
    "travel_guidance",
    "lifestyle_and_hobbies",
    "well-being_guidance",
    "medical_guidance",
    "financial_guidance",
    "games",
    "historical_or_news_insight",
    "relationship_advice",
    "language_learning",
)
LM_USECASES_KEYS = USECASE_KEYS + ("other", "other_text")
ORDER_LM_USECASES_KEYS = USECASE_KEYS + ("other",)  # no other_text key (SPEC §1.3)

# Stated preferences in codebook order.
STATED_PREF_KEYS = (
    "values",
    "creativity",
    "fluency",
    "factuality",
    "diversity",
    "safety",
    "personalisation",
    "helpfulness",
)
STATED_PREFS_KEYS = STATED_PREF_KEYS + ("other", "other_text")
ORDER_STATED_PREFS_KEYS = STATED_PREF_KEYS + ("other",)

SURVEY_NESTED: dict[str, tuple[str, ...]] = {
    "religion": IDENTITY_KEYS,
    "ethnicity": IDENTITY_KEYS,
    "location": LOCATION_KEYS,
    "lm_usecases": LM_USECASES_KEYS,
    "stated_prefs": STATED_PREFS_KEYS,
    "order_lm_usecases": ORDER_LM_USECASES_KEYS,
    "order_stated_prefs": ORDER_STATED_PREFS_KEYS,
}

# ---------------------------------------------------------------------------------------
# Conversations (SPEC §1.4)
# ---------------------------------------------------------------------------------------
CONVERSATION_COLUMNS: tuple[str, ...] = (
    "conversation_id",
    "user_id",
    "conversation_type",
    "opening_prompt",
    "conversation_turns",
    "conversation_history",
    "performance_attributes",
    "choice_attributes",
    "open_feedback",
    "generated_datetime",
    "timing_duration_s",
    "timing_duration_mins",
    "included_in_balanced_subset",
)
CONVERSATION_TYPES = ("unguided", "values guided", "controversy guided")
# Attribute keys in release order; personalisation is not asked in conversations.
ATTRIBUTE_KEYS = ("values", "fluency", "factuality", "safety", "diversity", "creativity", "helpfulness")
CONVERSATION_NESTED: dict[str, tuple[str, ...]] = {
    "performance_attributes": ATTRIBUTE_KEYS,
    "choice_attributes": ATTRIBUTE_KEYS,
}
HISTORY_USER_KEYS = ("turn", "role", "content")
HISTORY_MODEL_KEYS = (
    "turn",
    "role",
    "content",
    "model_provider",
    "model_name",
    "score",
    "if_chosen",
    "within_turn_id",
)
ROLES = ("user", "model")
EMPTY_STRING = _EMPTY_STRING  # sentinel for empty prompts/responses (SPEC §1.2, core/normalise.py)
# The four files of a release, in the order they are written and listed (SPEC §1).
RELEASE_FILES = _dataset.RELEASE_FILES
# The two census-rebalanced samples: included_in_UK_REP, included_in_US_REP (SPEC §4).
REP_COUNTRIES = ("UK", "US")
# The metadata blocks' sort id and its prefix (SPEC §2.1): a block is ordered by that id's number.
SORT_ID_OF_BLOCK = {
    "system_string": ("user_id", "user"),
    "self_description": ("user_id", "user"),
    "open_feedback": ("conversation_id", "c"),
    "user_prompt": ("interaction_id", "int"),
    "model_response": ("utterance_id", "ut"),
}

MODEL_PROVIDERS = ("huggingface_api", "cohere", "anthropic", "openai", "google", "aleph")
# model_name -> model_provider, the 21 models of SPEC §1.5.
MODEL_PROVIDER_OF = {
    "command": "cohere",
    "command-light": "cohere",
    "command-nightly": "cohere",
    "claude-instant-1": "anthropic",
    "claude-2": "anthropic",
    "claude-2.1": "anthropic",
    "models/chat-bison-001": "google",
    "gpt-4-1106-preview": "openai",
    "gpt-4": "openai",
    "gpt-3.5-turbo": "openai",
    "HuggingFaceH4/zephyr-7b-beta": "huggingface_api",
    "meta-llama/Llama-2-7b-chat-hf": "huggingface_api",
    "meta-llama/Llama-2-13b-chat-hf": "huggingface_api",
    "meta-llama/Llama-2-70b-chat-hf": "huggingface_api",
    "timdettmers/guanaco-33b-merged": "huggingface_api",
    "mistralai/Mistral-7B-Instruct-v0.1": "huggingface_api",
    "tiiuae/falcon-7b-instruct": "huggingface_api",
    "OpenAssistant/oasst-sft-4-pythia-12b-epoch-3.5": "huggingface_api",
    "google/flan-t5-xxl": "huggingface_api",
    "luminous-supreme-control": "aleph",
    "luminous-extended-control": "aleph",
}
MODEL_NAMES = tuple(MODEL_PROVIDER_OF)

# ---------------------------------------------------------------------------------------
# Utterances (SPEC §1.5) and the wide interactions table (SPEC §5)
# ---------------------------------------------------------------------------------------
UTTERANCE_COLUMNS: tuple[str, ...] = (
    "utterance_id",
    "interaction_id",
    "conversation_id",
    "user_id",
    "turn",
    "within_turn_id",
    "conversation_type",
    "user_prompt",
    "model_response",
    "model_name",
    "model_provider",
    "score",
    "if_chosen",
    "included_in_balanced_subset",
)
INTERACTION_SUFFIXES = ("a", "b", "c", "d")

# ---------------------------------------------------------------------------------------
# Metadata (SPEC §1.6, §2)
# ---------------------------------------------------------------------------------------
METADATA_COLUMNS: tuple[str, ...] = (
    "column_id",
    "user_id",
    "conversation_id",
    "interaction_id",
    "utterance_id",
    "pii_flag",
    "pii_manual_flag",
    "language_flag",
    "en_flag",
    "moderation_flag",
)
# Canonical block order of text instances (SPEC §2.1).
TEXT_KINDS = _dataset.TEXT_KINDS  # the blocks as the engine sees them (prism/dataset.py)
TEXT_COLUMN_IDS = TEXT_KINDS.all
HUMAN_TEXT_COLUMN_IDS = TEXT_KINDS.human
MODERATION_CATEGORIES = _MODERATION_CATEGORIES  # the published moderation_flag's (core/flags/moderation)

# ---------------------------------------------------------------------------------------
# Census sampling (SPEC §4)
# ---------------------------------------------------------------------------------------
AGE_BANDS = AGE[:-1]
CENSUS_ETHNICITIES = ("Asian", "Black", "Mixed", "Other", "White")
CENSUS_SEXES = ("Female", "Male")
# ethnicity.categorised -> census ethnicity; "Prefer not to say" is deliberately unmapped (SPEC §4.2).
CENSUS_ETHNICITY_OF = {
    "White": "White",
    "Black / African": "Black",
    "Asian": "Asian",
    "Mixed": "Mixed",
    "Hispanic / Latino": "Other",
    "Middle Eastern / Arab": "Other",
    "Indigenous / First Peoples": "Other",
    "Other": "Other",
}
