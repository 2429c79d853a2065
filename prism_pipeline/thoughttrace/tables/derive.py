"""The participant table and the release's headline counts, derived from the input tables.

``users``: one row per participant in order of first appearance in ``ThoughtTrace.jsonl``,
``user_id`` first, then their survey answers (the same on every conversation that has them:
``schemas.SurveyAnswersSchema`` checks it; null when none has), then ``num_conversations``.

``stats``: what the published card reports, recounted from the release. A **turn** is one user
message and the assistant reply that follows it, so ``turns`` is the number of user messages
(as PRISM's ``conversation_turns`` counts the user's prompts); a conversation that ends on an
unanswered user message still counts that turn. ``messages`` counts both sides.

No Dagster import.
"""

from __future__ import annotations

import pandas as pd

from prism_pipeline.thoughttrace import layout


def users_table(conversations: pd.DataFrame, survey_answers: pd.DataFrame) -> pd.DataFrame:
    """The ``users`` table (module doc), a RangeIndex."""
    users = conversations["user_id"].drop_duplicates().reset_index(drop=True)
    answers = survey_answers.drop_duplicates("user_id").set_index("user_id")
    out = pd.DataFrame({"user_id": users.astype("str")})
    for key in layout.SURVEY_KEYS:
        out[key] = users.map(answers[key]).astype("str")
    out["num_conversations"] = users.map(conversations["user_id"].value_counts()).astype("int64")
    return out


def turns_per_conversation(messages: pd.DataFrame) -> pd.Series:
    """Turns (user messages) of each conversation that has messages, by conversation_id."""
    return messages.loc[messages["type"].eq("user")].groupby("conversation_id", sort=False).size()


def stats(conversations: pd.DataFrame, messages: pd.DataFrame, thoughts: pd.DataFrame,
          users: pd.DataFrame) -> dict:
    """``stats.json``'s record: counts (module doc), ``thoughts_by_label`` in vocabulary order
    (reasons, then reactions; zeros kept) and ``models``, the number of distinct model names."""
    by_label = thoughts["label"].value_counts()
    return {
        "users": int(len(users)),
        "conversations": int(len(conversations)),
        "messages": int(len(messages)),
        "turns": int(messages["type"].eq("user").sum()),
        "thoughts": int(len(thoughts)),
        "thoughts_by_label": {label: int(by_label.get(label, 0)) for label in layout.LABELS},
        "models": int(conversations["model_name"].nunique()),
    }
