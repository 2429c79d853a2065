"""The participant table (``tables/derive.py``), validated in the step that builds it."""

import sys

import dagster as dg
import pandas as pd

from prism_pipeline.core.hashing import code_version
from prism_pipeline.core.validation import SchemaCheck
from prism_pipeline.thoughttrace import schemas
from prism_pipeline.thoughttrace.dataset import DATASET
from prism_pipeline.thoughttrace.tables import derive

PREFIX = list(DATASET.key_prefix)
VERSION = code_version(sys.modules[__name__], derive)
USERS_CHECK = SchemaCheck("users", schemas.UsersSchema, "users", blocking=True, key_prefix=DATASET.key_prefix)


@dg.asset(
    key_prefix=PREFIX, group_name="tables", owners=list(DATASET.owners), kinds={"pandas"}, code_version=VERSION,
    ins={name: dg.AssetIn(key_prefix=PREFIX) for name in ("conversations", "survey_answers")},
    check_specs=[USERS_CHECK.spec()],
    description="users.jsonl as a table: one row per participant (order of first appearance), user_id, their "
                "survey answers (null when none of their conversations has any), num_conversations.",
    metadata={"dagster/column_schema": USERS_CHECK.column_schema()},
)
def users(conversations: pd.DataFrame, survey_answers: pd.DataFrame):
    table = derive.users_table(conversations, survey_answers)
    yield from USERS_CHECK.emit(dg.Output(table, metadata={
        "dagster/row_count": len(table), "without_survey_answers": int(table["age"].isna().sum())}))
