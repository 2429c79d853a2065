"""codebook.py against the machine-readable codebook (data/reference/codebook_entries.json)."""

import json

import pytest

from prism_pipeline.prism import codebook as cb
from prism_pipeline.prism.dataset import DATASET

ENTRIES = json.loads((DATASET.default_dirs["reference"] / "codebook_entries.json").read_text())
BY_NAME = {(e["_table"], e["variable_name"]): e for e in ENTRIES}


@pytest.mark.parametrize("name, values", [
    ("lm_familiarity", cb.LM_FAMILIARITY),
    ("lm_direct_use", cb.YES_NO_UNSURE),
    ("lm_indirect_use", cb.YES_NO_UNSURE),
    ("age", cb.AGE),
    ("gender", cb.GENDER),
    ("employment_status", cb.EMPLOYMENT_STATUS),
    ("education", cb.EDUCATION),
    ("marital_status", cb.MARITAL_STATUS),
    ("english_proficiency", cb.ENGLISH_PROFICIENCY),
    ("religion_categorised", cb.RELIGION_CATEGORISED),
    ("religion_simplified", cb.RELIGION_SIMPLIFIED),
    ("ethnicity_categorised", cb.ETHNICITY_CATEGORISED),
    ("ethnicity_simplified", cb.ETHNICITY_SIMPLIFIED),
    ("location_same_birth_reside_country", cb.SAME_BIRTH_RESIDE),
    ("location_special_region", cb.SPECIAL_REGION),
])
def test_survey_categories_equal_the_codebook(name, values):
    assert set(BY_NAME[("Survey", name)]["values"]) == set(values)


def test_frequency_use_categories_and_nulls():
    values = BY_NAME[("Survey", "lm_frequency_use")]["values"]
    assert set(values) - {"None"} == set(cb.LM_FREQUENCY_USE)
    assert values["None"] == 247


def test_conversation_and_model_categories():
    assert set(BY_NAME[("Conversations", "conversation_type")]["values"]) == set(cb.CONVERSATION_TYPES)
    assert set(BY_NAME[("Utterances", "model_name")]["values"]) == set(cb.MODEL_NAMES)
    assert set(BY_NAME[("Utterances", "model_provider")]["values"]) == set(cb.MODEL_PROVIDERS)
    assert set(BY_NAME[("MetaData", "column_id")]["values"]) == set(cb.TEXT_COLUMN_IDS)


def test_nested_keys_equal_the_codebook():
    def nested(name):
        return [v["variable_name"] for v in BY_NAME[("Survey", name)]["values"]["nested_values"]]

    # The codebook prints "fiNonecial_guidance" (a find-and-replace accident of "na" -> "None").
    assert [k.replace("fiNonecial", "financial") for k in nested("lm_usecases")] == list(cb.LM_USECASES_KEYS)
    assert nested("stated_prefs") == list(cb.STATED_PREFS_KEYS)
    for name in ("performance_attributes", "choice_attributes"):
        entry = BY_NAME[("Conversations", name)]
        assert [v["variable_name"] for v in entry["values"]["nested_values"]] == list(cb.ATTRIBUTE_KEYS)


def test_simplified_maps_cover_every_category():
    assert set(cb.RELIGION_SIMPLIFIED_OF) == set(cb.RELIGION_CATEGORISED)
    assert set(cb.RELIGION_SIMPLIFIED_OF.values()) == set(cb.RELIGION_SIMPLIFIED)
    assert set(cb.ETHNICITY_SIMPLIFIED_OF) == set(cb.ETHNICITY_CATEGORISED)
    assert set(cb.ETHNICITY_SIMPLIFIED_OF.values()) == set(cb.ETHNICITY_SIMPLIFIED)
    assert set(cb.CENSUS_ETHNICITY_OF) == set(cb.ETHNICITY_CATEGORISED) - {"Prefer not to say"}
