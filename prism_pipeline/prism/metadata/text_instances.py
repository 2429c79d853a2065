"""The texts the metadata layer annotates, one row per text instance (SPEC §1.6, §2.1).

| column_id        | source        | ids carried                                        |
|------------------|---------------|----------------------------------------------------|
| system_string    | survey        | user_id                                            |
| self_description | survey        | user_id                                            |
| open_feedback    | conversations | user_id, conversation_id                           |
| user_prompt      | utterances    | user_id, conversation_id, interaction_id (*)       |
| model_response   | utterances    | user_id, conversation_id, interaction_id, utterance_id |

(*) one row per interaction: first occurrence in file order.

Absent ids are null. Texts are taken as they are in the release files, so the sentinel
``"EMPTY STRING"`` is a text like any other; a null text stays null (its detectors give a
null language and ``pii_flag`` False). Not scanned, as in the reference: ``opening_prompt``
(the turn-0 prompt again), the ``other_text`` fields and the self-described identity strings.

Canonical row order (the reference order cannot be reproduced, SPEC §2.1): blocks in
``codebook.TEXT_COLUMN_IDS`` order; within a block, by the number in the block's own id
(user id for the two survey blocks, conversation id for open_feedback, interaction id for
user_prompt, utterance id for model_response), numerically: user0 < user2 < user10. Ties
cannot occur because those ids are unique within their block (checked).

No Dagster import.
"""

from __future__ import annotations

import pandas as pd

from prism_pipeline.prism import codebook
from prism_pipeline.prism.conversation_tables.ids import id_number  # noqa: F401 (re-exported)

TEXT_INSTANCE_COLUMNS: tuple[str, ...] = (
    "column_id",
    "user_id",
    "conversation_id",
    "interaction_id",
    "utterance_id",
    "text",
)
ID_COLUMNS = TEXT_INSTANCE_COLUMNS[1:5]
SORT_ID_OF_BLOCK = codebook.SORT_ID_OF_BLOCK  # the id whose number orders each block, and its prefix


def _block(frame: pd.DataFrame, column_id: str, text_column: str) -> pd.DataFrame:
    sort_id, prefix = SORT_ID_OF_BLOCK[column_id]
    block = pd.DataFrame(index=frame.index)
    block["column_id"] = column_id
    for id_column in ID_COLUMNS:
        block[id_column] = frame[id_column] if id_column in frame.columns else None
    block["text"] = frame[text_column]
    duplicated = block[sort_id].duplicated()
    if duplicated.any():
        raise ValueError(f"{column_id}: {int(duplicated.sum())} rows repeat a {sort_id}")
    key = id_number(block[sort_id], prefix)
    return block.iloc[key.argsort(kind="stable").to_numpy()]


def build_text_instances(
    survey: pd.DataFrame, conversations: pd.DataFrame, utterances: pd.DataFrame
) -> pd.DataFrame:
    """Text instances in canonical order (SPEC §2.1), columns ``TEXT_INSTANCE_COLUMNS``.

    Inputs need: survey ``user_id, system_string, self_description``; conversations
    ``user_id, conversation_id, open_feedback``; utterances ``utterance_id, interaction_id,
    conversation_id, user_id, user_prompt, model_response`` (in release file order, which
    decides the "first occurrence" of a prompt). Returns a new frame with a RangeIndex; id
    and text columns are strings with nulls where absent.
    """
    prompts = utterances.drop_duplicates("interaction_id", keep="first").drop(columns="utterance_id")
    blocks = {
        "system_string": (survey, "system_string"),
        "self_description": (survey, "self_description"),
        "open_feedback": (conversations, "open_feedback"),
        "user_prompt": (prompts, "user_prompt"),
        "model_response": (utterances, "model_response"),
    }
    parts = [_block(blocks[c][0], c, blocks[c][1]) for c in codebook.TEXT_COLUMN_IDS]
    out = pd.concat(parts, ignore_index=True)
    # pandas ``str`` dtype: missing ids/texts are NaN (null in the JSON writer).
    return out[list(TEXT_INSTANCE_COLUMNS)].astype("str")
