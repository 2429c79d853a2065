"""Schema checks on the sampling tables (SPEC §3, §4, §7.5): one per ``schemas`` model.

``census_cells`` is blocking: it is parsed from sha256-pinned reference files, so its check
fails only if those files or the parser change, and then every REP flag would be wrong. The
others are non-blocking ERROR checks: a failure shows in the UI without stopping the release.
Failure messages never show participant or conversation ids (``schemas.SENSITIVE``).
"""

import dagster as dg
import pandas as pd

from prism_pipeline import schemas
from prism_pipeline.sampling.assets import REP_SCHEMAS
from prism_pipeline.validation import schema_check_result


@dg.asset_check(asset="census_cells", blocking=True,
                description="schemas.CensusCellsSchema: codebook cell labels, one row per cell, population >= 0, "
                            "share_of_adults = population / the country's total.")
def census_cells_schema(census_cells: pd.DataFrame) -> dg.AssetCheckResult:
    return schema_check_result(schemas.CensusCellsSchema, census_cells, "census_cells")


@dg.asset_check(asset="balanced_subset",
                description="schemas.BalancedSubsetSchema: unique conversation ids and a bool flag.")
def balanced_subset_schema(balanced_subset: pd.DataFrame) -> dg.AssetCheckResult:
    return schema_check_result(schemas.BalancedSubsetSchema, balanced_subset, "balanced_subset")


def _rep_check(country: str):
    asset = f"{country.lower()}_rep_sample"
    model = REP_SCHEMAS[country]

    @dg.asset_check(asset=asset, name=f"{asset}_schema",
                    description=f"schemas.{model.__name__}: unique user ids and a bool included_in_{country}_REP.")
    def _check(rep_sample: pd.DataFrame) -> dg.AssetCheckResult:
        return schema_check_result(model, rep_sample, asset)

    return _check


uk_rep_sample_schema = _rep_check("UK")
us_rep_sample_schema = _rep_check("US")


@dg.asset_check(asset="census_weights",
                description="schemas.CensusWeightsSchema: one row per pool participant, codebook cell labels, "
                            "weights >= 0 with mean 1 per country.")
def census_weights_schema(census_weights: pd.DataFrame) -> dg.AssetCheckResult:
    return schema_check_result(schemas.CensusWeightsSchema, census_weights, "census_weights")
