"""The utterance and wide interaction tables (SPEC §1.5, §5) as assets."""

import sys

import dagster as dg
import pandas as pd

from prism_pipeline.core.hashing import code_version
from prism_pipeline.core.validation import table_schema
from prism_pipeline.prism import schemas
from prism_pipeline.prism.conversation_tables import derive, ids
from prism_pipeline.prism.conversation_tables.derive import derive_interactions, derive_utterances

GROUP = "conversation_tables"
OWNERS = ["team:prism-data"]


VERSION = code_version(sys.modules[__name__], derive, ids)  # the rules: a change marks these unsynced

@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"pandas"},
    code_version=VERSION,
    description="One row per scored model response (codebook §Utterances, SPEC §1.5): `ut{k}` in file order, "
                "`int{g}` over the lexicographic (conversation_id string, turn) order.",
    metadata={"dagster/column_schema": table_schema(schemas.UtterancesSchema)},
)
def utterances(conversations_input: pd.DataFrame, conversation_history: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    table = derive_utterances(conversations_input, conversation_history)
    return dg.Output(table, metadata={"dagster/row_count": len(table),
                                      "interactions": int(table["interaction_id"].nunique())})


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"pandas"},
    code_version=VERSION,
    description="Wide interactions table (SPEC §5, the reference's pivot_to_wide_format): one row per "
                "(conversation, turn) with responses a-d, plus n_responses and n_chosen.",
    metadata={"dagster/column_schema": table_schema(schemas.InteractionsSchema)},
)
def interactions(utterances: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    table = derive_interactions(utterances)
    return dg.Output(table, metadata={"dagster/row_count": len(table),
                                      "not_exactly_one_chosen": int((table["n_chosen"] != 1).sum())})
