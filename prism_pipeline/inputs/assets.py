"""Input assets: the published PRISM files, read and typed (SPEC §1.3–§1.5).

Thin wrappers around ``inputs.parse``: a bad line fails the step with the reader's message
(file, line, field, value where it is not free text or an id). Materialisation metadata
records row counts and the input file's sha256, never participant data.
"""

import dagster as dg
import pandas as pd

from prism_pipeline import schemas
from prism_pipeline.inputs import parse
from prism_pipeline.release.writer import sha256_file
from prism_pipeline.resources import PrismPaths
from prism_pipeline.validation import table_schema

GROUP = "inputs"
OWNERS = ["team:prism-data"]


def _read(fn, path, *args):
    try:
        return fn(path, *args)
    except parse.InputError as err:
        raise dg.Failure(description=str(err), metadata={"file": err.file, "line": err.line or 0,
                                                          "field": err.field or ""}) from None


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"pandas", "jsonl"},
    code_version="1",
    description="survey.jsonl (codebook §Survey, SPEC §1.3): one row per participant, nested objects "
                "flattened to `parent.key` columns, indexed by source line. Published `included_in_*` "
                "flags are kept only for comparison; they are recomputed downstream.",
    metadata={"dagster/column_schema": table_schema(schemas.SurveySchema)},
)
def survey_input(prism_paths: PrismPaths) -> dg.Output[pd.DataFrame]:
    path = prism_paths.raw / parse.SURVEY.file_name
    survey = _read(parse.read_survey, path)
    return dg.Output(survey, metadata={"dagster/row_count": len(survey), "input_sha256": sha256_file(path)})


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "conversations_input": dg.AssetOut(
            owners=OWNERS, kinds={"pandas", "jsonl"}, code_version="1",
            description="conversations.jsonl (codebook §Conversations, SPEC §1.4) without its history: one row "
                        "per conversation, attributes flattened, indexed by source line.",
            metadata={"dagster/column_schema": table_schema(schemas.ConversationsSchema)},
        ),
        "conversation_history": dg.AssetOut(
            owners=OWNERS, kinds={"pandas"}, code_version="1",
            description="The `conversation_history` items of conversations.jsonl (SPEC §1.4), one row per item, "
                        "indexed by (source line, item position).",
            metadata={"dagster/column_schema": table_schema(schemas.ConversationHistorySchema)},
        ),
    },
)
def conversations_input(prism_paths: PrismPaths):
    path = prism_paths.raw / parse.CONVERSATIONS.file_name
    conversations, history = _read(parse.read_conversations, path)
    digest = sha256_file(path)
    yield dg.Output(conversations, output_name="conversations_input",
                    metadata={"dagster/row_count": len(conversations), "input_sha256": digest})
    yield dg.Output(history, output_name="conversation_history",
                    metadata={"dagster/row_count": len(history), "input_sha256": digest})


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"pandas", "jsonl"},
    code_version="1",
    description="A published utterances.jsonl (SPEC §1.5) when the raw dir holds one, else an empty frame; "
                "only used to compare against the derived `utterances` table.",
)
def utterances_input(prism_paths: PrismPaths) -> dg.Output[pd.DataFrame]:
    path = prism_paths.raw / parse.UTTERANCES.file_name
    if not path.exists():
        return dg.Output(pd.DataFrame(), metadata={"present": False, "dagster/row_count": 0})
    frame = _read(parse.read_utterances, path)
    return dg.Output(frame, metadata={"present": True, "dagster/row_count": len(frame),
                                      "input_sha256": sha256_file(path)})
