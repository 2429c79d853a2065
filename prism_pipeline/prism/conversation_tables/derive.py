"""Derive the utterance and wide interaction tables from the conversations (SPEC §1.5, §5).

Pure pandas, vectorised; no Dagster import. The asset functions in ``assets.py`` call these.
"""

from __future__ import annotations

import pandas as pd

from prism_pipeline.prism import codebook as cb
from prism_pipeline.prism.conversation_tables.ids import interaction_ids, utterance_ids

_WIDE_FIELDS = ("utterance_id", "within_turn_id", "model_name", "model_provider", "model_response", "score",
                "if_chosen")
_WIDE_DTYPES = {"within_turn_id": "Int64", "score": "Int64", "if_chosen": "boolean"}


def scored_mask(history: pd.DataFrame) -> pd.Series:
    """Which history items are scored responses (one utterance each), SPEC §1.5.

    The reference walks each ``conversation_history`` remembering the last user item; a model
    item whose turn equals that user item's turn yields a row. Here that "last user item" is a
    forward fill within each conversation, so the rule is the same without a Python loop.
    """
    is_user = history["role"] == "user"
    last_user_turn = history["turn"].where(is_user).groupby(history["conversation_id"], sort=False).ffill()
    return ~is_user & (history["turn"] == last_user_turn)


def derive_utterances(conversations: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """One row per scored model response (``scored_mask``), in the reference's order (SPEC §1.5).

    Ids: when ``history`` carries ``utterance_id`` / ``interaction_id`` (allocated by the id
    registry, ``removal/registry.py``, so that a removal never renumbers anyone) they are used;
    otherwise they follow the reference rule over this table (``ids.py``).

    ``conversations``: flat conversations frame (conversation_id, user_id, conversation_type);
    ``history``: the history items in file order (``parse.read_conversations``).
    Returns codebook.UTTERANCE_COLUMNS without ``included_in_balanced_subset`` (a sampling flag,
    joined by the release), with a RangeIndex.
    """
    items = history.reset_index(drop=True)
    is_user = items["role"] == "user"
    last_user_text = items["content"].where(is_user).groupby(items["conversation_id"], sort=False).ffill()
    keep = scored_mask(items)

    rows = items.loc[keep].reset_index(drop=True)
    conv = conversations.set_index("conversation_id")
    if "utterance_id" in rows.columns:
        utt_ids, int_ids = rows["utterance_id"].astype("str"), rows["interaction_id"].astype("str")
    else:
        utt_ids = pd.Series(utterance_ids(len(rows)), dtype="str")
        int_ids = interaction_ids(rows["conversation_id"], rows["turn"])
    out = pd.DataFrame({
        "utterance_id": utt_ids,
        "interaction_id": int_ids,
        "conversation_id": rows["conversation_id"],
        "user_id": rows["conversation_id"].map(conv["user_id"]).astype("str"),
        "turn": rows["turn"].astype("int64"),
        "within_turn_id": rows["within_turn_id"].astype("int64"),
        "conversation_type": rows["conversation_id"].map(conv["conversation_type"]).astype("str"),
        "user_prompt": last_user_text.loc[keep].reset_index(drop=True).astype("str"),
        "model_response": rows["content"],
        "model_name": rows["model_name"],
        "model_provider": rows["model_provider"],
        "score": rows["score"].astype("int64"),
        "if_chosen": rows["if_chosen"].astype("bool"),
    })
    return out


def derive_interactions(utterances: pd.DataFrame) -> pd.DataFrame:
    """The wide table: one row per interaction, responses as suffixes a–d (SPEC §5).

    As the reference's ``pivot_to_wide_format``: within each interaction the responses are
    numbered 0..3 in row order and become a/b/c/d; c and d are null for turns ≥ 1; rows are
    sorted by ``interaction_id`` as a string. Unlike the reference, per-interaction constants
    (conversation_type) appear once rather than once per suffix, and ``n_responses`` /
    ``n_chosen`` are added for the if_chosen audit (SPEC §7.5).
    """
    u = utterances
    suffix = u.groupby("interaction_id", sort=False).cumcount().map(dict(enumerate(cb.INTERACTION_SUFFIXES)))
    base = (u.groupby("interaction_id", sort=False)
            .agg(conversation_id=("conversation_id", "first"), user_id=("user_id", "first"),
                 turn=("turn", "first"), conversation_type=("conversation_type", "first"),
                 user_prompt=("user_prompt", "first"), n_responses=("utterance_id", "size"),
                 n_chosen=("if_chosen", "sum")))
    wide = u.assign(suffix=suffix.to_numpy()).pivot(index="interaction_id", columns="suffix",
                                                     values=list(_WIDE_FIELDS))
    columns = {}
    for field in _WIDE_FIELDS:
        for s in cb.INTERACTION_SUFFIXES:
            values = wide[(field, s)] if (field, s) in wide.columns else pd.Series(None, index=wide.index)
            columns[f"{field}_{s}"] = values.astype(_WIDE_DTYPES.get(field, "str"))
    out = base.join(pd.DataFrame(columns, index=wide.index))
    out["n_responses"] = out["n_responses"].astype("int64")
    out["n_chosen"] = out["n_chosen"].astype("int64")
    out = out.sort_index(kind="stable").reset_index()
    for col in ("interaction_id", "conversation_id", "user_id", "conversation_type", "user_prompt"):
        out[col] = out[col].astype("str")
    return out
