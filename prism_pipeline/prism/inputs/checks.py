"""Cross-file checks on the inputs that read two assets (blocking): every conversation's user is
in the survey, and the survey's conversation counts agree with the conversations.

Blocking ERROR checks stop every downstream step, so no release file is written from an input
that breaks the codebook; the previous release stays as it was. The schema checks and the rules
within conversations.jsonl run in the steps that read the files (``assets.py``).
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
