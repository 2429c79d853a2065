"""Input assets: the published PRISM files, read and typed (SPEC §1.3–§1.5).

Thin wrappers around ``inputs.parse``: a bad line fails the step with the reader's message
(file, line, field, value where it is not free text or an id). Materialisation metadata
records row counts and the input file's sha256, never participant data.
"""

import sys

import dagster as dg
import pandas as pd

from prism_pipeline.core.hashing import code_version, sha256_file
from prism_pipeline.core.removal import requests
from prism_pipeline.core.removal.requests import removed_users
from prism_pipeline.core.resources import DatasetPaths, InputSettings
from prism_pipeline.core.validation import SchemaCheck, violations_result
from prism_pipeline.prism import schemas
from prism_pipeline.prism.conversation_tables import derive, registry
from prism_pipeline.prism.conversation_tables.registry import REGISTRY_FILENAME, assign_ids
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline.prism.inputs import integrity, normalise, parse

GROUP = "inputs"
OWNERS = list(DATASET.owners)
# The rules these assets run: a change in any of these files marks them unsynced.
VERSION = code_version(sys.modules[__name__], parse, normalise, registry, requests, derive, integrity)
# Each table is validated against its model in the step that read it (core/validation.py).
SURVEY_CHECK = SchemaCheck("survey_input", schemas.SurveySchema, parse.SURVEY.file_name, blocking=True,
                           name="survey_schema")
CONVERSATIONS_CHECK = SchemaCheck("conversations_input", schemas.ConversationsSchema, parse.CONVERSATIONS.file_name,
                                  blocking=True, name="conversations_schema")
HISTORY_CHECK = SchemaCheck("conversation_history", schemas.ConversationHistorySchema, parse.CONVERSATIONS.file_name,
                            blocking=True, locate=parse.history_locator)
# A published utterances.jsonl is only compared with the derived table: non-blocking.
UTTERANCES_CHECK = SchemaCheck("utterances_input", schemas.UtterancesSchema, parse.UTTERANCES.file_name, optional=True)


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
    code_version=VERSION,
    deps=["survey_jsonl"],
    check_specs=[SURVEY_CHECK.spec()],
    description="survey.jsonl (codebook §Survey, SPEC §1.3): one row per participant, nested objects "
                "flattened to `parent.key` columns, indexed by source line. Published `included_in_*` "
                "flags are kept only for comparison; they are recomputed downstream.",
    metadata={"dagster/column_schema": SURVEY_CHECK.column_schema()},
)
def survey_input(paths: DatasetPaths, removal_requests: pd.DataFrame):
    path = paths.raw / parse.SURVEY.file_name
    survey = _read(parse.read_survey, path)
    gone = removed_users(paths.state, removal_requests, survey["user_id"])
    kept = survey.loc[~gone]
    yield dg.Output(kept, metadata={"dagster/row_count": int((~gone).sum()), "removed_participants": int(gone.sum()),
                                    "input_sha256": sha256_file(path)})
    yield SURVEY_CHECK.result(kept)


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "conversations_input": dg.AssetOut(
            owners=OWNERS, kinds={"pandas", "jsonl"}, code_version=VERSION,
            description="conversations.jsonl (codebook §Conversations, SPEC §1.4) without its history: one row "
                        "per conversation, attributes flattened, indexed by source line.",
            metadata={"dagster/column_schema": CONVERSATIONS_CHECK.column_schema()},
        ),
        "conversation_history": dg.AssetOut(
            owners=OWNERS, kinds={"pandas"}, code_version=VERSION,
            description="The `conversation_history` items of conversations.jsonl (SPEC §1.4), one row per item, "
                        "indexed by (source line, item position).",
            metadata={"dagster/column_schema": HISTORY_CHECK.column_schema()},
        ),
    },
    deps=["conversations_jsonl", "input_config"],
    check_specs=[CONVERSATIONS_CHECK.spec(), HISTORY_CHECK.spec(), dg.AssetCheckSpec(
        "conversation_texts_normalised", asset="conversation_history",
        description="Counts the opening prompts and conversation messages that the SPEC §1.2 normalisation "
                    "(trim; null, empty or 'None' → 'EMPTY STRING') changed; a warning when any did. With "
                    "InputSettings.strict_texts they are left as read and content_normalised rejects them."),
        dg.AssetCheckSpec(
            "conversation_structure", asset="conversation_history", blocking=True,
            description="Each turn opens with one user item; turns run 0..max; conversation_turns = max turn + 1; "
                        "opening_prompt = turn-0 user content; within_turn_ids distinct per turn."),
        dg.AssetCheckSpec(
            "responses_per_turn", asset="conversation_history",
            description="Turn 0 has 2-4 model responses and later turns exactly 2 (SPEC §1.4). A warning: the real "
                        "release has four conversations with one turn-0 response (see integrity.responses_per_turn).")],
)
def conversations_input(paths: DatasetPaths, input_settings: InputSettings, removal_requests: pd.DataFrame):
    path = paths.raw / parse.CONVERSATIONS.file_name
    conversations, history = _read(parse.read_conversations, path)
    if input_settings.strict_texts:
        counts = normalise.would_change(conversations, history)
    else:
        conversations, history, counts = normalise.normalise_conversation_texts(conversations, history)
    conversations, history = _apply_removals(paths, removal_requests, conversations, history)
    digest = sha256_file(path)
    normalisation = {"text_normalisation": "off (strict_texts)" if input_settings.strict_texts else "SPEC §1.2",
                     **{f"texts_{k}": v for k, v in counts.items()}}
    yield dg.Output(conversations, output_name="conversations_input",
                    metadata={"dagster/row_count": len(conversations), "input_sha256": digest, **normalisation})
    yield dg.Output(history, output_name="conversation_history",
                    metadata={"dagster/row_count": len(history), "input_sha256": digest, **normalisation})
    yield CONVERSATIONS_CHECK.result(conversations)
    yield HISTORY_CHECK.result(history)
    yield _normalisation_check(counts, input_settings.strict_texts)
    yield violations_result(integrity.history_structure(conversations, history), asset="conversation_history",
                            check_name="conversation_structure")
    yield violations_result(integrity.responses_per_turn(history), severity=dg.AssetCheckSeverity.WARN,
                            asset="conversation_history", check_name="responses_per_turn")


