"""Every row rule of ``schemas.py`` fails on a bad row, and its failure names the file, line
and exactly the columns that rule reads, once per row (``validation._failure_lines``)."""

from __future__ import annotations

import pandera.pandas as pa
import pytest

from prism_pipeline.core.validation import row_rule_columns, schema_check_result
from prism_pipeline.prism import schemas
from prism_pipeline.prism.inputs.parse import history_locator


def _set(row: int, **values):
    """Mutation: set columns (``__`` in a name stands for ``.``) on the row at position ``row``."""
    def mutate(frame):
        for column, value in values.items():
            frame.iloc[row, frame.columns.get_loc(column.replace("__", "."))] = value
        return frame
    return mutate


def _swap_order(row: int, parent: str):
    """Mutation: make two positions of a permutation equal."""
    def mutate(frame):
        columns = [c for c in frame.columns if c.startswith(parent + ".") and not c.endswith(".other")]
        frame.iloc[row, frame.columns.get_loc(columns[0])] = frame.iloc[row][columns[1]]
        return frame
    return mutate


def _one_row(**values):
    """Mutation: keep the first row only (a per-country rule then fails on that row alone)."""
    def mutate(frame):
        return _set(0, **values)(frame.iloc[:1].copy())
    return mutate


def _first_model_row(frame):
    return int((frame["role"] == "model").to_numpy().argmax())


def _model_item(**values):
    def mutate(frame):
        return _set(_first_model_row(frame), **values)(frame)
    return mutate


def _text_row(block: str, **values):
    def mutate(frame):
        return _set(int((frame["column_id"] == block).to_numpy().argmax()), **values)(frame)
    return mutate


def _hide_usecases(row: int):
    def mutate(frame):
        for column in [c for c in frame.columns if c.startswith("lm_usecases.") and c != "lm_usecases.other_text"]:
            frame[column] = frame[column].astype("Int64")
            frame.iloc[row, frame.columns.get_loc(column)] = None
        return frame
    return mutate


