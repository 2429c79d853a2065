"""QA tables and charts for the balanced subset and the census samples (SPEC §3, §4.3, §7.8).

Nothing here carries a participant id or text: every output is a count or a share per cell or
per conversation type, so the tables and charts can be attached to run metadata or published.

- :func:`rep_cell_table`: one row per country × cell with the census share, the pool, the quota,
  the selection and the sample share (SPEC §7.8 "QA tables of pool, quota, selected and
  percentage differences before and after").
- :func:`rep_summary`: per country, the totals of SPEC §4.3's result table (sum of quotas, short
  cells, shortfall, selected).
- :func:`rep_share_chart`: PNG of census vs pool vs sample shares by age × ethnicity, one panel per
  country × sex.
- :func:`balanced_type_table`, :func:`balanced_type_chart`: conversations per type, all vs kept in
  the balanced subset.

Charts use matplotlib's object API with the Agg canvas (no pyplot global state, thread safe) and
are saved without the "Software" PNG text chunk, so the bytes are identical between runs with the
same matplotlib and fonts. They are returned as bytes and also written when a path is given.

Decisions the spec leaves open: percentages are in percent (0–100) and unrounded; ``pool_pct`` is
each cell's share of the country's pool with a valid cell; ``sample_pct`` is 0 in a country where
nothing was selected.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from prism_pipeline.prism.codebook import AGE_BANDS, CENSUS_ETHNICITIES, CENSUS_SEXES
from prism_pipeline.prism.sampling.census import CELL_KEYS

__all__ = [
    "REP_TABLE_COLUMNS",
    "balanced_type_chart",
    "balanced_type_table",
    "rep_cell_table",
    "rep_share_chart",
    "rep_summary",
]

REP_TABLE_COLUMNS = (
    *CELL_KEYS,
    "census_pct",
    "pool",
    "pool_pct",
    "quota",
    "selected",
    "sample_pct",
    "sample_minus_census_pct",
)


def _percent(part: pd.Series, by: pd.Series) -> pd.Series:
    total = part.groupby(by).transform("sum")
    return (100.0 * part / total.where(total > 0)).fillna(0.0)


def rep_cell_table(quotas: pd.DataFrame, pool: pd.DataFrame, selected: pd.Series) -> pd.DataFrame:
    """Per country × cell: census_pct, pool, pool_pct, quota, selected, sample_pct (SPEC §4.3).

    ``quotas`` is ``rep.cell_quotas(cells)`` (one or both countries), ``pool`` a ``rep.census_pool``
    (one or both countries concatenated) and ``selected`` its bool selection aligned to
    ``pool.index``. Rows follow ``quotas``' order; every cell appears, also when empty.
    """
    keys = list(CELL_KEYS)
    if not selected.index.equals(pool.index):
        raise ValueError("selected must be aligned to pool.index")
    counts = (
        pool.loc[:, keys]
        .assign(pool=1, selected=selected.astype(bool).astype(np.int64).to_numpy())
        .groupby(keys, as_index=False)[["pool", "selected"]]
        .sum()
    )
    table = quotas.loc[:, [*keys, "share_of_adults", "quota"]].merge(counts, on=keys, how="left", validate="one_to_one")
    unknown = len(counts) - int(table["pool"].notna().sum())
    if unknown:
        raise ValueError(f"{unknown} pool cell(s) have no quota row")
    table[["pool", "selected"]] = table[["pool", "selected"]].fillna(0).astype(np.int64)
    table["census_pct"] = 100.0 * table["share_of_adults"]
    table["pool_pct"] = _percent(table["pool"], table["country"])
    table["sample_pct"] = _percent(table["selected"], table["country"])
    table["sample_minus_census_pct"] = table["sample_pct"] - table["census_pct"]
    return table.loc[:, list(REP_TABLE_COLUMNS)]


def rep_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per country: pool, quota_total, short_cells, shortfall, selected (SPEC §4.3 results).

    A short cell has fewer pool participants than its quota; the shortfall is the sum over cells of
    quota − selected.
    """
    grouped = table.assign(
        short=(table["pool"] < table["quota"]).astype(np.int64), shortfall=table["quota"] - table["selected"]
    ).groupby("country", sort=False)
    summary = grouped.agg(
        pool=("pool", "sum"),
        quota_total=("quota", "sum"),
        short_cells=("short", "sum"),
        shortfall=("shortfall", "sum"),
        selected=("selected", "sum"),
    )
    return summary.reset_index()


