"""Text normalisation of conversation texts, as the reference did it (SPEC §1.2 ``process_text``).

The reference applied ``process_text`` to the opening prompt and to every user and model
message before the release: a null text, a text that is empty after trimming, or the literal
``"None"`` became the sentinel ``"EMPTY STRING"``; any other text was trimmed (Python's
``str.strip``: every Unicode whitespace character, including U+2028/U+2029 and NBSP).
``open_feedback`` and the survey's free texts were **not** normalised, and are not here.

Published PRISM files are already normalised, so on them this step changes nothing. Raw
exports, or texts edited by hand, often are not; this step makes them what the reference would
have released instead of rejecting them. ``InputSettings.strict_texts`` switches it off, and the
blocking ``content_normalised`` rule of ``schemas.ConversationHistorySchema`` then rejects any
text that is not already normalised.

No Dagster import.
"""

from __future__ import annotations

import pandas as pd

from prism_pipeline.core.normalise import process_text_and_mask

# The normalised columns: (table, column) as read by inputs.parse.
HISTORY_TEXT = "content"
OPENING_PROMPT = "opening_prompt"


def normalise_conversation_texts(conversations: pd.DataFrame, history: pd.DataFrame
                                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Apply :func:`process_text` to ``opening_prompt`` and every history ``content``.

    Returns the two frames (copies where anything changed) and counts only, never texts:
    ``<column>_changed`` (texts that differ after normalisation) and ``<column>_emptied`` (those
    that were null, empty or "None" and became ``"EMPTY STRING"``), for ``opening_prompt`` and
    ``content``.
    """
    counts: dict[str, int] = {}
    out = []
    for frame, column in ((conversations, OPENING_PROMPT), (history, HISTORY_TEXT)):
        texts = frame[column]
        normal, empty = process_text_and_mask(texts)
        diff = texts.isna() | (normal != texts)
        counts[f"{column}_changed"] = int(diff.sum())
        counts[f"{column}_emptied"] = int(empty.sum())
        out.append(frame.assign(**{column: normal}) if diff.any() else frame)
    return out[0], out[1], counts


def would_change(conversations: pd.DataFrame, history: pd.DataFrame) -> dict[str, int]:
    """The counts of :func:`normalise_conversation_texts` without applying it (strict mode)."""
    return normalise_conversation_texts(conversations, history)[2]
