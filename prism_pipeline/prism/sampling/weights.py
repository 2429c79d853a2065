"""Post-stratification cell weights for the census pools (SPEC §7.5: "consider providing weights").

The reference only down-samples (SPEC §4.4): short cells stay short and no weights exist. This
module adds the simplest complement, one weight per participant and cell:

    weight(c) = (census share of c / S) / (pool share of c)

per country, where the pool share of c is n_c / N (N = pool participants that got a weight) and
S = the summed census share of the cells that hold at least one pool participant. Dividing by S
spreads the census mass of empty cells proportionally over the occupied ones, so the weights sum
to N, i.e. the mean weight is 1. Weighted pool shares then equal the census shares renormalised
over the occupied cells.

Decisions the spec leaves open:
- Weights are computed for whatever is passed as ``pool``: the whole eligible pool
  (``rep.census_pool``) or only the selected REP participants (``draw.pool.loc[draw.selected]``).
- A participant whose (country, age band, ethnicity, sex) has no row in ``cells`` has no census
  counterpart and gets a null weight; they do not count in N. With a ``census_pool`` and a full
  ``census_cells`` table this cannot happen (every pool row has a valid cell).
- A cell whose census population is 0 gets weight 0 (the census says nobody lives there).
- No cell collapsing or trimming: with 1–30 participants per cell some weights are large (e.g. 5+
  for older White UK participants); reports should show the weight range.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prism_pipeline.prism.sampling.census import CELL_KEYS

__all__ = ["census_weights"]


def census_weights(pool: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Cell weights for every pool participant, aligned to ``pool.index``.

    ``pool`` has ``user_id, country, age_band, census_ethnicity, sex`` (a ``rep.census_pool``);
    ``cells`` is a ``census_cells`` table (``share_of_adults`` per cell). Returns
    ``user_id, country, age_band, census_ethnicity, sex, weight`` (float; null without a census
    cell). Within each country the non-null weights sum to their count.
    """
    keys = list(CELL_KEYS)
    share = pool.loc[:, keys].merge(
        cells.loc[:, [*keys, "share_of_adults"]], on=keys, how="left", validate="many_to_one"
    )["share_of_adults"].to_numpy(dtype=float)
    weighted = ~np.isnan(share)

    frame = pool.loc[:, keys].reset_index(drop=True).assign(share=share, weighted=weighted)
    frame = frame.loc[weighted]
    n_cell = frame.groupby(keys, sort=False)["share"].transform("size").to_numpy(dtype=float)
    n_country = frame.groupby("country", sort=False)["share"].transform("size").to_numpy(dtype=float)
    # Census share of occupied cells per country: each occupied cell counted once.
    first_in_cell = ~frame.duplicated(keys).to_numpy()
    occupied_share = (
        pd.Series(np.where(first_in_cell, frame["share"].to_numpy(), 0.0), index=frame.index)
        .groupby(frame["country"].to_numpy())
        .transform("sum")
        .to_numpy()
    )
    weight = np.full(len(pool), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        # An occupied cell set with zero census mass has no meaningful target: leave null.
        values = np.where(
            occupied_share > 0, (frame["share"].to_numpy() / occupied_share) / (n_cell / n_country), np.nan
        )
    weight[np.flatnonzero(weighted)] = values
    result = pool.loc[:, ["user_id", *keys]].copy()
    result["weight"] = weight
    return result
