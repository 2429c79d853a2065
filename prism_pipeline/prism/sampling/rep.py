"""How the UK and US representative samples are drawn: `included_in_UK_REP`, `included_in_US_REP`.

SPEC §4.2 (pool), §4.3 (sampling), §7.7 (removal and the stable selection rule). The census
table comes from :mod:`prism_pipeline.prism.sampling.census` (SPEC §4.1).

1. **Pool** (:func:`census_pool`). Survey rows in file order with
   ``survey_only == False``, ``included_in_balanced_subset == True``,
   ``study_locale == "uk"`` (or ``"us"``; the recruitment stream, not residence) and
   ``gender`` in {Female, Male}. ``census_ethnicity`` comes from ``ethnicity.categorised`` through
   ``codebook.CENSUS_ETHNICITY_OF`` (the same for both countries; Hispanic / Latino -> Other).
   "Prefer not to say" ethnicity is unmapped and "Prefer not to say" age matches no band, so those
   participants have no cell and are not in the pool; :func:`pool_attrition` counts each step.
2. **Quotas** (:func:`cell_quotas`). For each of the 60 cells (age band × 5 ethnicities × sex),
   q = floor(share_of_adults × N) + 1 with N = 300. The "+1" gives small minority cells a seat
   (SPEC §4.3), so the quotas add up to 331 (UK) and 332 (US), not 300.
3. **Selection** (:func:`select_rep`), per cell, candidates = the pool rows of the cell in file
   order, n of them:
   - ``mode="reference"`` (reference compatible): if q <= n, keep positions
     ``RandomState(seed).permutation(n)[:q]`` with a *fresh* RNG seeded 42 for every cell
     (= pandas ``sample(q, random_state=42)``); otherwise keep all n. Short cells are not topped up
     and shortfalls are not redistributed. Reference result: UK 243, US 230.
   - ``mode="stable"`` (SPEC §7.7): each candidate's rank is a keyed hash of (seed, user_id)
     (BLAKE2b-64 of the user id, keyed with ``str(seed)``; ties broken by user id) and the q
     lowest ranks are kept, or all n if q > n. The rank does not depend on the file order or on
     anyone else, so removing a participant changes at most one other selection (the next-ranked
     candidate of the same cell moves in) and nothing in any other cell.
4. **Flags** (:func:`draw_rep`, :func:`rep_flags`): True for the selected users, aligned to the
   survey.

Decisions the spec leaves open:
- Quotas use exact integer arithmetic, ``population * N // country_adult_total + 1``, not the
  floating-point ``floor(pct / 100 * N) + 1`` of the notebook. They agree on all 120 reference cells
  (tested); integer arithmetic cannot misround when a share × N lands on a whole number.
- ``balanced_flags`` is passed explicitly (aligned to the survey) rather than read from the survey,
  so the draw can run on a survey that does not carry the flag yet. For the release, pass
  ``survey["included_in_balanced_subset"]``.
- A duplicated ``user_id`` in the pool is an input error (the flags are keyed by user id).
- Country codes are ``"UK"``/``"US"`` as in the census table; the locale is their lower case.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prism_pipeline.prism.codebook import AGE_BANDS, CENSUS_ETHNICITY_OF, CENSUS_SEXES
from prism_pipeline.prism.sampling.census import CELL_KEYS, COUNTRIES

__all__ = [
    "MODES",
    "POOL_COLUMNS",
    "REFERENCE_N",
    "REFERENCE_SEED",
    "RepDraw",
    "cell_quotas",
    "census_pool",
    "draw_rep",
    "pool_attrition",
    "rep_flags",
    "select_rep",
    "stable_rank_key",
]

#: Reference configuration (SPEC §4): N = 300, seed 42.
REFERENCE_N = 300
REFERENCE_SEED = 42
MODES = ("reference", "stable")
POOL_COLUMNS = ("user_id", *CELL_KEYS)


def _check_country(country: str) -> str:
    if country not in COUNTRIES:
        raise ValueError(f"country must be one of {COUNTRIES}, got {country!r}")
    return country.lower()


def _pool_steps(survey: pd.DataFrame, balanced_flags: pd.Series, country: str) -> dict[str, pd.Series]:
    """The cumulative pool masks of SPEC §4.2, aligned to the survey."""
    locale = _check_country(country)
    if not balanced_flags.index.equals(survey.index):
        raise ValueError("balanced_flags must be aligned to survey.index")
    in_locale = survey["study_locale"].eq(locale).fillna(False).astype(bool)
    completed = in_locale & ~survey["survey_only"].astype(bool) & balanced_flags.fillna(False).astype(bool)
    binary = completed & survey["gender"].isin(CENSUS_SEXES)
    with_cell = (
        binary & survey["age"].isin(AGE_BANDS) & survey["ethnicity.categorised"].isin(list(CENSUS_ETHNICITY_OF))
    )
    return {
        "study_locale": in_locale,
        "completed, balanced": completed,
        "binary gender": binary,
        "with a valid cell": with_cell,
    }


def census_pool(survey: pd.DataFrame, balanced_flags: pd.Series, country: str) -> pd.DataFrame:
    """The eligible participants of one country, in survey file order (SPEC §4.2).

    ``survey`` needs ``user_id, survey_only, study_locale, gender, age, ethnicity.categorised``;
    ``balanced_flags`` is the survey-level balanced flag aligned to ``survey.index``. Returns
    ``user_id, country, age_band, census_ethnicity, sex`` for participants with a valid cell only,
    with a fresh RangeIndex.
    """
    eligible = _pool_steps(survey, balanced_flags, country)["with a valid cell"]
    rows = survey.loc[eligible]
    pool = pd.DataFrame(
        {
            "user_id": rows["user_id"].to_numpy(),
            "country": country,
            "age_band": rows["age"].to_numpy(),
            "census_ethnicity": rows["ethnicity.categorised"].map(CENSUS_ETHNICITY_OF).to_numpy(),
            "sex": rows["gender"].to_numpy(),
        }
    )
    if pool["user_id"].duplicated().any():
        raise ValueError(f"{country} pool has a duplicated user_id")
    return pool


def pool_attrition(survey: pd.DataFrame, balanced_flags: pd.Series, country: str) -> pd.DataFrame:
    """Participants left after each pool step (SPEC §4.2 table): ``country, step, participants``."""
    steps = _pool_steps(survey, balanced_flags, country)
    return pd.DataFrame(
        {"country": country, "step": list(steps), "participants": [int(mask.sum()) for mask in steps.values()]}
    )


def cell_quotas(cells: pd.DataFrame, n: int = REFERENCE_N) -> pd.DataFrame:
    """``cells`` plus ``quota`` = floor(share_of_adults × n) + 1 per cell (SPEC §4.3).

    Computed exactly as ``population * n // country total + 1``; the country total is the sum of
    the country's cells in ``cells`` (all 60 of them in a census_cells table).
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    population = cells["population"].astype(np.int64)
    total = population.groupby(cells["country"]).transform("sum")
    quotas = cells.copy()
    quotas["quota"] = (population * n // total + 1).astype(np.int64)
    return quotas


def stable_rank_key(user_ids: pd.Series, seed: int = REFERENCE_SEED) -> np.ndarray:
    """BLAKE2b-64 of each user id keyed with ``str(seed)``, as uint64 (SPEC §7.7 stable rule)."""
    key = str(seed).encode("utf-8")
    digests = [
        int.from_bytes(hashlib.blake2b(str(u).encode("utf-8"), key=key, digest_size=8).digest(), "big")
        for u in user_ids
    ]
    return np.array(digests, dtype=np.uint64)


def _quota_per_row(pool: pd.DataFrame, quotas: pd.DataFrame) -> np.ndarray:
    keyed = pool.loc[:, list(CELL_KEYS)].merge(
        quotas.loc[:, [*CELL_KEYS, "quota"]], on=list(CELL_KEYS), how="left", validate="many_to_one"
    )
    if keyed["quota"].isna().any():
        first = keyed.loc[keyed["quota"].isna(), list(CELL_KEYS)].iloc[0].tolist()
        raise ValueError(f"pool has a cell without a quota: {first}")
    return keyed["quota"].to_numpy(dtype=np.int64)


def select_rep(
    pool: pd.DataFrame, quotas: pd.DataFrame, mode: str = "reference", seed: int = REFERENCE_SEED
) -> pd.Series:
    """Which pool rows are selected (SPEC §4.3 / §7.7); bool Series aligned to ``pool.index``.

    ``pool`` rows must be in survey file order (that order matters for ``mode="reference"`` only).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    selected = np.zeros(len(pool), dtype=bool)
    if pool.empty:
        return pd.Series(selected, index=pool.index, name="selected")
    quota = _quota_per_row(pool, quotas)
    cell = pool.groupby(list(CELL_KEYS), sort=False).ngroup().to_numpy()

    if mode == "reference":
        # One fresh RandomState(seed) per cell over the cell's candidates in file order; a short
        # cell keeps everyone (the reference caught pandas' ValueError for q > n).
        for c in np.unique(cell):
            rows = np.flatnonzero(cell == c)
            q, n = int(quota[rows[0]]), len(rows)
            chosen = rows[np.random.RandomState(seed).permutation(n)[:q]] if q <= n else rows
            selected[chosen] = True
    else:
        ranked = pd.DataFrame(
            {"cell": cell, "key": stable_rank_key(pool["user_id"], seed),
             "user_id": pool["user_id"].astype(str).to_numpy()}
        ).sort_values(["cell", "key", "user_id"], kind="stable")
        position = ranked.groupby("cell", sort=False).cumcount().to_numpy()
        order = ranked.index.to_numpy()
        selected[order] = position < quota[order]
    return pd.Series(selected, index=pool.index, name="selected")


@dataclass(frozen=True)
class RepDraw:
    """Everything one country's draw produced: the pool, the quotas, the selection and the flags."""

    country: str
    pool: pd.DataFrame  # census_pool(...)
    quotas: pd.DataFrame  # the country's census cells + quota
    selected: pd.Series  # bool, aligned to pool.index
    flags: pd.Series  # bool, aligned to survey.index, named included_in_<country>_REP


def draw_rep(
    survey: pd.DataFrame,
    balanced_flags: pd.Series,
    cells: pd.DataFrame,
    country: str,
    n: int = REFERENCE_N,
    mode: str = "reference",
    seed: int = REFERENCE_SEED,
) -> RepDraw:
    """Pool, quotas and selection for one country (SPEC §4.2–§4.3)."""
    _check_country(country)
    country_cells = cells.loc[cells["country"] == country].reset_index(drop=True)
    if country_cells.empty:
        raise ValueError(f"census cells have no rows for {country}")
    pool = census_pool(survey, balanced_flags, country)
    quotas = cell_quotas(country_cells, n)
    selected = select_rep(pool, quotas, mode=mode, seed=seed)
    flags = survey["user_id"].isin(pool.loc[selected, "user_id"]).astype(bool)
    flags.name = f"included_in_{country}_REP"
    return RepDraw(country=country, pool=pool, quotas=quotas, selected=selected, flags=flags)


def rep_flags(
    survey: pd.DataFrame,
    balanced_flags: pd.Series,
    cells: pd.DataFrame,
    country: str,
    n: int = REFERENCE_N,
    mode: str = "reference",
    seed: int = REFERENCE_SEED,
) -> pd.Series:
    """``included_in_<country>_REP`` aligned to ``survey.index`` (SPEC §4)."""
    return draw_rep(survey, balanced_flags, cells, country, n=n, mode=mode, seed=seed).flags
