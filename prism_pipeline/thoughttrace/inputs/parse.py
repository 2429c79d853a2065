"""The reader of ``ThoughtTrace.jsonl``, on the engine's JSONL reader (``core/jsonl.py``).

One conversation per line becomes rows of four typed frames, each row keeping where it came
from, so every later error names the file, the line and the field:

* ``conversations``: the conversation's own fields, index ``line`` (``id`` → ``conversation_id``,
  and its part before the first ``_`` → ``user_id``);
* ``survey_answers``: ``survey_answers[0]`` where the list has one (index ``line``);
* ``messages``: one row per message, index (``line``, ``message``, ``list``: the key of its thought
  list, ``reasons`` or ``reactions``);
* ``thoughts``: one row per reason or reaction, index (``line``, ``message``, ``list``, ``thought``).

Here: what a frame cannot represent (malformed JSON, a missing or unknown key, a list that is
not a list, a message with no or two thought lists, a value of the wrong JSON type, checked per
column with the types of ``schemas.py``). Values are shown except for free text and ids. The
rest (patterns, vocabularies, alternation, which list on which message, times) is judged by
the models in the step's schema checks.

No Dagster import: pure functions, reused by the assets, the removal footprint and the tests.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from prism_pipeline.core.jsonl import InputError, check_keys, column_rules, iter_jsonl, typed_frame
from prism_pipeline.thoughttrace import layout, schemas

FILE = layout.RAW_FILE
CONVERSATION_COLUMNS = ("conversation_id", "user_id", "model_name", "model_provider", "created_at", "updated_at",
                        "task_summary", "task_expectation")
SURVEY_COLUMNS = ("conversation_id", "user_id", *layout.SURVEY_KEYS)
MESSAGE_COLUMNS = layout.MESSAGES_COLUMNS
THOUGHT_COLUMNS = layout.THOUGHTS_COLUMNS
# Read even when null: the normalisation (normalise.py) makes a null message "EMPTY STRING" and
# the model, which requires a value, judges what it leaves (as PRISM's history content).
NULL_BEFORE_NORMALISATION = frozenset({"content"})
# A column's field in the published record, for messages and thoughts (the rest keep their name).
_RAW_KEY = {"conversation_id": "id", "user_id": "id", "message_id": "id"}


@dataclass(frozen=True)
class Tables:
    """The four frames of one ``ThoughtTrace.jsonl`` (module doc)."""

    conversations: pd.DataFrame
    survey_answers: pd.DataFrame
    messages: pd.DataFrame
    thoughts: pd.DataFrame


def user_of(conversation_id: object) -> object:
    """The user id of a conversation id: its part before the first ``_`` (``user804``)."""
    return conversation_id.split("_", 1)[0] if isinstance(conversation_id, str) else None


def _list(obj: dict, key: str, line: int, field: str) -> list:
    value = obj[key]
    if not isinstance(value, list):
        raise InputError(FILE, line, field, f"expected a list, got {type(value).__name__}")
    return value


def _object(value, line: int, field: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(FILE, line, field, f"expected an object, got {type(value).__name__}")
    return value


def read_thoughttrace(path: Path) -> Tables:
    """``ThoughtTrace.jsonl`` → :class:`Tables` (module doc). Raises :class:`InputError`."""
    conv = {c: [] for c in CONVERSATION_COLUMNS}
    survey = {c: [] for c in SURVEY_COLUMNS}
    msg = {c: [] for c in MESSAGE_COLUMNS}
    th = {c: [] for c in THOUGHT_COLUMNS}
    conv_lines, survey_lines = [], []
    msg_index: list[tuple[int, int, str]] = []
    th_index: list[tuple[int, int, str, int]] = []
    for line, obj in iter_jsonl(Path(path)):
        check_keys(FILE, line, obj, layout.CONVERSATION_KEYS)
        cid, uid = obj["id"], user_of(obj["id"])
        conv_lines.append(line)
        conv["conversation_id"].append(cid)
        conv["user_id"].append(uid)
        for key in CONVERSATION_COLUMNS[2:]:
            conv[key].append(obj[key])
        answers = _list(obj, "survey_answers", line, "survey_answers")
        if len(answers) > 1:
            raise InputError(FILE, line, "survey_answers", f"expected one object or none, got {len(answers)}")
        for answer in answers:
            check_keys(FILE, line, _object(answer, line, "survey_answers[0]"), layout.SURVEY_KEYS,
                       prefix="survey_answers[0].")
            survey_lines.append(line)
            survey["conversation_id"].append(cid)
            survey["user_id"].append(uid)
            for key in layout.SURVEY_KEYS:
                survey[key].append(answer[key])
        messages = _list(obj, "messages", line, "messages")
        if not messages:
            raise InputError(FILE, line, "messages", "expected a non-empty list of messages")
        for i, message in enumerate(messages):
            prefix = f"messages[{i}]"
            message = _object(message, line, prefix)
            lists = [k for k in layout.THOUGHT_LISTS if k in message]
            if len(lists) != 1:
                raise InputError(FILE, line, prefix, "needs exactly one thought list: reasons (on a user message) "
                                                     f"or reactions (on an assistant message); it has {len(lists)}")
            list_key = lists[0]
            check_keys(FILE, line, message, (*layout.MESSAGE_KEYS, list_key), prefix=prefix + ".")
            msg_index.append((line, i, list_key))
            msg["conversation_id"].append(cid)
            msg["user_id"].append(uid)
            msg["message_index"].append(i)
            msg["message_id"].append(message["id"])
            for key in layout.MESSAGE_KEYS[1:]:
                msg[key].append(message[key])
            for j, thought in enumerate(_list(message, list_key, line, f"{prefix}.{list_key}")):
                field = f"{prefix}.{list_key}[{j}]"
                check_keys(FILE, line, _object(thought, line, field), layout.THOUGHT_KEYS, prefix=field + ".")
                th_index.append((line, i, list_key, j))
                th["conversation_id"].append(cid)
                th["user_id"].append(uid)
                th["message_index"].append(i)
                th["thought_index"].append(j)
                th["kind"].append(layout.KIND_OF_LIST[list_key])
                for key in layout.THOUGHT_KEYS:
                    th[key].append(thought[key])
    return Tables(
        conversations=_typed(conv, conv_lines, schemas.ConversationsSchema, pd.Index(conv_lines, name="line"),
                             lambda c, pos: _RAW_KEY.get(c, c)),
        survey_answers=_typed(survey, survey_lines, schemas.SurveyAnswersSchema,
                              pd.Index(survey_lines, name="line", dtype="int64"),
                              lambda c, pos: _RAW_KEY.get(c) or f"survey_answers[0].{c}"),
        messages=_typed(msg, [x[0] for x in msg_index], schemas.MessagesSchema,
                        pd.MultiIndex.from_tuples(msg_index, names=["line", "message", "list"])
                        if msg_index else _empty_index(["line", "message", "list"]),
                        lambda c, pos: message_field(c, msg_index[pos])[1]),
        thoughts=_typed(th, [x[0] for x in th_index], schemas.ThoughtsSchema,
                        pd.MultiIndex.from_tuples(th_index, names=["line", "message", "list", "thought"])
                        if th_index else _empty_index(["line", "message", "list", "thought"]),
                        lambda c, pos: thought_field(c, th_index[pos])[1]),
    )


def _empty_index(names: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([[] for _ in names], names=names)


def _typed(data: dict[str, list], lines: list[int], model, index: pd.Index, field_name) -> pd.DataFrame:
    rules = column_rules(model, list(data), NULL_BEFORE_NORMALISATION if model is schemas.MessagesSchema
                         else frozenset())
    return typed_frame(FILE, data, lines, rules, index, field_name=field_name)


# ---------------------------------------------------------------------------------------
# Where a failure is: ``validation.Locator``s of the four frames (index value -> line, field)
# ---------------------------------------------------------------------------------------
def message_field(column: str, index: tuple) -> tuple[int, str]:
    """(line, field) of a messages-table column at index (line, message, list)."""
    line, i, list_key = index
    if column in ("conversation_id", "user_id"):
        return int(line), "id"
    if column == "message_index":
        return int(line), f"messages[{int(i)}]"
    if column == "thought_list":
        return int(line), f"messages[{int(i)}].{list_key}"
    return int(line), f"messages[{int(i)}].{_RAW_KEY.get(column, column)}"


def thought_field(column: str, index: tuple) -> tuple[int, str]:
    """(line, field) of a thoughts-table column at index (line, message, list, thought)."""
    line, i, list_key, j = index
    if column in ("conversation_id", "user_id"):
        return int(line), "id"
    if column == "kind":
        return int(line), f"messages[{int(i)}].{list_key}"
    if column == "message_index":
        return int(line), f"messages[{int(i)}]"
    if column == "thought_index":
        return int(line), f"messages[{int(i)}].{list_key}[{int(j)}]"
    return int(line), f"messages[{int(i)}].{list_key}[{int(j)}].{column}"


def _tuple(index_value):
    """Pandera reports a MultiIndex position as the string "(line, message, 'list')"."""
    if isinstance(index_value, str) and index_value.startswith("("):
        return ast.literal_eval(index_value)
    return index_value


def locate_conversation(column: str, index_value) -> tuple[int | None, str]:
    line = None if index_value is None or pd.isna(index_value) else int(index_value)
    return line, _RAW_KEY.get(column, column)


def locate_survey(column: str, index_value) -> tuple[int | None, str]:
    line = None if index_value is None or pd.isna(index_value) else int(index_value)
    return line, _RAW_KEY.get(column) or f"survey_answers[0].{column}"


def locate_message(column: str, index_value) -> tuple[int | None, str]:
    value = _tuple(index_value)
    if isinstance(value, tuple):
        return message_field(column, value)
    return None, f"messages[*].{column}"


def locate_thought(column: str, index_value) -> tuple[int | None, str]:
    value = _tuple(index_value)
    if isinstance(value, tuple):
        return thought_field(column, value)
    return None, f"messages[*].<thoughts>[*].{column}"
