"""Id rules for the derived tables (SPEC §1.5, §7.7).

* ``utterance_id = "ut{k}"``: k is the 0-based position of the scored response when the
  conversations are walked in file order and each history in item order.
* ``interaction_id = "int{g}"``: g numbers the (conversation_id, turn) groups sorted
  **lexicographically by the conversation_id string**, then by turn — "c0" < "c1" < "c10" —
  which is what the reference's sorted groupby did (on real PRISM c4659's first turn is
  int13826; numeric order would give ≈15,889). Interaction ids are therefore not monotone in
  file order.

No Dagster import.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def id_number(ids: pd.Series, prefix: str) -> pd.Series:
    """The integer in ids of the form ``<prefix><digits>`` (``user12``, ``c7``, ``ut3``, ``int9``),
    for numeric sorts; vectorised. ValueError if any id has another form."""
    digits = ids.astype("string").str.extract(rf"^{prefix}(\d+)$", expand=False)
    bad = digits.isna()
    if bad.any():
        # Position, not value: an id is participant data.
        first = int(bad.to_numpy().argmax())
        raise ValueError(f"{int(bad.sum())} ids are not of the form {prefix}<number> (first at row {first})")
    return digits.astype("int64")


def utterance_ids(n: int) -> np.ndarray:
    return np.char.add("ut", np.arange(n).astype(str))


def interaction_ids(conversation_id: pd.Series, turn: pd.Series) -> pd.Series:
    """``int{g}`` for each row, g the rank of (conversation_id string, turn) among the
    distinct groups in lexicographic order (SPEC §1.5)."""
    keys = pd.DataFrame({"conversation_id": conversation_id.to_numpy(), "turn": turn.to_numpy()})
    groups = keys.drop_duplicates().sort_values(["conversation_id", "turn"], kind="stable")
    groups["interaction_id"] = np.char.add("int", np.arange(len(groups)).astype(str))
    merged = keys.merge(groups, on=["conversation_id", "turn"], how="left", sort=False)
    return pd.Series(merged["interaction_id"].to_numpy(), index=conversation_id.index, dtype="str")
