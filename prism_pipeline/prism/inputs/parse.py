"""Readers for the published PRISM JSONL files (SPEC §1.3–§1.6), on the engine's JSONL reader
(``core/jsonl.py``): each file's layout (key orders, nested keys, its Pandera model in
``prism_pipeline/prism/schemas.py``) and the history table of ``conversations.jsonl``.

Errors name file, line, field and value, except for free text and participant ids, whose
values are withheld (SPEC privacy rule: file and line are enough to find the row).

No Dagster import: pure functions, reused by the assets, the CLI and the benchmarks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from prism_pipeline.core.jsonl import (  # noqa: F401 (re-exported: the readers' errors and helpers)
    WITHHELD,
    InputError,
    Layout,
    check_keys,
    column_rules,
    iter_jsonl,
    read_table,
    typed_frame,
)
from prism_pipeline.prism import codebook as cb
from prism_pipeline.prism import schemas

_FLAGS = ("included_in_US_REP", "included_in_UK_REP", "included_in_balanced_subset")
SURVEY = Layout("survey.jsonl", cb.SURVEY_COLUMNS, cb.SURVEY_NESTED, schemas.SurveySchema,
                optional=frozenset(_FLAGS))
CONVERSATIONS = Layout("conversations.jsonl", cb.CONVERSATION_COLUMNS, cb.CONVERSATION_NESTED,
                       schemas.ConversationsSchema, optional=frozenset(_FLAGS),
                       list_column="conversation_history", null_before_normalisation=frozenset({"opening_prompt"}))
# History item keys read even when null, as Layout.null_before_normalisation.
HISTORY_NULL_BEFORE_NORMALISATION = frozenset({"content"})
UTTERANCES = Layout("utterances.jsonl", cb.UTTERANCE_COLUMNS, {}, schemas.UtterancesSchema,
                    optional=frozenset(_FLAGS))
HISTORY_COLUMNS = ("conversation_id",) + cb.HISTORY_MODEL_KEYS


def read_survey(path: Path) -> pd.DataFrame:
    """``survey.jsonl`` → flat frame (SPEC §1.3), indexed by line."""
    frame, _ = read_table(path, SURVEY)
    return frame


def read_utterances(path: Path) -> pd.DataFrame:
    """A published ``utterances.jsonl`` (SPEC §1.5), for comparison with the derived table."""
    frame, _ = read_table(path, UTTERANCES)
    return frame


def read_conversations(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``conversations.jsonl`` → (conversations, conversation_history).

    conversations: flat frame indexed by line, without ``conversation_history``.
    conversation_history: one row per history item (SPEC §1.4), indexed by (line, item), with
    columns ``conversation_id`` and the model-item keys (null on user items).
    """
    frame, records = read_table(path, CONVERSATIONS)
    file = Path(path).name
    data: dict[str, list] = {c: [] for c in HISTORY_COLUMNS}
    lines: list[int] = []
    items: list[int] = []
    for line, obj in records:
        history = obj.get("conversation_history")
        if not isinstance(history, list) or not history:
            raise InputError(file, line, "conversation_history", "expected a non-empty list of items")
        for i, item in enumerate(history):
            prefix = f"conversation_history[{i}]."
            if not isinstance(item, dict):
                raise InputError(file, line, prefix[:-1], f"expected an object, got {type(item).__name__}")
            role = item.get("role")
            if role not in cb.ROLES:
                raise InputError(file, line, prefix + "role", f"not one of {list(cb.ROLES)}", role,
                                 show_value=isinstance(role, (str, type(None))) and len(str(role)) < 40)
            keys = cb.HISTORY_USER_KEYS if role == "user" else cb.HISTORY_MODEL_KEYS
            check_keys(file, line, item, keys, prefix=prefix)
            data["conversation_id"].append(obj["conversation_id"])
            for key in cb.HISTORY_MODEL_KEYS:
                data[key].append(item.get(key))
            lines.append(line)
            items.append(i)
    rules = column_rules(schemas.ConversationHistorySchema, list(HISTORY_COLUMNS), HISTORY_NULL_BEFORE_NORMALISATION)
    index = pd.MultiIndex.from_arrays([lines, items], names=["line", "item"])
    history = typed_frame(file, data, lines, rules, index,
                           field_name=lambda name, pos: f"conversation_history[{items[pos]}].{name}")
    return frame, history


def history_locator(column: str, index_value) -> tuple[int | None, str]:
    """``validation.Locator`` of the history table: Pandera reports a MultiIndex position as
    the string "(line, item)"."""
    if isinstance(index_value, str) and index_value.startswith("("):
        index_value = ast.literal_eval(index_value)
    if isinstance(index_value, tuple):
        return history_field(column, index_value)
    return None, f"conversation_history[*].{column}"


def history_field(column: str, index_value) -> tuple[int, str]:
    """(line, field label) for a failure in the history table, whose index is (line, item)."""
    line, item = index_value
    return int(line), f"conversation_history[{int(item)}].{column}"
