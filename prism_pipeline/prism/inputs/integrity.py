"""Cross-table rules between the input files (SPEC §1.3–§1.5, §7.5 "referential integrity").

Each function returns the violations as a frame with columns ``file, line, field, problem``
(empty when the rule holds). Values are never included: every field here is an id or a count,
and the line is enough to find the row. Vectorised; no Dagster import.
"""

from __future__ import annotations

import pandas as pd

VIOLATION_COLUMNS = ["file", "line", "field", "problem"]


def _violations(file: str, lines, field: str, problem: str) -> pd.DataFrame:
    lines = [int(x) for x in lines]
    return pd.DataFrame({"file": [file] * len(lines), "line": lines, "field": [field] * len(lines),
                         "problem": [problem] * len(lines)}, columns=VIOLATION_COLUMNS)


def conversation_users_in_survey(conversations: pd.DataFrame, survey: pd.DataFrame) -> pd.DataFrame:
    """Every conversation's user_id is a survey participant."""
    missing = ~conversations["user_id"].isin(survey["user_id"])
    return _violations("conversations.jsonl", conversations.index[missing], "user_id",
                       "user is not in survey.jsonl")


def survey_only_consistency(survey: pd.DataFrame, conversations: pd.DataFrame) -> pd.DataFrame:
    """survey_only ⇔ no conversations ⇔ num_completed_conversations == 0, and the count matches."""
    counts = survey["user_id"].map(conversations["user_id"].value_counts()).fillna(0).astype("int64")
    bad_flag = survey["survey_only"] != (counts == 0)
    bad_count = survey["num_completed_conversations"] != counts
    return pd.concat([
        _violations("survey.jsonl", survey.index[bad_flag], "survey_only",
                    "disagrees with the participant's conversations in conversations.jsonl"),
        _violations("survey.jsonl", survey.index[bad_count], "num_completed_conversations",
                    "differs from the participant's number of conversations in conversations.jsonl"),
    ], ignore_index=True).pipe(_ordered)


def history_structure(conversations: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Per conversation (SPEC §1.4): turns run 0..max without gaps, each turn opens with
    exactly one user item followed by its model items with distinct within_turn_ids;
    conversation_turns == max turn + 1; opening_prompt equals the turn-0 user content.
    The number of responses per turn is a separate, softer rule: ``responses_per_turn``."""
    file = "conversations.jsonl"
    items = history.reset_index()
    is_user = items["role"] == "user"
    per_turn = items.assign(is_user=is_user, is_model=~is_user).groupby(["line", "turn"], sort=False).agg(
        users=("is_user", "sum"),
        models=("is_model", "sum"),
        first_role=("role", "first"),
        distinct_ids=("within_turn_id", "nunique"),
    ).reset_index()
    out = []
    bad_users = (per_turn["users"] != 1) | (per_turn["first_role"] != "user")
    out.append(_violations(file, per_turn.loc[bad_users, "line"], "conversation_history",
                           "a turn must open with exactly one user item"))
    bad_ids = per_turn["distinct_ids"] != per_turn["models"]
    out.append(_violations(file, per_turn.loc[bad_ids, "line"], "conversation_history",
                           "within_turn_id repeats within a turn"))
    # Turn order: non-decreasing within a conversation and without gaps.
    turns = items.groupby("line", sort=False)["turn"]
    step = items["turn"] - turns.shift(1)
    gap = step.notna() & ~step.isin([0, 1])
    out.append(_violations(file, items.loc[gap, "line"].drop_duplicates(), "conversation_history",
                           "turns must run 0, 1, 2, ... in order"))
    shape = turns.agg(["min", "max"])
    declared = conversations["conversation_turns"]
    bad_turns = (shape["max"] + 1).reindex(declared.index) != declared
    out.append(_violations(file, declared.index[bad_turns.to_numpy()], "conversation_turns",
                           "must equal the history's max turn + 1"))
    bad_start = shape["min"].reindex(declared.index) != 0
    out.append(_violations(file, declared.index[bad_start.to_numpy()], "conversation_history",
                           "history must start at turn 0"))
    opening = items.loc[is_user & (items["turn"] == 0)].drop_duplicates("line").set_index("line")["content"]
    prompt = conversations["opening_prompt"]
    bad_prompt = opening.reindex(prompt.index) != prompt
    out.append(_violations(file, prompt.index[bad_prompt.to_numpy()], "opening_prompt",
                           "differs from the turn-0 user content"))
    return _ordered(pd.concat(out, ignore_index=True).drop_duplicates())


def _ordered(violations: pd.DataFrame) -> pd.DataFrame:
    # concat of empty frames turns the line column to float; lines are always whole numbers
    return (violations.astype({"line": "int64"}).sort_values("line", kind="stable").reset_index(drop=True))


def responses_per_turn(history: pd.DataFrame) -> pd.DataFrame:
    """Turn 0 has 2–4 model responses and later turns exactly 2 (SPEC §1.4).

    A warning rule, not an error: the real release's per-conversation response counts
    (data/reference/structure/conversation_utterance_counts.csv, 68,371 in all) include four
    conversations with 3 responses, which with conversation_turns ≥ 2 can only be 1 + 2, so the
    real files break this rule four times and must still be processable.
    """
    items = history.reset_index()
    models = items.loc[items["role"] == "model"].groupby(["line", "turn"], sort=False).size()
    per_turn = models.rename("models").reset_index()
    turn0 = per_turn["turn"] == 0
    bad = (turn0 & ~per_turn["models"].between(2, 4)) | (~turn0 & (per_turn["models"] != 2))
    return _ordered(_violations("conversations.jsonl", per_turn.loc[bad, "line"].drop_duplicates(),
                                "conversation_history",
                                "turn 0 needs 2-4 model responses and later turns exactly 2"))