def _normalisation_check(counts: dict[str, int], strict: bool) -> dg.AssetCheckResult:
    """WARN when any text was (or, in strict mode, would have been) changed; counts only."""
    n = counts["opening_prompt_changed"] + counts["content_changed"]
    if strict:
        description = f"{n} texts are not normalised (strict_texts: left as read, content_normalised rejects them)"
    else:
        description = (f"{n} texts normalised as SPEC §1.2: {counts['content_changed']} messages "
                       f"({counts['content_emptied']} to 'EMPTY STRING'), {counts['opening_prompt_changed']} "
                       f"opening prompts ({counts['opening_prompt_emptied']} to 'EMPTY STRING')")
    return dg.AssetCheckResult(check_name="conversation_texts_normalised", asset_key="conversation_history",
                               passed=n == 0, severity=dg.AssetCheckSeverity.WARN,
                               description=description if n else "every text was already normalised",
                               metadata={"texts_changed": n, "strict_texts": strict, **counts})


def _apply_removals(paths: DatasetPaths, requests: pd.DataFrame, conversations: pd.DataFrame,
                    history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop removed participants' conversations and give every scored item its frozen ids.

    Ids come from the id registry (removal/registry.py), seeded with the reference rule over
    the *unfiltered* file, so nobody's utterance or interaction id changes after a removal and
    a removed participant's numbers are never reused (SPEC §7.7). This is the one place that
    sees the unfiltered history, so it is where the registry is updated.
    """
    gone_conv = removed_users(paths.state, requests, conversations["user_id"])
    gone_items = history["conversation_id"].isin(conversations.loc[gone_conv, "conversation_id"]).to_numpy()
    if conversations["conversation_id"].duplicated().any():
        # A duplicate id is bad input: the blocking conversations_schema check reports it by line
        # and nothing downstream runs, so no ids are allocated from a broken file.
        return conversations.loc[~gone_conv], history.loc[~gone_items]
    scored = derive.scored_mask(history.reset_index(drop=True)).to_numpy()
    keys = history.reset_index(drop=True).loc[scored, ["conversation_id", "turn", "within_turn_id"]]
    ids = assign_ids(keys, ~gone_items[scored], paths.state / REGISTRY_FILENAME)
    kept = history.loc[~gone_items].copy()
    kept_scored = scored[~gone_items]
    for column in ("utterance_id", "interaction_id"):
        values = pd.Series(pd.NA, index=kept.index, dtype="str")
        values.iloc[kept_scored.nonzero()[0]] = ids[column].to_numpy()
        kept[column] = values
    return conversations.loc[~gone_conv], kept


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"pandas", "jsonl"},
    code_version=VERSION,
    deps=["utterances_jsonl"],
    check_specs=[UTTERANCES_CHECK.spec()],
    description="A published utterances.jsonl (SPEC §1.5) when the raw dir holds one, else an empty frame; "
                "only used to compare against the derived `utterances` table.",
    metadata={"dagster/column_schema": UTTERANCES_CHECK.column_schema()},
)
def utterances_input(paths: DatasetPaths, removal_requests: pd.DataFrame):
    path = paths.raw / parse.UTTERANCES.file_name
    if not path.exists():
        frame = pd.DataFrame()
        yield dg.Output(frame, metadata={"present": False, "dagster/row_count": 0})
    else:
        frame = _read(parse.read_utterances, path)
        frame = frame.loc[~removed_users(paths.state, removal_requests, frame["user_id"])]
        yield dg.Output(frame, metadata={"present": True, "dagster/row_count": len(frame),
                                         "input_sha256": sha256_file(path)})
    yield UTTERANCES_CHECK.result(frame)