# rule -> (model, asset, where, mutation, locator or None, expected description)
CASES = {
    "religion_simplified_consistent": (
        schemas.SurveySchema, "survey_input", "survey.jsonl", _set(0, religion__simplified="Muslim"), None,
        "survey.jsonl line 1, fields 'religion.categorised', 'religion.simplified': fails row rule "
        "religion_simplified_consistent (values religion.categorised='Non-religious', religion.simplified='Muslim')"),
    "ethnicity_simplified_consistent": (
        schemas.SurveySchema, "survey_input", "survey.jsonl", _set(1, ethnicity__simplified="Asian"), None,
        "survey.jsonl line 2, fields 'ethnicity.categorised', 'ethnicity.simplified': fails row rule "
        "ethnicity_simplified_consistent (values ethnicity.categorised='White', ethnicity.simplified='Asian')"),
    "usecases_shown_consistently": (
        schemas.SurveySchema, "survey_input", "survey.jsonl", _hide_usecases(2), None,
        "survey.jsonl line 3, fields 'lm_usecases.*', 'order_lm_usecases.*': fails row rule "
        "usecases_shown_consistently"),
    "usecase_order_is_permutation": (
        schemas.SurveySchema, "survey_input", "survey.jsonl", _swap_order(3, "order_lm_usecases"), None,
        "survey.jsonl line 4, fields 'order_lm_usecases.*': fails row rule usecase_order_is_permutation"),
    "stated_pref_order_is_permutation": (
        schemas.SurveySchema, "survey_input", "survey.jsonl", _swap_order(4, "order_stated_prefs"), None,
        "survey.jsonl line 5, fields 'order_stated_prefs.*': fails row rule stated_pref_order_is_permutation"),
    "survey_minutes_follow_seconds": (
        schemas.SurveySchema, "survey_input", "survey.jsonl", _set(5, timing_duration_mins=999.0), None,
        "survey.jsonl line 6, fields 'timing_duration_s', 'timing_duration_mins': fails row rule "
        "survey_minutes_follow_seconds (values timing_duration_s=600.0, timing_duration_mins=999.0)"),
    "conversation_minutes_follow_seconds": (
        schemas.ConversationsSchema, "conversations_input", "conversations.jsonl",
        _set(2, timing_duration_mins=999.0), None,
        "conversations.jsonl line 3, fields 'timing_duration_s', 'timing_duration_mins': fails row rule "
        "conversation_minutes_follow_seconds (values timing_duration_s=300.0, timing_duration_mins=999.0)"),
    "model_fields_iff_model_role": (
        schemas.ConversationHistorySchema, "conversation_history", "conversations.jsonl",
        _model_item(score=None), history_locator,
        "conversations.jsonl line 1, fields 'conversation_history[1].role', "
        "'conversation_history[1].model_provider', 'conversation_history[1].model_name', "
        "'conversation_history[1].score', 'conversation_history[1].if_chosen', "
        "'conversation_history[1].within_turn_id': fails row rule model_fields_iff_model_role (values role='model', "
        "model_provider='openai', model_name='gpt-4', if_chosen=False, within_turn_id=0)"),
    "provider_matches_model": (
        schemas.ConversationHistorySchema, "conversation_history", "conversations.jsonl",
        _model_item(model_provider="aleph"), history_locator,
        "conversations.jsonl line 1, fields 'conversation_history[1].model_provider', "
        "'conversation_history[1].model_name': fails row rule provider_matches_model (values model_provider='aleph', "
        "model_name='gpt-4')"),
    "en_flag_consistent": (
        schemas.MetadataSchema, "metadata_table", "metadata", _text_row("user_prompt", en_flag=False), None,
        "metadata line 29, fields 'en_flag', 'language_flag': fails row rule en_flag_consistent (values "
        "en_flag=False, language_flag='en')"),
    "manual_flag_only_on_reviewed_human_hits": (
        schemas.MetadataSchema, "metadata_table", "metadata", _text_row("model_response", pii_manual_flag=True), None,
        "metadata line 79, fields 'pii_manual_flag', 'column_id', 'pii_flag': fails row rule "
        "manual_flag_only_on_reviewed_human_hits (values pii_manual_flag=True, column_id='model_response', "
        "pii_flag=False)"),
    "share_follows_population": (
        schemas.CensusCellsSchema, "census_cells", "census_cells", _set(3, share_of_adults=0.5), None,
        "census_cells line 3, fields 'share_of_adults', 'population', 'country': fails row rule "
        "share_follows_population (values share_of_adults=0.5, population=132485, country='UK')"),
    "weights_mean_one": (
        schemas.CensusWeightsSchema, "census_weights", "census_weights", _one_row(weight=50.0), None,
        "census_weights line 0, fields 'weight', 'country': fails row rule weights_mean_one (values weight=50.0, "
        "country='UK')"),
    "ids_follow_block": (
        schemas.TextInstancesSchema, "text_instances", "text_instances",
        _text_row("system_string", conversation_id="c0"), None,
        "text_instances line 0, fields 'column_id', 'user_id', 'conversation_id', 'interaction_id', 'utterance_id': "
        "fails row rule ids_follow_block (values column_id='system_string')"),
    "null_text_has_no_flags": (
        schemas.TextFlagsSchema, "text_flags", "text_flags", _set(0, text_sha256=None, pii_flag=True), None,
        "text_flags line 0, fields 'text_sha256', 'language_flag', 'pii_flag': fails row rule null_text_has_no_flags "
        "(values language_flag='en', pii_flag=True)"),
}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_row_rule_failure_names_only_its_columns(tiny_release, rule):
    model, asset, where, mutate, locate, expected = CASES[rule]
    frame = mutate(tiny_release.table(asset))
    result = schema_check_result(model, frame, where, **({"locate": locate} if locate else {}))
    assert not result.passed
    assert result.description == expected
    assert result.metadata["failures"].value == 1


def test_every_row_rule_has_a_case():
    models = [m for m in vars(schemas).values()
              if isinstance(m, type) and issubclass(m, pa.DataFrameModel) and m is not pa.DataFrameModel]
    rules = {name for m in models for name in row_rule_columns(m)}
    assert rules == set(CASES)
