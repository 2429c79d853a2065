"""Input assets: ``ThoughtTrace.jsonl`` read once into its four tables (``inputs/parse.py``).

A line the reader rejects fails the step with its message (file, line, field, and the value
unless it is free text or an id). Each table is validated against its model in this step
(blocking: a failure stops everything downstream, so the previous release stays), after the
requested participants are dropped and the message texts normalised. Materialisation metadata
records counts and the file's sha256, never participant data.
"""

import sys

import dagster as dg
import pandas as pd

from prism_pipeline.core.hashing import code_version, sha256_file
from prism_pipeline.core.removal import requests
from prism_pipeline.core.removal.requests import removed_users
from prism_pipeline.core.resources import DatasetPaths, InputSettings
from prism_pipeline.core.validation import SchemaCheck
from prism_pipeline.thoughttrace import layout, schemas
from prism_pipeline.thoughttrace.dataset import DATASET
from prism_pipeline.thoughttrace.inputs import normalise, parse

GROUP = "inputs"
OWNERS = list(DATASET.owners)
PREFIX = list(DATASET.key_prefix)
VERSION = code_version(sys.modules[__name__], parse, normalise, requests, schemas)
FILE = layout.RAW_FILE


def _check(asset: str, model, locate) -> SchemaCheck:
    return SchemaCheck(asset, model, FILE, blocking=True, locate=locate, key_prefix=DATASET.key_prefix)


CONVERSATIONS_CHECK = _check("conversations", schemas.ConversationsSchema, parse.locate_conversation)
SURVEY_CHECK = _check("survey_answers", schemas.SurveyAnswersSchema, parse.locate_survey)
MESSAGES_CHECK = _check("messages", schemas.MessagesSchema, parse.locate_message)
THOUGHTS_CHECK = _check("thoughts", schemas.ThoughtsSchema, parse.locate_thought)
CHECKS = (CONVERSATIONS_CHECK, SURVEY_CHECK, MESSAGES_CHECK, THOUGHTS_CHECK)
NORMALISED_CHECK = dg.AssetCheckSpec(
    "message_texts_normalised", asset=dg.AssetKey(DATASET.key("messages")),
    description="Counts the message texts that the normalisation (trim; null, empty or 'None' → 'EMPTY STRING', "
                "as PRISM's) changed; a warning when any did. With InputSettings.strict_texts they are left as read "
                "and content_normalised rejects them.")


def _out(description: str, check: SchemaCheck) -> dg.AssetOut:
    return dg.AssetOut(key_prefix=PREFIX, owners=OWNERS, kinds={"pandas", "jsonl"}, code_version=VERSION,
                       description=description, metadata={"dagster/column_schema": check.column_schema()})


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "conversations": _out("ThoughtTrace.jsonl's conversation fields, one row per line: conversation_id (`id`), "
                              "user_id (its part before '_'), model, times, task summary and expectation.",
                              CONVERSATIONS_CHECK),
        "survey_answers": _out("`survey_answers[0]` of each conversation that has one (age, gender, education, "
                               "occupation, frequency, purposes: strings).", SURVEY_CHECK),
        "messages": _out("Every message, one row each (messages.jsonl's columns): message_index (0-based), "
                         "message_id (its `id`), type, timestamp, content (normalised).", MESSAGES_CHECK),
        "thoughts": _out("Every reason (on user messages) and reaction (on assistant messages), one row each "
                         "(thoughts.jsonl's columns): kind, label, timestamp, content.", THOUGHTS_CHECK),
    },
    ins={"removal_requests": dg.AssetIn(key_prefix=PREFIX)},
    deps=[dg.AssetKey(DATASET.key("thoughttrace_jsonl")), dg.AssetKey(DATASET.key("input_config"))],
    check_specs=[c.spec() for c in CHECKS] + [NORMALISED_CHECK],
)
def thoughttrace_input(paths: DatasetPaths, input_settings: InputSettings, removal_requests: pd.DataFrame):
    path = paths.raw / FILE
    try:
        tables = parse.read_thoughttrace(path)
    except parse.InputError as err:
        raise dg.Failure(description=str(err), metadata={"file": err.file, "line": err.line or 0,
                                                          "field": err.field or ""}) from None
    messages = tables.messages
    if input_settings.strict_texts:
        counts = normalise.normalise_messages(messages)[1]
    else:
        messages, counts = normalise.normalise_messages(messages)
    frames = {"conversations": tables.conversations, "survey_answers": tables.survey_answers,
              "messages": messages, "thoughts": tables.thoughts}
    gone = removed_users(paths.state, removal_requests, tables.conversations["user_id"])
    removed = set(tables.conversations.loc[gone, "user_id"])
    digest = sha256_file(path)
    for name, frame in frames.items():
        frames[name] = kept = frame.loc[~frame["user_id"].isin(removed).to_numpy()]
        yield dg.Output(kept, output_name=name, metadata={
            "dagster/row_count": len(kept), "removed_participants": len(removed), "input_sha256": digest,
            "text_normalisation": "off (strict_texts)" if input_settings.strict_texts else "as PRISM's (process_text)",
            **({f"texts_{k}": v for k, v in counts.items()} if name == "messages" else {})})
    for check in CHECKS:
        yield check.result(frames[check.asset])
    yield _normalisation_check(counts, input_settings.strict_texts)


def _normalisation_check(counts: dict[str, int], strict: bool) -> dg.AssetCheckResult:
    """WARN when any message text was (or, in strict mode, would have been) changed; counts only."""
    n = counts["content_changed"]
    if strict:
        description = f"{n} message texts are not normalised (strict_texts: left as read, content_normalised " \
                      "rejects them)"
    else:
        description = f"{n} message texts normalised ({counts['content_emptied']} to 'EMPTY STRING')"
    return dg.AssetCheckResult(check_name=NORMALISED_CHECK.name, asset_key=NORMALISED_CHECK.asset_key, passed=n == 0,
                               severity=dg.AssetCheckSeverity.WARN,
                               description=description if n else "every message text was already normalised",
                               metadata={"texts_changed": n, "strict_texts": strict, **counts})