def _figure(figsize: tuple[float, float]):
    """A matplotlib figure (imported here: only a step that draws a chart pays for matplotlib)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _png(figure, path: Path | str | None) -> bytes:
    buffer = io.BytesIO()
    # No "Software" text chunk: the bytes must not change with the matplotlib version string.
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    data = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def rep_share_chart(table: pd.DataFrame, path: Path | str | None = None) -> bytes:
    """PNG: census vs pool vs sample share of every cell, a panel per country × sex.

    ``table`` is :func:`rep_cell_table`'s output. Within a panel the x axis is age band, with the
    five census ethnicities side by side; bars are the sample share, the hollow outline the census
    share and the dot the pool share.
    """
    countries = list(dict.fromkeys(table["country"]))
    figure = _figure(figsize=(14, 3.2 * max(len(countries), 1)))
    axes = figure.subplots(max(len(countries), 1), len(CENSUS_SEXES), squeeze=False, sharey="row")
    colours = dict(zip(CENSUS_ETHNICITIES, ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3"]))
    width = 0.16
    base = np.arange(len(AGE_BANDS), dtype=float)
    for row, country in enumerate(countries):
        for col, sex in enumerate(CENSUS_SEXES):
            ax = axes[row][col]
            part = table.loc[(table["country"] == country) & (table["sex"] == sex)].set_index(
                ["age_band", "census_ethnicity"]
            )
            for k, ethnicity in enumerate(CENSUS_ETHNICITIES):
                x = base + (k - 2) * width
                cells = part.reindex(pd.MultiIndex.from_product([AGE_BANDS, [ethnicity]]))
                ax.bar(x, cells["sample_pct"].fillna(0).to_numpy(), width, color=colours[ethnicity], label=ethnicity)
                ax.bar(x, cells["census_pct"].fillna(0).to_numpy(), width, fill=False, edgecolor="black", linewidth=0.8)
                ax.plot(x, cells["pool_pct"].fillna(0).to_numpy(), "k.", markersize=3)
            ax.set_xticks(base, [band.replace(" years old", "") for band in AGE_BANDS])
            ax.set_title(f"{country} {sex}: sample (bar), census (outline), pool (dot)", fontsize=9)
            ax.set_ylabel("% of country total")
    axes[0][0].legend(fontsize=7, ncols=5, loc="upper left")
    return _png(figure, path)


def balanced_type_table(conversations: pd.DataFrame, conversation_flags: pd.Series) -> pd.DataFrame:
    """Per conversation type: conversations, balanced, dropped (SPEC §3.1). Types sorted by name."""
    if not conversation_flags.index.equals(conversations.index):
        raise ValueError("conversation_flags must be aligned to conversations.index")
    flags = conversation_flags.astype(bool).to_numpy()
    frame = pd.DataFrame({"conversation_type": conversations["conversation_type"].to_numpy(), "balanced": flags})
    table = frame.groupby("conversation_type", as_index=False).agg(
        conversations=("balanced", "size"), balanced=("balanced", "sum")
    )
    table["balanced"] = table["balanced"].astype(np.int64)
    table["dropped"] = table["conversations"] - table["balanced"]
    return table


def balanced_type_chart(table: pd.DataFrame, path: Path | str | None = None) -> bytes:
    """PNG bar chart of :func:`balanced_type_table`: all vs balanced conversations per type."""
    figure = _figure(figsize=(6, 3.5))
    ax = figure.subplots()
    x = np.arange(len(table), dtype=float)
    ax.bar(x - 0.2, table["conversations"].to_numpy(), 0.4, label="all conversations", color="#BBBBBB")
    ax.bar(x + 0.2, table["balanced"].to_numpy(), 0.4, label="balanced subset", color="#4C72B0")
    ax.set_xticks(x, table["conversation_type"].astype(str).tolist())
    ax.set_ylabel("conversations")
    ax.set_title("Conversations per type")
    ax.legend(fontsize=8)
    return _png(figure, path)
