"""Row-for-row comparison of a derived table with a published one. No Dagster import."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Difference:
    rows_derived: int
    rows_published: int
    by_column: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return abs(self.rows_derived - self.rows_published) + sum(self.by_column.values())

    def describe(self) -> str:
        if self.total == 0:
            return "identical"
        parts = [f"{self.rows_derived} derived vs {self.rows_published} published rows"]
        parts += [f"{col}: {n} rows differ" for col, n in self.by_column.items() if n]
        return "; ".join(parts)


def compare_utterances(derived: pd.DataFrame, published: pd.DataFrame) -> Difference:
    """Compare position by position on the columns both tables have (the published file's
    ``included_in_balanced_subset`` is a sampling flag and is compared by the sampling checks)."""
    columns = [c for c in derived.columns if c in published.columns and c != "included_in_balanced_subset"]
    n = min(len(derived), len(published))
    left = derived[columns].iloc[:n].reset_index(drop=True)
    right = published[columns].iloc[:n].reset_index(drop=True)
    by_column = {}
    for col in columns:
        a, b = left[col], right[col]
        same = (a == b) | (a.isna() & b.isna())
        by_column[col] = int((~same.fillna(False)).sum())
    return Difference(len(derived), len(published), by_column)
