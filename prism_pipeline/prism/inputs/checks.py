"""Checks on the input assets: codebook schemas (blocking) and cross-table rules (blocking).

Blocking ERROR checks stop every downstream step, so no release file is written from an input
that breaks the codebook; the previous release stays as it was.
"""


import dagster as dg
import pandas as pd

from prism_pipeline.core.validation import violations_result
from prism_pipeline.prism.inputs import integrity


@dg.asset_check(asset="conversations_input", blocking=True, additional_ins={"survey_input": dg.AssetIn()},
                description="Every conversation's user is a survey participant.")
def conversation_users_in_survey(conversations_input: pd.DataFrame, survey_input: pd.DataFrame):
    return violations_result(integrity.conversation_users_in_survey(conversations_input, survey_input))


# Both cross-file checks hang on conversations_input: two blocking checks on different assets,
# each reading the other asset, would make each wait for the other (a cycle).
@dg.asset_check(asset="conversations_input", blocking=True, additional_ins={"survey_input": dg.AssetIn()},
                description="survey_only ⇔ no conversations ⇔ num_completed_conversations == 0, and the "
                            "count equals the participant's conversations.")
def survey_only_consistent(conversations_input: pd.DataFrame, survey_input: pd.DataFrame):
    return violations_result(integrity.survey_only_consistency(survey_input, conversations_input))


@dg.asset_check(asset="conversation_history", blocking=True,
                additional_ins={"conversations_input": dg.AssetIn()},
                description="Each turn opens with one user item; turns run 0..max; conversation_turns = max "
                            "turn + 1; opening_prompt = turn-0 user content; within_turn_ids distinct per turn.")
def conversation_structure(conversation_history: pd.DataFrame, conversations_input: pd.DataFrame):
    return violations_result(integrity.history_structure(conversations_input, conversation_history))


@dg.asset_check(asset="conversation_history",
                description="Turn 0 has 2-4 model responses and later turns exactly 2 (SPEC §1.4). A warning: the "
                            "real release has four conversations with one turn-0 response (see "
                            "integrity.responses_per_turn).")
def responses_per_turn(conversation_history: pd.DataFrame):
    return violations_result(integrity.responses_per_turn(conversation_history),
                             severity=dg.AssetCheckSeverity.WARN)


