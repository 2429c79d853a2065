"""Message texts normalised as PRISM's conversation texts (``core/normalise.py``, SPEC §1.2).

Every message's ``content`` (user and assistant) goes through ``process_text``: trimmed; a null
text, an empty one or the literal ``"None"`` becomes ``"EMPTY STRING"``. The participants' own
notes are kept as written, as PRISM keeps its open feedback: the reasons and reactions, the
task summary and expectation, and the survey answers. ``InputSettings.strict_texts`` leaves the
messages as read and the blocking ``content_normalised`` rule of ``schemas.MessagesSchema``
rejects any that is not already normalised.

No Dagster import.
"""

from __future__ import annotations

import pandas as pd

from prism_pipeline.core.normalise import process_text_and_mask


def normalise_messages(messages: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """(messages with normalised ``content``, counts): ``content_changed`` (texts that differ
    after normalisation) and ``content_emptied`` (null, empty or "None": now "EMPTY STRING").
    Counts only, never texts."""
    texts = messages["content"]
    normal, empty = process_text_and_mask(texts)
    changed = texts.isna() | (normal != texts)
    counts = {"content_changed": int(changed.sum()), "content_emptied": int(empty.sum())}
    return (messages.assign(content=normal) if changed.any() else messages), counts
