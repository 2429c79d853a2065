"""The release's records, from the stored tables, for the engine's writer (``core/release/writer.py``).

* ``ThoughtTrace.jsonl``: the input records again, in the published key orders
  (``layout.CONVERSATION_KEYS``, ``SURVEY_KEYS``, ``MESSAGE_KEYS`` + the thought list,
  ``THOUGHT_KEYS``), message texts normalised, removed participants gone;
* ``messages.jsonl``, ``thoughts.jsonl``, ``users.jsonl``, ``metadata.jsonl``: one line per row of
  their table (``layout.*_COLUMNS``; ``moderation_flag`` nested as in PRISM's metadata);
* ``stats.json``: one JSON object (``tables/derive.stats``).

No Dagster import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from prism_pipeline.core.release.writer import frame_to_records, iter_records
from prism_pipeline.thoughttrace import layout
from prism_pipeline.thoughttrace.dataset import RELEASE_FILES


def _grouped(keys: list, records: list[dict]) -> dict:
    """records grouped by key, in order (a key's records keep their order)."""
    out: dict = {}
    for key, record in zip(keys, records):
        out.setdefault(key, []).append(record)
    return out


def thoughttrace_records(conversations: pd.DataFrame, survey_answers: pd.DataFrame, messages: pd.DataFrame,
                         thoughts: pd.DataFrame) -> list[dict]:
    """One record per conversation, in the published layout (module doc)."""
    conversations, survey_answers, messages, thoughts = (
        f.reset_index(drop=True) for f in (conversations, survey_answers, messages, thoughts))
    thought_lists = _grouped(list(zip(thoughts["conversation_id"], thoughts["message_index"].tolist())),
                             frame_to_records(thoughts, layout.THOUGHT_KEYS))
    keys = list(zip(messages["conversation_id"], messages["message_index"].tolist()))
    list_keys = messages["type"].map(layout.THOUGHT_LIST_OF_TYPE).tolist()
    message_records = [{**record, list_key: thought_lists.get(key, [])} for record, list_key, key in
                       zip(frame_to_records(messages.rename(columns={"message_id": "id"}), layout.MESSAGE_KEYS),
                           list_keys, keys)]
    by_conversation = _grouped(messages["conversation_id"].tolist(), message_records)
    answers = _grouped(survey_answers["conversation_id"].tolist(), frame_to_records(survey_answers, layout.SURVEY_KEYS))
    ids = conversations["conversation_id"].tolist()
    return frame_to_records(conversations.rename(columns={"conversation_id": "id"}), layout.CONVERSATION_KEYS, extra={
        "survey_answers": [answers.get(cid, []) for cid in ids],
        "messages": [by_conversation.get(cid, []) for cid in ids]})


def fresh_records(conversations: pd.DataFrame, survey_answers: pd.DataFrame, messages: pd.DataFrame,
                  thoughts: pd.DataFrame, users: pd.DataFrame, stats: dict) -> dict[str, list[dict]]:
    """The files a removal rebuilds (the others are carried forward): ThoughtTrace.jsonl,
    users.jsonl (the participants who stay) and stats.json."""
    return {layout.RAW_FILE: thoughttrace_records(conversations, survey_answers, messages, thoughts),
            "users.jsonl": frame_to_records(users, layout.USERS_COLUMNS),
            "stats.json": [stats]}


def release_records(fresh: Mapping[str, list[dict]], messages: pd.DataFrame, thoughts: pd.DataFrame,
                    metadata: pd.DataFrame) -> dict[str, Iterable[dict]]:
    """{file: records} of every release file, in ``RELEASE_FILES`` order; the large files' records
    are built lazily, chunk by chunk while they are written (``writer.iter_records``)."""
    files = {**fresh,
             "messages.jsonl": iter_records(messages.reset_index(drop=True), layout.MESSAGES_COLUMNS),
             "thoughts.jsonl": iter_records(thoughts.reset_index(drop=True), layout.THOUGHTS_COLUMNS),
             "metadata.jsonl": iter_records(metadata, layout.METADATA_COLUMNS)}
    return {name: files[name] for name in RELEASE_FILES}
