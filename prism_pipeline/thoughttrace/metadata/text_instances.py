"""The texts the flags annotate, one row per text, and ThoughtTrace's metadata table.

| text_kind | source | message_index | thought_index |
|---|---|---|---|
| user_message, assistant_message | each message's (normalised) `content` | its position | null |
| reason, reaction | each thought's `content` | its message's position | its position in the list |
| task_summary, task_expectation | the conversation's fields | null | null |

Canonical order: conversations in release order; within one, each message followed by its
thoughts (in list order), then the task summary and the task expectation, as a reader meets
them. Every text carries ``conversation_id`` and ``user_id``. The survey answers are not flagged:
they are short answers (an age, a comma list), not texts the kinds describe.

No Dagster import; vectorised (one sort over every text, no loop per row).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prism_pipeline.core.flags.table import metadata_flags
from prism_pipeline.thoughttrace import layout
from prism_pipeline.thoughttrace.dataset import TEXT_KINDS

TEXT_INSTANCE_COLUMNS = ("text_kind", "conversation_id", "user_id", "message_index", "thought_index", "text")
_AFTER_MESSAGES = np.iinfo("int64").max  # the task texts' slot: after every message of their conversation


def _block(kind, conversation_id, user_id, message_index, thought_index, text, position, slot, sub) -> pd.DataFrame:
    return pd.DataFrame({"text_kind": kind, "conversation_id": conversation_id, "user_id": user_id,
                         "message_index": message_index, "thought_index": thought_index, "text": text,
                         "_position": position, "_slot": slot, "_sub": sub})


def build_text_instances(conversations: pd.DataFrame, messages: pd.DataFrame, thoughts: pd.DataFrame) -> pd.DataFrame:
    """Text instances in canonical order (module doc): columns ``TEXT_INSTANCE_COLUMNS``, a
    RangeIndex, ``message_index`` and ``thought_index`` nullable integers."""
    conversations, messages, thoughts = (f.reset_index(drop=True) for f in (conversations, messages, thoughts))
    position = pd.Series(np.arange(len(conversations)), index=conversations["conversation_id"].to_numpy())
    null = pd.array([pd.NA] * len(conversations), dtype="Int64")
    conv_pos = np.arange(len(conversations))
    blocks = [
        _block(np.where(messages["type"].eq("user"), "user_message", "assistant_message"),
               messages["conversation_id"], messages["user_id"], pd.array(messages["message_index"], dtype="Int64"),
               pd.array([pd.NA] * len(messages), dtype="Int64"), messages["content"],
               messages["conversation_id"].map(position).to_numpy(), messages["message_index"].to_numpy(), 0),
        _block(thoughts["kind"], thoughts["conversation_id"], thoughts["user_id"],
               pd.array(thoughts["message_index"], dtype="Int64"), pd.array(thoughts["thought_index"], dtype="Int64"),
               thoughts["content"], thoughts["conversation_id"].map(position).to_numpy(),
               thoughts["message_index"].to_numpy(), 1 + thoughts["thought_index"].to_numpy()),
    ]
    for sub, kind in enumerate(("task_summary", "task_expectation")):
        blocks.append(_block(kind, conversations["conversation_id"], conversations["user_id"], null, null,
                             conversations[kind], conv_pos, _AFTER_MESSAGES, sub))
    out = pd.concat(blocks, ignore_index=True)
    order = np.lexsort((out["_sub"].to_numpy(), out["_slot"].to_numpy(), out["_position"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    return out.astype({c: "str" for c in ("text_kind", "conversation_id", "user_id", "text")})[
        list(TEXT_INSTANCE_COLUMNS)]


def metadata_frame(text_instances: pd.DataFrame, flags: pd.DataFrame, review: pd.DataFrame) -> pd.DataFrame:
    """The release-shaped metadata table: ``layout.METADATA_COLUMNS`` with ``moderation_flag``
    flattened (the engine's flag columns, ``core/flags/table.py``), one row per text instance."""
    ids = text_instances[list(TEXT_INSTANCE_COLUMNS[:5])].reset_index(drop=True)
    flags = metadata_flags(text_instances, flags, review, TEXT_KINDS)
    moderation = [c for c in flags.columns if c.startswith("moderation_flag.")]
    ordered = [c for c in layout.METADATA_COLUMNS if c in flags.columns] + moderation
    return pd.concat([ids[["conversation_id", "user_id", "text_kind", "message_index", "thought_index"]],
                      flags[ordered]], axis=1)
