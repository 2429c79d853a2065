"""The balanced subset: `included_in_balanced_subset` (SPEC §3).

Conversation level (SPEC §3.1), reference-compatible with seed 0:

1. T = the distinct `conversation_type` values of the whole file.
2. A user lacking any type in T contributes nothing.
3. Otherwise m = the user's smallest per-type count, and for every type the user's conversations of
   that type (in file order, n of them) are drawn with a fresh ``RandomState(seed)``: the kept
   positions are the first m entries of ``RandomState(seed).permutation(n)``. This is exactly what
   pandas ``DataFrame.sample(m, random_state=seed)`` picks, which is what the reference ran.

Because every (user, type) draw starts from a fresh RNG, the permutation depends on n only. The
draw is therefore vectorised: one permutation per distinct n (a handful of values), inverted, and a
row is kept when the inverse permutation maps its within-group position below m. No loop over
users, groups or rows.

Survey level (SPEC §3.4): a user is in the subset when at least one of their conversations is.
Utterance level (SPEC §3.3) is a join on `conversation_id` that the caller does.

Decisions the spec leaves open:
- "File order" is the row order of the DataFrame passed in; the caller must not re-sort it.
- A null `user_id` or `conversation_type` is an input error (ValueError) rather than a silent
  extra "type": T would otherwise change for everyone.
- The removal of a participant (SPEC §7.7) changes nobody else's flags: the draw is per user.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["balanced_conversation_flags", "balanced_user_flags"]

#: Seed of the reference run (SPEC §3.1).
REFERENCE_SEED = 0


def _fresh_permutation_rank(n: int, seed: int) -> np.ndarray:
    """rank[i] = where position i lands in ``RandomState(seed).permutation(n)``.

    Position i is among the first m drawn iff ``rank[i] < m``.
    """
    perm = np.random.RandomState(seed).permutation(n)
    rank = np.empty(n, dtype=np.int64)
    rank[perm] = np.arange(n, dtype=np.int64)
    return rank


def balanced_conversation_flags(conversations: pd.DataFrame, seed: int = REFERENCE_SEED) -> pd.Series:
    """Conversation-level balanced flag (SPEC §3.1), aligned to ``conversations.index``.

    ``conversations`` needs `user_id` and `conversation_type`, rows in file order. Returns a bool
    Series named ``included_in_balanced_subset``.
    """
    for column in ("user_id", "conversation_type"):
        if column not in conversations.columns:
            raise ValueError(f"conversations lacks the column {column!r}")
        nulls = int(conversations[column].isna().sum())
        if nulls:
            raise ValueError(f"conversations.{column} has {nulls} null value(s); "
                             "the balanced draw needs every row typed")

    result = pd.Series(False, index=conversations.index, name="included_in_balanced_subset", dtype=bool)
    if conversations.empty:
        return result

    user = conversations["user_id"].to_numpy()
    ctype = conversations["conversation_type"].to_numpy()
    keys = pd.DataFrame({"user": user, "type": ctype})
    n_types = keys["type"].nunique()

    by_group = keys.groupby(["user", "type"], sort=False)
    position = by_group.cumcount().to_numpy()  # position within (user, type), file order
    n = by_group["type"].transform("size").to_numpy()
    # m and the number of types present, per user, broadcast back to rows.
    by_user = pd.DataFrame({"user": user, "type": ctype, "n": n}).groupby("user", sort=False)
    m = by_user["n"].transform("min").to_numpy()
    types_present = by_user["type"].transform("nunique").to_numpy()

    keep = np.zeros(len(keys), dtype=bool)
    eligible = types_present == n_types
    for size in np.unique(n[eligible]):
        rows = eligible & (n == size)
        rank = _fresh_permutation_rank(int(size), seed)
        keep[rows] = rank[position[rows]] < m[rows]
    return pd.Series(keep, index=conversations.index, name="included_in_balanced_subset")


def user_flags_of_tables(survey_input: pd.DataFrame, conversations_input: pd.DataFrame,
                        balanced_subset: pd.DataFrame) -> pd.Series:
    """:func:`balanced_user_flags` from the stored tables (survey and conversations indexed by
    source line, ``balanced_subset`` in file order), as a plain RangeIndex series."""
    conversations = conversations_input.reset_index(drop=True)
    flags = pd.Series(balanced_subset["included_in_balanced_subset"].to_numpy(), index=conversations.index)
    return balanced_user_flags(survey_input["user_id"].reset_index(drop=True), conversations, flags)


def balanced_user_flags(
    survey_user_ids: pd.Series, conversations: pd.DataFrame, conversation_flags: pd.Series
) -> pd.Series:
    """Survey-level balanced flag (SPEC §3.4), aligned to ``survey_user_ids.index``.

    True iff the user has at least one conversation flagged by :func:`balanced_conversation_flags`
    (equivalently: the user has every conversation type). Survey-only users are False.
    """
    if not conversation_flags.index.equals(conversations.index):
        raise ValueError("conversation_flags must be aligned to conversations.index")
    flagged_users = pd.unique(conversations.loc[conversation_flags.astype(bool), "user_id"])
    flags = survey_user_ids.isin(flagged_users).astype(bool)
    flags.name = "included_in_balanced_subset"
    return flags
