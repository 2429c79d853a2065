"""SPEC §7.5: post-stratification cell weights for the census pools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism_pipeline.prism.sampling.census import load_census_cells
from prism_pipeline.prism.sampling.weights import census_weights

KEYS = ["country", "age_band", "census_ethnicity", "sex"]
CENSUS_DIR = Path(__file__).resolve().parents[1] / "data" / "reference" / "census"


def _cells(rows):
    return pd.DataFrame(rows, columns=[*KEYS, "share_of_adults"])


def _pool(rows):
    return pd.DataFrame(rows, columns=["user_id", *KEYS])


def test_hand_made_pool_exact_weights():
    cells = _cells(
        [
            ("UK", "18-24 years old", "White", "Female", 0.5),
            ("UK", "18-24 years old", "White", "Male", 0.3),
            ("UK", "65+ years old", "Asian", "Male", 0.2),  # empty in the pool: its mass is spread
            ("US", "18-24 years old", "Black", "Female", 0.25),
            ("US", "18-24 years old", "Black", "Male", 0.75),
        ]
    )
    pool = _pool(
        [
            ("a", "UK", "18-24 years old", "White", "Female"),
            ("b", "UK", "18-24 years old", "White", "Male"),
            ("c", "UK", "18-24 years old", "White", "Male"),
            ("d", "UK", "25-34 years old", "Mixed", "Female"),  # no census row: no weight
            ("e", "UK", "18-24 years old", "White", "Male"),
            ("f", "US", "18-24 years old", "Black", "Female"),
            ("g", "US", "18-24 years old", "Black", "Female"),
            ("h", "US", "18-24 years old", "Black", "Male"),
            ("i", "US", "18-24 years old", "Black", "Male"),
        ]
    ).set_axis(list(range(20, 29)))
    weights = census_weights(pool, cells)
    assert weights.index.equals(pool.index)
    assert weights.columns.tolist() == ["user_id", *KEYS, "weight"]
    assert weights["user_id"].tolist() == list("abcdefghi")
    # UK: N = 4 weighted, occupied census mass S = 0.8.
    # a: (0.5 / 0.8) / (1 / 4) = 2.5; b, c, e: (0.3 / 0.8) / (3 / 4) = 0.5. US: 0.25/0.5, 0.75/0.5.
    expected = [2.5, 0.5, 0.5, np.nan, 0.5, 0.5, 0.5, 1.5, 1.5]
    np.testing.assert_allclose(weights["weight"].to_numpy(), expected, rtol=1e-12)
    sums = weights.groupby("country")["weight"].sum()
    assert sums.to_numpy() == pytest.approx([4.0, 4.0], rel=1e-12)


def test_zero_population_cell_gets_weight_zero():
    cells = _cells([("UK", "18-24 years old", "White", "Female", 0.5), ("UK", "18-24 years old", "White", "Male", 0.0)])
    pool = _pool([("a", "UK", "18-24 years old", "White", "Female"), ("b", "UK", "18-24 years old", "White", "Male")])
    assert census_weights(pool, cells)["weight"].tolist() == [2.0, 0.0]


def test_empty_pool():
    cells = _cells([("UK", "18-24 years old", "White", "Female", 1.0)])
    weights = census_weights(_pool([]), cells)
    assert weights.empty and weights.columns.tolist() == ["user_id", *KEYS, "weight"]


def test_weighted_reference_pool_matches_census_over_occupied_cells():
    cells = load_census_cells(CENSUS_DIR)
    reference = pd.read_csv(CENSUS_DIR / "reference_cells.csv").rename(columns={"age_category": "age_band"})
    sizes = reference["pool_available_in_reference_run"].to_numpy()
    pool = reference.loc[reference.index.repeat(sizes), KEYS].reset_index(drop=True)
    pool.insert(0, "user_id", [f"p{i}" for i in range(len(pool))])
    weights = census_weights(pool, cells)
    assert weights.groupby("country")["weight"].sum().to_numpy() == pytest.approx([274.0, 287.0], rel=1e-12)
    weighted_share = weights.groupby(KEYS)["weight"].sum() / weights.groupby("country")["weight"].sum()
    census = cells.set_index(KEYS)["share_of_adults"].reindex(weighted_share.index)
    occupied = census.groupby(level="country").transform("sum")
    np.testing.assert_allclose(weighted_share.to_numpy(), (census / occupied).to_numpy(), rtol=1e-12)
