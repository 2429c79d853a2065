"""SPEC §4.1, §6, §7.5: census tables parsed from the shipped files, and their manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism_pipeline.prism.codebook import AGE_BANDS, CENSUS_ETHNICITIES, CENSUS_SEXES
from prism_pipeline.prism.sampling import census
from prism_pipeline.prism.sampling.census import (
    CELL_COLUMNS,
    CensusFileError,
    census_cells_from_counts,
    load_census_cells,
    read_census_cells_csv,
    uk_census_cells,
    us_census_cells,
    verify_manifest,
)

CENSUS_DIR = Path(__file__).resolve().parents[1] / "data" / "reference" / "census"


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return load_census_cells(CENSUS_DIR)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(CENSUS_DIR / "reference_cells.csv").rename(columns={"age_category": "age_band"})


def test_cells_shape_labels_and_order(cells):
    assert tuple(cells.columns) == CELL_COLUMNS
    assert len(cells) == 120
    grid = pd.MultiIndex.from_product([["UK", "US"], AGE_BANDS, CENSUS_ETHNICITIES, CENSUS_SEXES])
    assert list(cells.set_index(["country", "age_band", "census_ethnicity", "sex"]).index) == list(grid)
    assert cells["population"].dtype == np.int64


def test_population_and_share_equal_the_reference_run_for_all_120_cells(cells, reference):
    keys = ["country", "age_band", "census_ethnicity", "sex"]
    assert cells[keys].equals(reference[keys])
    assert cells["population"].tolist() == reference["population"].tolist()
    # pct_of_adults is printed with 6 decimals.
    assert np.round(cells["share_of_adults"] * 100, 6).tolist() == reference["pct_of_adults"].tolist()


def test_adult_totals(cells):
    totals = cells.groupby("country")["population"].sum()
    assert totals.to_dict() == {"UK": 47_204_870, "US": 298_477_760}
    shares = cells.groupby("country")["share_of_adults"].sum()
    assert shares.to_numpy() == pytest.approx([1.0, 1.0], abs=1e-12)


def test_uk_example_cells(cells):
    uk = cells.loc[cells["country"] == "UK"].set_index(["age_band", "census_ethnicity", "sex"])["population"]
    assert uk[("65+ years old", "White", "Female")] == 5_608_520
    assert uk[("18-24 years old", "Asian", "Male")] == 300_625


def test_uk_all_ages_total_is_england_and_wales(tmp_path):
    # SPEC §6: the 2021 all-age total is 59,597,020 (England & Wales), so the file is as documented.
    raw = pd.read_csv(CENSUS_DIR / "uk.csv", dtype=str, encoding="utf-8-sig")
    number = [c for c in raw.columns if "2021 (number)" in c]
    assert len(number) == 38  # 19 sub-groups × 2 sexes
    assert int(raw[number].astype(int).to_numpy().sum()) == 59_597_020


def test_us_eight_tables_double_count_hispanics():
    # SPEC §7.5: the reference construction sums to 386.1 M people for a ~333 M country.
    totals = {
        "B01001H": 192_153_076, "B01001B": 40_603_656, "B01001I": 63_553_639, "B01001G": 41_782_289,
        "B01001F": 24_444_482, "B01001D": 19_696_980, "B01001C": 3_205_331, "B01001E": 665_807,
    }
    read = {}
    for file, (table, _) in census.US_TABLES.items():
        long = census._read_acs_workbook(CENSUS_DIR / file, table)
        read[table] = int(long["estimate"].sum())
    assert read == totals
    assert sum(read.values()) == 386_105_260


def test_us_other_is_inflated_to_a_fifth_of_adults(cells):
    us = cells.loc[cells["country"] == "US"]
    other = us.loc[us["census_ethnicity"] == "Other"].groupby("sex")["share_of_adults"].sum()
    assert round(100 * other.sum(), 1) == 21.9
    assert np.round(100 * other, 1).to_dict() == {"Female": 10.8, "Male": 11.1}


def test_us_corrected_mode_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"US census mode 'corrected' is not available: the eight ACS files"):
        us_census_cells(CENSUS_DIR, mode="corrected")


def _copy_census(tmp_path: Path) -> Path:
    target = tmp_path / "census"
    shutil.copytree(CENSUS_DIR, target)
    return target


def test_manifest_lists_every_file_with_licence_and_hash():
    manifest = pd.read_csv(CENSUS_DIR / "MANIFEST.csv", dtype=str, keep_default_na=False)
    files = sorted(p.name for p in CENSUS_DIR.iterdir() if p.name != "MANIFEST.csv")
    assert sorted(manifest["file"]) == files
    assert (manifest["sha256"].str.fullmatch(r"[0-9a-f]{64}")).all()
    by_file = manifest.set_index("file")
    assert by_file.loc["uk.csv", "licence"].startswith("Open Government Licence v3.0")
    for file, (table, _) in census.US_TABLES.items():
        assert by_file.loc[file, "table_id"] == table
        assert by_file.loc[file, "accessed"] == "2024-01-26"
        assert by_file.loc[file, "licence"].startswith("Public domain")
    verify_manifest(CENSUS_DIR)


def test_verify_manifest_names_an_altered_file(tmp_path):
    census_dir = _copy_census(tmp_path)
    with (census_dir / "uk.csv").open("a", encoding="utf-8") as handle:
        handle.write("\n")
    with pytest.raises(CensusFileError, match=r"^uk\.csv: sha256 [0-9a-f]{64} differs from MANIFEST\.csv"):
        verify_manifest(census_dir)
    with pytest.raises(CensusFileError, match=r"^uk\.csv: sha256"):
        load_census_cells(census_dir)


def test_verify_manifest_names_a_missing_and_an_unlisted_file(tmp_path):
    census_dir = _copy_census(tmp_path)
    (census_dir / "us_census_age_sex_nativeonly.xlsx").unlink()
    with pytest.raises(CensusFileError, match=r"^us_census_age_sex_nativeonly\.xlsx: listed in MANIFEST\.csv "
                                              r"but missing"):
        verify_manifest(census_dir)

    census_dir = _copy_census(tmp_path / "second")
    (census_dir / "extra.csv").write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(CensusFileError, match=r"^extra\.csv: not listed in MANIFEST\.csv"):
        verify_manifest(census_dir)


def test_a_renamed_us_workbook_is_caught_by_its_table_id(tmp_path):
    census_dir = _copy_census(tmp_path)
    black = census_dir / "us_census_age_sex_blackonly.xlsx"
    asian = census_dir / "us_census_age_sex_asianonly.xlsx"
    black_bytes = black.read_bytes()
    black.write_bytes(asian.read_bytes())
    asian.write_bytes(black_bytes)
    with pytest.raises(CensusFileError, match=r"TABLE ID is 'B01001D', expected 'B01001B'"):
        us_census_cells(census_dir)


def test_uk_unknown_group_is_an_error(tmp_path):
    census_dir = tmp_path / "census"
    census_dir.mkdir()
    text = (CENSUS_DIR / "uk.csv").read_text(encoding="utf-8-sig").replace("Other ethnic group: Arab", "Arabic: Arab")
    (census_dir / "uk.csv").write_text(text, encoding="utf-8")
    with pytest.raises(CensusFileError, match=r"uk\.csv: unknown ethnic group\(s\) \['Arabic'\]"):
        uk_census_cells(census_dir)


def test_tidy_csv_round_trip_and_validation(tmp_path, cells):
    path = tmp_path / "census_cells.csv"
    cells.drop(columns="share_of_adults").to_csv(path, index=False)
    again = read_census_cells_csv(path)
    pd.testing.assert_frame_equal(again, cells)

    incomplete = cells.drop(columns="share_of_adults").iloc[1:]
    with pytest.raises(CensusFileError, match=r"do not cover exactly the 120 cells; first mismatch "
                                              r"\['UK', '18-24 years old', 'Asian', 'Female'\]"):
        census_cells_from_counts(incomplete)
    duplicated = pd.concat([cells.iloc[:1], cells], ignore_index=True).drop(columns="share_of_adults")
    with pytest.raises(CensusFileError, match=r"repeat 1 cell"):
        census_cells_from_counts(duplicated)
    negative = cells.drop(columns="share_of_adults").assign(population=-1)
    with pytest.raises(CensusFileError, match="non-negative whole numbers"):
        census_cells_from_counts(negative)
