"""The utterance and wide interaction tables (SPEC §1.5, §5) as assets."""

import sys

import dagster as dg
import pandas as pd

from prism_pipeline.core.hashing import code_version
from prism_pipeline.core.validation import SchemaCheck
from prism_pipeline.prism import schemas
from prism_pipeline.prism.conversation_tables import derive, ids
from prism_pipeline.prism.conversation_tables.checks import one_chosen_response
from prism_pipeline.prism.conversation_tables.derive import derive_interactions, derive_utterances
from prism_pipeline.prism.dataset import DATASET

GROUP = "conversation_tables"
OWNERS = list(DATASET.owners)
UTTERANCES_CHECK = SchemaCheck("utterances", schemas.UtterancesSchema, "utterances", blocking=True)
INTERACTIONS_CHECK = SchemaCheck("interactions", schemas.InteractionsSchema, "interactions", blocking=True)


VERSION = code_version(sys.modules[__name__], derive, ids)  # the rules: a change marks these unsynced

@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"pandas"},
    code_version=VERSION,
    check_specs=[UTTERANCES_CHECK.spec()],
    description="One row per scored model response (codebook §Utterances, SPEC §1.5): `ut{k}` in file order, "
                "`int{g}` over the lexicographic (conversation_id string, turn) order.",
    metadata={"dagster/column_schema": UTTERANCES_CHECK.column_schema()},
)
def utterances(conversations_input: pd.DataFrame, conversation_history: pd.DataFrame):
    table = derive_utterances(conversations_input, conversation_history)
    yield dg.Output(table, metadata={"dagster/row_count": len(table),
                                     "interactions": int(table["interaction_id"].nunique())})
    yield UTTERANCES_CHECK.result(table)


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"pandas"},
    code_version=VERSION,
    check_specs=[INTERACTIONS_CHECK.spec(), dg.AssetCheckSpec(
        "one_chosen_response", asset="interactions",
        description="Interactions whose number of chosen responses is not 1 (SPEC §5: later turns use text "
                    "equality, so identical A/B texts are both chosen; 265 on real PRISM). A warning, not an error.")],
    description="Wide interactions table (SPEC §5, the reference's pivot_to_wide_format): one row per "
                "(conversation, turn) with responses a-d, plus n_responses and n_chosen.",
    metadata={"dagster/column_schema": INTERACTIONS_CHECK.column_schema()},
)
def interactions(utterances: pd.DataFrame):
    table = derive_interactions(utterances)
    yield dg.Output(table, metadata={"dagster/row_count": len(table),
                                     "not_exactly_one_chosen": int((table["n_chosen"] != 1).sum())})
    yield INTERACTIONS_CHECK.result(table)
    yield one_chosen_response(table)
