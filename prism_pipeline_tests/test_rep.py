"""SPEC §4.2–§4.3 and §7.7: the UK/US census pools, quotas and selections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism_pipeline.prism.codebook import AGE_BANDS, CENSUS_ETHNICITY_OF
from prism_pipeline.prism.sampling.balanced import balanced_conversation_flags, balanced_user_flags
from prism_pipeline.prism.sampling.census import load_census_cells
from prism_pipeline.prism.sampling.rep import (
    cell_quotas,
    census_pool,
    draw_rep,
    pool_attrition,
    rep_flags,
    select_rep,
    stable_rank_key,
)

CENSUS_DIR = Path(__file__).resolve().parents[1] / "data" / "reference" / "census"
KEYS = ["country", "age_band", "census_ethnicity", "sex"]
# census ethnicity -> one ethnicity.categorised value that maps to it
CATEGORISED_OF = {"White": "White", "Black": "Black / African", "Asian": "Asian", "Mixed": "Mixed",
                  "Other": "Hispanic / Latino"}


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return load_census_cells(CENSUS_DIR)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(CENSUS_DIR / "reference_cells.csv").rename(columns={"age_category": "age_band"})


def _survey_row(user_id, locale="uk", age="25-34 years old", gender="Female", ethnicity="White", survey_only=False):
    return {
        "user_id": user_id,
        "survey_only": survey_only,
        "study_locale": locale,
        "gender": gender,
        "age": age,
        "ethnicity.categorised": ethnicity,
    }


def _survey(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Quotas and the golden per-cell counts of the reference run
# ---------------------------------------------------------------------------------------------
def test_quotas_equal_the_reference_and_the_float_formula(cells, reference):
    quotas = cell_quotas(cells, n=300)
    assert quotas["quota"].tolist() == reference["quota_n300"].tolist()
    float_formula = np.floor(cells["share_of_adults"] * 300).astype(int) + 1
    assert quotas["quota"].tolist() == float_formula.tolist()
    assert quotas.groupby("country")["quota"].sum().to_dict() == {"UK": 331, "US": 332}


def test_quota_is_exact_on_a_whole_number_boundary():
    # 1/3 of 300 is exactly 100: integer arithmetic gives 101, never 100.
    cells = pd.DataFrame(
        {"country": ["UK"] * 2, "age_band": AGE_BANDS[:2], "census_ethnicity": "White", "sex": "Male",
         "population": [1, 2]}
    )
    assert cell_quotas(cells, n=300)["quota"].tolist() == [101, 201]


def _pool_from_reference(reference: pd.DataFrame) -> pd.DataFrame:
    sizes = reference["pool_available_in_reference_run"].to_numpy()
    pool = reference.loc[reference.index.repeat(sizes), KEYS].reset_index(drop=True)
    pool.insert(0, "user_id", [f"p{i}" for i in range(len(pool))])
    return pool


@pytest.mark.parametrize("mode", ["reference", "stable"])
def test_golden_per_cell_selected_counts(cells, reference, mode):
    pool = _pool_from_reference(reference)
    quotas = cell_quotas(cells)
    selected = select_rep(pool, quotas, mode=mode, seed=42)
    per_cell = (
        pool.assign(selected=selected.to_numpy()).groupby(KEYS, sort=False)["selected"].sum()
        .reindex(pd.MultiIndex.from_frame(reference[KEYS]), fill_value=0)
    )
    assert per_cell.tolist() == reference["selected_in_reference_run"].tolist()
    totals = pool.assign(selected=selected.to_numpy()).groupby("country")["selected"].sum().to_dict()
    assert totals == {"UK": 243, "US": 230}
    assert pool.groupby("country").size().to_dict() == {"UK": 274, "US": 287}


def test_golden_through_the_survey_path_with_every_exclusion(cells, reference):
    rows, balanced = [], []
    k = 0
    for cell in reference.itertuples():
        locale = cell.country.lower()
        for _ in range(cell.pool_available_in_reference_run):
            rows.append(_survey_row(f"user{k}", locale, cell.age_band, cell.sex, CATEGORISED_OF[cell.census_ethnicity]))
            balanced.append(True)
            k += 1
    # People who must never enter a pool.
    noise = [
        (_survey_row("x0", "uk", survey_only=True), False),
        (_survey_row("x1", "uk"), False),  # lacks a conversation type
        (_survey_row("x2", "uk", gender="Non-binary / third gender"), True),
        (_survey_row("x3", "us", gender="Prefer not to say"), True),
        (_survey_row("x4", "uk", age="Prefer not to say"), True),
        (_survey_row("x5", "us", ethnicity="Prefer not to say"), True),
        (_survey_row("x6", "de"), True),
        (_survey_row("x7", "UK"), True),  # the locale is lower case; "UK" is not "uk"
    ]
    for row, flag in noise:
        rows.insert(len(rows) // 2, row)
        balanced.insert(len(balanced) // 2, flag)
    survey = _survey(rows)
    flags = pd.Series(balanced, index=survey.index)

    uk = rep_flags(survey, flags, cells, "UK")
    us = rep_flags(survey, flags, cells, "US")
    assert (int(uk.sum()), int(us.sum())) == (243, 230)
    assert uk.name == "included_in_UK_REP" and us.name == "included_in_US_REP"
    assert not (uk & us).any()
    noise_rows = survey["user_id"].str.startswith("x")
    assert not uk[noise_rows].any() and not us[noise_rows].any()

    attrition = pool_attrition(survey, flags, "UK")
    assert attrition["step"].tolist() == ["study_locale", "completed, balanced", "binary gender", "with a valid cell"]
    assert attrition["participants"].tolist() == [274 + 4, 274 + 2, 274 + 1, 274]
    assert pool_attrition(survey, flags, "US")["participants"].tolist() == [287 + 2, 287 + 2, 287 + 1, 287]


# ---------------------------------------------------------------------------------------------
# Exact rules on hand-made pools
# ---------------------------------------------------------------------------------------------
def _one_cell_quotas(quota: int, country: str = "UK", age="25-34 years old", ethnicity="White", sex="Female"):
    return pd.DataFrame(
        {"country": [country], "age_band": [age], "census_ethnicity": [ethnicity], "sex": [sex], "quota": [quota]}
    )


@pytest.mark.parametrize(("n", "q"), [(1, 1), (5, 2), (8, 3), (13, 13), (21, 4), (40, 17)])
def test_reference_selection_is_the_first_q_of_a_fresh_permutation(n, q):
    pool = pd.DataFrame({"user_id": [f"u{i}" for i in range(n)], "country": "UK", "age_band": "25-34 years old",
                         "census_ethnicity": "White", "sex": "Female"})
    selected = select_rep(pool, _one_cell_quotas(q), mode="reference", seed=42)
    assert (sorted(np.flatnonzero(selected.to_numpy()).tolist())
            == sorted(np.random.RandomState(42).permutation(n)[:q].tolist()))
    # = pandas' sample(q, random_state=42), as the notebook ran it.
    assert sorted(pool.sample(q, random_state=42).index.tolist()) == np.flatnonzero(selected.to_numpy()).tolist()


def test_short_cell_keeps_everyone_and_cells_draw_independently():
    pool = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d", "e", "f", "g"],
            "country": "UK",
            "age_band": ["18-24 years old", "65+ years old", "18-24 years old", "65+ years old",
                         "65+ years old", "65+ years old", "18-24 years old"],
            "census_ethnicity": "White",
            "sex": "Male",
        }
    )
    quotas = pd.concat(
        [_one_cell_quotas(5, age="18-24 years old", sex="Male"), _one_cell_quotas(2, age="65+ years old", sex="Male")],
        ignore_index=True,
    )
    selected = select_rep(pool, quotas, mode="reference", seed=42)
    old = np.flatnonzero(pool["age_band"].eq("65+ years old").to_numpy())  # b, d, e, f in file order
    expected_old = set(old[np.random.RandomState(42).permutation(4)[:2]])
    assert set(np.flatnonzero(selected.to_numpy())) == {0, 2, 6} | expected_old
    assert selected.index.equals(pool.index)


def test_pool_exclusions_and_ethnicity_mapping():
    survey = _survey(
        [
            _survey_row("u0", ethnicity="Hispanic / Latino"),
            _survey_row("u1", ethnicity="Middle Eastern / Arab"),
            _survey_row("u2", ethnicity="Indigenous / First Peoples"),
            _survey_row("u3", ethnicity="Black / African"),
            _survey_row("u4", ethnicity="Prefer not to say"),
            _survey_row("u5", age="Prefer not to say"),
            _survey_row("u6", gender="Non-binary / third gender"),
            _survey_row("u7", gender="Male", ethnicity="Mixed"),
            _survey_row("u8", survey_only=True),
            _survey_row("u9", locale="us"),
        ]
    ).set_axis(list(range(100, 110)))
    pool = census_pool(survey, pd.Series(True, index=survey.index), "UK")
    assert pool.to_dict("list") == {
        "user_id": ["u0", "u1", "u2", "u3", "u7"],
        "country": ["UK"] * 5,
        "age_band": ["25-34 years old"] * 5,
        "census_ethnicity": ["Other", "Other", "Other", "Black", "Mixed"],
        "sex": ["Female", "Female", "Female", "Female", "Male"],
    }
    assert pool.index.equals(pd.RangeIndex(5))
    assert set(CENSUS_ETHNICITY_OF) == {"White", "Black / African", "Asian", "Mixed", "Hispanic / Latino",
                                        "Middle Eastern / Arab", "Indigenous / First Peoples", "Other"}


def test_prefer_not_to_say_and_non_binary_are_never_selected_even_with_huge_quotas(cells):
    survey = _survey(
        [
            _survey_row("a", ethnicity="Prefer not to say"),
            _survey_row("b", age="Prefer not to say"),
            _survey_row("c", gender="Non-binary / third gender"),
            _survey_row("d", gender="Prefer not to say"),
            _survey_row("e"),
        ]
    )
    flags = rep_flags(survey, pd.Series(True, index=survey.index), cells, "UK", n=10_000)
    assert flags.tolist() == [False, False, False, False, True]


def test_users_lacking_a_conversation_type_are_excluded_through_the_balanced_flags(cells):
    conversations = pd.DataFrame(
        {
            "conversation_id": [f"c{i}" for i in range(7)],
            "user_id": ["u0", "u0", "u0", "u1", "u1", "u2", "u2"],
            "conversation_type": ["unguided", "values", "controversy", "unguided", "values", "values", "unguided"],
        }
    )
    survey = _survey([_survey_row("u0"), _survey_row("u1"), _survey_row("u2", survey_only=True)])
    balanced = balanced_user_flags(survey["user_id"], conversations, balanced_conversation_flags(conversations))
    assert balanced.tolist() == [True, False, False]
    assert rep_flags(survey, balanced, cells, "UK").tolist() == [True, False, False]


def test_draw_rep_returns_consistent_parts(cells):
    survey = _survey([_survey_row(f"u{i}", age=AGE_BANDS[i % 6]) for i in range(30)])
    draw = draw_rep(survey, pd.Series(True, index=survey.index), cells, "UK", mode="stable", seed=1)
    assert draw.country == "UK"
    assert len(draw.quotas) == 60 and set(draw.quotas["country"]) == {"UK"}
    assert draw.selected.index.equals(draw.pool.index)
    assert sorted(survey.loc[draw.flags, "user_id"]) == sorted(draw.pool.loc[draw.selected, "user_id"])


def test_input_errors(cells):
    survey = _survey([_survey_row("u0")])
    ok = pd.Series(True, index=survey.index)
    with pytest.raises(ValueError, match=r"country must be one of \('UK', 'US'\), got 'uk'"):
        census_pool(survey, ok, "uk")
    with pytest.raises(ValueError, match="balanced_flags must be aligned to survey.index"):
        census_pool(survey, pd.Series([True], index=[9]), "UK")
    with pytest.raises(ValueError, match=r"mode must be one of \('reference', 'stable'\), got 'random'"):
        rep_flags(survey, ok, cells, "UK", mode="random")
    pool = census_pool(survey, ok, "UK")
    with pytest.raises(ValueError, match=r"pool has a cell without a quota: "
                                         r"\['UK', '25-34 years old', 'White', 'Female'\]"):
        select_rep(pool, _one_cell_quotas(1, sex="Male"))
    with pytest.raises(ValueError, match="duplicated user_id"):
        census_pool(_survey([_survey_row("u0"), _survey_row("u0")]), pd.Series([True, True]), "UK")


# ---------------------------------------------------------------------------------------------
# Stable mode (SPEC §7.7)
# ---------------------------------------------------------------------------------------------
CELLS = [("UK", "18-24 years old", "White", "Female"), ("UK", "65+ years old", "Asian", "Male"),
         ("UK", "35-44 years old", "Other", "Male")]


@st.composite
def pools(draw):
    n = draw(st.integers(min_value=1, max_value=40))
    ids = draw(st.lists(st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=6), min_size=n, max_size=n,
                        unique=True))
    cell_of = draw(st.lists(st.integers(0, len(CELLS) - 1), min_size=n, max_size=n))
    pool = pd.DataFrame([(u, *CELLS[c]) for u, c in zip(ids, cell_of)], columns=["user_id", *KEYS])
    quota = draw(st.lists(st.integers(1, 8), min_size=len(CELLS), max_size=len(CELLS)))
    quotas = pd.DataFrame(CELLS, columns=KEYS).assign(quota=quota)
    seed = draw(st.integers(0, 2**31 - 1))
    return pool, quotas, seed


def _chosen(pool, quotas, seed, mode="stable"):
    selected = select_rep(pool, quotas, mode=mode, seed=seed)
    return set(pool.loc[selected, "user_id"])


@settings(max_examples=80, deadline=None)
@given(pools(), st.data())
def test_stable_removal_changes_at_most_one_other_selection_in_the_same_cell(case, data):
    pool, quotas, seed = case
    before = _chosen(pool, quotas, seed)
    gone = data.draw(st.integers(0, len(pool) - 1))
    removed = pool.iloc[gone]
    after = _chosen(pool.drop(index=gone).reset_index(drop=True), quotas, seed)

    changed = (before - {removed["user_id"]}) ^ after
    assert len(changed) <= 1
    if removed["user_id"] not in before:
        assert not changed
    if changed:
        (other,) = changed
        assert other in after  # someone can only move in, never out
        row = pool.loc[pool["user_id"] == other].iloc[0]
        assert tuple(row[KEYS]) == tuple(removed[KEYS])


@settings(max_examples=60, deadline=None)
@given(pools(), st.integers(0, len(CELLS) - 1))
def test_stable_addition_changes_at_most_one_other_selection_in_the_same_cell(case, cell):
    pool, quotas, seed = case
    before = _chosen(pool, quotas, seed)
    newcomer = pd.DataFrame([("NEW", *CELLS[cell])], columns=["user_id", *KEYS])
    after = _chosen(pd.concat([pool, newcomer], ignore_index=True), quotas, seed)
    changed = before ^ (after - {"NEW"})
    assert len(changed) <= 1
    if changed:
        (other,) = changed
        assert other in before and tuple(pool.loc[pool["user_id"] == other, KEYS].iloc[0]) == CELLS[cell]


@settings(max_examples=50, deadline=None)
@given(pools(), st.randoms(use_true_random=False))
def test_stable_is_deterministic_and_ignores_file_order(case, rnd):
    pool, quotas, seed = case
    first = select_rep(pool, quotas, mode="stable", seed=seed)
    assert first.equals(select_rep(pool.copy(), quotas, mode="stable", seed=seed))
    order = list(range(len(pool)))
    rnd.shuffle(order)
    assert _chosen(pool.iloc[order].reset_index(drop=True), quotas, seed) == set(pool.loc[first, "user_id"])
    # Per cell exactly min(q, n) are selected.
    counts = pool.assign(s=first.to_numpy()).groupby(KEYS)["s"].agg(["size", "sum"])
    quota = quotas.set_index(KEYS)["quota"].reindex(counts.index)
    assert (counts["sum"] == np.minimum(counts["size"], quota)).all()


def test_stable_rank_key_is_keyed_blake2b():
    import hashlib

    keys = stable_rank_key(pd.Series(["user7", "user8"]), seed=42)
    expected = int.from_bytes(hashlib.blake2b(b"user7", key=b"42", digest_size=8).digest(), "big")
    assert keys.dtype == np.uint64 and int(keys[0]) == expected
    assert not np.array_equal(keys, stable_rank_key(pd.Series(["user7", "user8"]), seed=43))


def test_reference_mode_can_flip_other_people_on_removal():
    # The weakness SPEC §7.7 describes: in reference mode a removal redraws the whole cell.
    pool = pd.DataFrame({"user_id": [f"u{i}" for i in range(10)], "country": "UK", "age_band": "25-34 years old",
                         "census_ethnicity": "White", "sex": "Female"})
    quotas = _one_cell_quotas(4)
    before = _chosen(pool, quotas, 42, mode="reference")
    after = _chosen(pool.drop(index=9).reset_index(drop=True), quotas, 42, mode="reference")
    assert "u9" not in before
    assert len(before ^ after) >= 2


# ---------------------------------------------------------------------------------------------
# QA tables and chart (qa.py)
# ---------------------------------------------------------------------------------------------
def _hand_made_draw():
    cells = pd.DataFrame(
        [
            ("UK", "18-24 years old", "White", "Female", 600),
            ("UK", "18-24 years old", "White", "Male", 300),
            ("UK", "65+ years old", "Asian", "Male", 100),
            ("US", "18-24 years old", "Black", "Female", 1),
            ("US", "18-24 years old", "Black", "Male", 3),
        ],
        columns=[*KEYS, "population"],
    )
    cells["share_of_adults"] = cells["population"] / cells.groupby("country")["population"].transform("sum")
    quotas = cell_quotas(cells, n=4)  # UK: 3, 2, 1; US: 2, 4
    pool = pd.DataFrame(
        [
            ("a", "UK", "18-24 years old", "White", "Female"),
            ("b", "UK", "18-24 years old", "White", "Female"),
            ("c", "UK", "18-24 years old", "White", "Female"),
            ("d", "UK", "18-24 years old", "White", "Female"),
            ("e", "UK", "18-24 years old", "White", "Male"),
            ("f", "US", "18-24 years old", "Black", "Female"),
        ],
        columns=["user_id", *KEYS],
    )
    selected = select_rep(pool, quotas, mode="reference", seed=42)
    return quotas, pool, selected


def test_rep_cell_table_and_summary_exact():
    from prism_pipeline.prism.sampling.qa import REP_TABLE_COLUMNS, rep_cell_table, rep_summary

    quotas, pool, selected = _hand_made_draw()
    assert quotas["quota"].tolist() == [3, 2, 1, 2, 4]
    table = rep_cell_table(quotas, pool, selected)
    assert tuple(table.columns) == REP_TABLE_COLUMNS
    assert "user_id" not in table.columns
    assert table[KEYS].equals(quotas[KEYS])
    assert table["pool"].tolist() == [4, 1, 0, 1, 0]
    assert table["selected"].tolist() == [3, 1, 0, 1, 0]
    np.testing.assert_allclose(table["census_pct"], [60.0, 30.0, 10.0, 25.0, 75.0], rtol=1e-12)
    np.testing.assert_allclose(table["pool_pct"], [80.0, 20.0, 0.0, 100.0, 0.0], rtol=1e-12)
    np.testing.assert_allclose(table["sample_pct"], [75.0, 25.0, 0.0, 100.0, 0.0], rtol=1e-12)
    np.testing.assert_allclose(table["sample_minus_census_pct"], [15.0, -5.0, -10.0, 75.0, -75.0], rtol=1e-12)

    summary = rep_summary(table)
    assert summary.to_dict("list") == {
        "country": ["UK", "US"],
        "pool": [5, 1],
        "quota_total": [6, 6],
        "short_cells": [2, 2],
        "shortfall": [2, 5],
        "selected": [4, 1],
    }


def test_rep_summary_of_the_reference_run(cells, reference):
    from prism_pipeline.prism.sampling.qa import rep_cell_table, rep_summary

    pool = _pool_from_reference(reference)
    quotas = cell_quotas(cells)
    summary = rep_summary(rep_cell_table(quotas, pool, select_rep(pool, quotas)))
    # SPEC §4.3 results table.
    assert summary.to_dict("list") == {
        "country": ["UK", "US"],
        "pool": [274, 287],
        "quota_total": [331, 332],
        "short_cells": [32, 38],
        "shortfall": [88, 102],
        "selected": [243, 230],
    }


def test_rep_share_chart_is_a_deterministic_png_without_software_chunk(tmp_path):
    from prism_pipeline.prism.sampling.qa import rep_cell_table, rep_share_chart

    quotas, pool, selected = _hand_made_draw()
    table = rep_cell_table(quotas, pool, selected)
    path = tmp_path / "rep.png"
    data = rep_share_chart(table, path)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    assert path.read_bytes() == data
    assert b"Software" not in data and b"matplotlib" not in data
    assert rep_share_chart(table) == data
