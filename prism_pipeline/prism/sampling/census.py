"""Census tables for the UK/US representative samples (SPEC §4.1, §6, §7.5).

The output of this module is one tidy table, ``census_cells``, with one row per country × age band
× census ethnicity × sex (6 × 5 × 2 = 60 cells per country):

    country ("UK" | "US"), age_band, census_ethnicity, sex, population (int64), share_of_adults

``share_of_adults`` is the cell's population divided by the country's adult total over its 60
cells, as a fraction (the reference notebook printed it as a percentage; ``pct_of_adults`` in
``reference_cells.csv`` is ``100 * share_of_adults`` rounded to 6 decimals). Labels are the
codebook's: ``AGE_BANDS``, ``CENSUS_ETHNICITIES``, ``CENSUS_SEXES``.

UK (really England & Wales), ``uk.csv``, ONS Census 2021 (SPEC §4.1):
- only the "2021 (number)" columns; the 2011 columns and the percentage columns are ignored;
- ages >= 18; the "100+" row is read as 100;
- the sub-groups are summed into 5 groups by the text before ":" (``UK_GROUP_OF``);
- sex by the case-sensitive column substring "Female", else "Male" ("Male" is not in "Female");
- adult total 47,204,870.

US, the eight ACS 2022 1-year tables ``us_census_age_sex_*only.xlsx`` (SPEC §4.1):
- the Data sheet: "Total:", "Male:" + 14 age bands, "Female:" + the same 14 bands. The labels are
  checked against ``US_AGE_BAND_OF``, and each sex's bands must add up to its subtotal and the two
  sexes to the total, so a changed export fails loudly instead of shifting rows;
- each file's TABLE ID (Information sheet) must be the one ``US_TABLES`` expects, so a renamed file
  cannot be silently read as another group (the reference built file names from ethnicity names,
  SPEC §7.6);
- White = B01001H (White alone, *not Hispanic*); Black = B01001B; Asian = B01001D;
  Mixed = B01001G (two or more races); Other = B01001F (some other race) + B01001E (NHPI)
  + B01001C (AIAN) + B01001I (Hispanic or Latino of any race);
- adult total 298,477,760.

**Known flaw, reproduced on purpose (SPEC §7.5).** B01001B/C/D/E/F/G are race-alone tables that
*include* Hispanics of that race, and B01001I counts all Hispanics again, so every Hispanic who is
not White alone is counted twice. The eight tables sum to 386.1 M people (the US has about 333 M);
the adult base is 298.5 M instead of about 261 M; Other is inflated to 21.9 % of adults and Mixed is
inflated too. ``mode="reference"`` is the only mode offered for the US, because a corrected table
cannot be built from these eight files: ACS publishes no non-Hispanic version of the race tables
by age × sex (only B01001H for White), so the double-counted Hispanics cannot be assigned back to
their race table. A corrected US table needs another source, e.g. Census Bureau Population
Estimates (PEP) by age × sex × race × Hispanic origin with non-Hispanic race groups plus Hispanic.
Such a table can be fed in without code changes as a tidy CSV through
:func:`read_census_cells_csv` (SPEC §6 recommends shipping exactly that ``census_cells.csv``).

Provenance (SPEC §6): ``MANIFEST.csv`` in the census directory lists every file with its
publisher, source, table id, vintage, access date, licence and sha256; :func:`verify_manifest`
fails, naming the file, when a file is missing, altered or unlisted.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from prism_pipeline.prism.codebook import AGE_BANDS, CENSUS_ETHNICITIES, CENSUS_SEXES, REP_COUNTRIES

__all__ = [
    "CELL_COLUMNS",
    "CELL_KEYS",
    "COUNTRIES",
    "CensusFileError",
    "MANIFEST_NAME",
    "UK_FILE",
    "UK_GROUP_OF",
    "US_TABLES",
    "age_band_of_years",
    "census_cells_from_counts",
    "load_census_cells",
    "read_census_cells_csv",
    "uk_census_cells",
    "us_census_cells",
    "verify_manifest",
]

COUNTRIES = REP_COUNTRIES
CENSUS_DIRNAME = "census"  # in the reference dir: the tables and MANIFEST.csv
CELL_KEYS = ("country", "age_band", "census_ethnicity", "sex")
CELL_COLUMNS = (*CELL_KEYS, "population", "share_of_adults")
MANIFEST_NAME = "MANIFEST.csv"
MANIFEST_COLUMNS = ("file", "publisher", "source_url", "table_id", "vintage", "accessed", "licence", "sha256")

UK_FILE = "uk.csv"
#: ONS high-level group (text before ":") -> census ethnicity (SPEC §4.1).
UK_GROUP_OF = {
    "Asian/Asian British": "Asian",
    "Black/African/Caribbean/Black British": "Black",
    "Mixed or Multiple ethnic groups": "Mixed",
    "White": "White",
    "Other ethnic group": "Other",
}

#: file -> (ACS table id, census ethnicity), SPEC §4.1. Four tables are summed into Other.
US_TABLES = {
    "us_census_age_sex_whiteonly.xlsx": ("B01001H", "White"),
    "us_census_age_sex_blackonly.xlsx": ("B01001B", "Black"),
    "us_census_age_sex_asianonly.xlsx": ("B01001D", "Asian"),
    "us_census_age_sex_mixedonly.xlsx": ("B01001G", "Mixed"),
    "us_census_age_sex_otheronly.xlsx": ("B01001F", "Other"),
    "us_census_age_sex_islanderonly.xlsx": ("B01001E", "Other"),
    "us_census_age_sex_nativeonly.xlsx": ("B01001C", "Other"),
    "us_census_age_sex_hispaniconly.xlsx": ("B01001I", "Other"),
}

_B18_24, _B25_34, _B35_44, _B45_54, _B55_64, _B65 = AGE_BANDS
#: ACS age-band label -> survey age band; None = a child band, dropped (SPEC §4.1).
US_AGE_BAND_OF = {
    "Under 5 years": None,
    "5 to 9 years": None,
    "10 to 14 years": None,
    "15 to 17 years": None,
    "18 and 19 years": _B18_24,
    "20 to 24 years": _B18_24,
    "25 to 29 years": _B25_34,
    "30 to 34 years": _B25_34,
    "35 to 44 years": _B35_44,
    "45 to 54 years": _B45_54,
    "55 to 64 years": _B55_64,
    "65 to 74 years": _B65,
    "75 to 84 years": _B65,
    "85 years and over": _B65,
}

# Lower edges of AGE_BANDS in single years.
_BAND_EDGES = np.array([18, 25, 35, 45, 55, 65])


class CensusFileError(ValueError):
    """A census file is missing, altered, unlisted or not in the expected layout."""


def age_band_of_years(years: pd.Series) -> pd.Series:
    """Single years of age -> survey age band label; ages under 18 -> None."""
    values = years.to_numpy(dtype=np.int64)
    index = np.searchsorted(_BAND_EDGES, values, side="right") - 1
    labels = np.array([None, *AGE_BANDS], dtype=object)[index + 1]
    return pd.Series(labels, index=years.index, dtype=object)


def _full_grid(country: str) -> pd.DataFrame:
    return pd.MultiIndex.from_product(
        [[country], AGE_BANDS, CENSUS_ETHNICITIES, CENSUS_SEXES], names=list(CELL_KEYS)
    ).to_frame(index=False)


def census_cells_from_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """Validate per-cell adult counts and add ``share_of_adults`` (SPEC §4.1).

    ``counts`` has the columns ``country, age_band, census_ethnicity, sex, population`` with exactly
    one row for each of the 60 cells of each country present. Returns the ``census_cells`` table in
    canonical order (country, then codebook order of age band, ethnicity, sex).
    """
    missing = [c for c in (*CELL_KEYS, "population") if c not in counts.columns]
    if missing:
        raise CensusFileError(f"census counts lack the column(s) {missing}")
    countries = [c for c in COUNTRIES if c in set(counts["country"])]
    unknown = set(counts["country"]) - set(COUNTRIES)
    if unknown or not countries:
        raise CensusFileError(f"census countries must be among {COUNTRIES}; "
                              f"got {sorted(map(str, set(counts['country'])))}")
    grid = pd.concat([_full_grid(c) for c in countries], ignore_index=True)
    keyed = counts.loc[:, [*CELL_KEYS, "population"]]
    duplicated = keyed.duplicated(list(CELL_KEYS))
    if duplicated.any():
        raise CensusFileError(f"census counts repeat {int(duplicated.sum())} cell(s), "
                              f"e.g. {keyed.loc[duplicated].iloc[0, :4].tolist()}")
    merged = grid.merge(keyed, on=list(CELL_KEYS), how="outer", indicator=True)
    if not (merged["_merge"] == "both").all():
        bad = merged.loc[merged["_merge"] != "both", list(CELL_KEYS)].iloc[0].tolist()
        raise CensusFileError(f"census counts do not cover exactly the {len(grid)} cells; first mismatch {bad}")
    merged = grid.merge(keyed, on=list(CELL_KEYS), how="left")  # grid order
    population = pd.to_numeric(merged["population"], errors="raise")
    if population.isna().any() or (population < 0).any() or not (population == np.floor(population)).all():
        raise CensusFileError("census populations must be non-negative whole numbers")
    merged["population"] = population.astype(np.int64)
    totals = merged.groupby("country")["population"].transform("sum")
    if (totals == 0).any():
        raise CensusFileError("a country's adult total is 0")
    merged["share_of_adults"] = merged["population"] / totals
    return merged.loc[:, list(CELL_COLUMNS)]


def uk_census_cells(census_dir: Path | str) -> pd.DataFrame:
    """The 60 UK cells from ``uk.csv`` (ONS Census 2021, England & Wales), SPEC §4.1."""
    path = Path(census_dir) / UK_FILE
    raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    if "Age" not in raw.columns:
        raise CensusFileError(f"{path.name}: no 'Age' column")
    years = pd.to_numeric(raw["Age"].str.replace("100+", "100", regex=False), errors="coerce")
    if years.isna().any():
        raise CensusFileError(f"{path.name}: unreadable Age value(s) {raw.loc[years.isna(), 'Age'].tolist()}")
    adult = (years >= 18).to_numpy()

    number_columns = [c for c in raw.columns if "2021 (number)" in c]
    if not number_columns:
        raise CensusFileError(f"{path.name}: no '2021 (number)' columns")
    prefixes = [c.split(":", 1)[0] for c in number_columns]
    unknown = sorted(set(prefixes) - set(UK_GROUP_OF))
    if unknown:
        raise CensusFileError(f"{path.name}: unknown ethnic group(s) {unknown}")
    # Case-sensitive on purpose (SPEC §4.1): "Male" is not a substring of "Female".
    sexes = ["Female" if "Female" in c else "Male" if "Male" in c else None for c in number_columns]
    if None in sexes:
        raise CensusFileError(f"{path.name}: column without a sex {number_columns[sexes.index(None)]!r}")

    values = raw.loc[adult, number_columns].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any():
        raise CensusFileError(f"{path.name}: non-numeric 2021 counts")
    long = pd.DataFrame(
        {
            "age_band": np.repeat(age_band_of_years(years[adult]).to_numpy(), len(number_columns)),
            "census_ethnicity": np.tile([UK_GROUP_OF[p] for p in prefixes], int(adult.sum())),
            "sex": np.tile(sexes, int(adult.sum())),
            "population": values.to_numpy(dtype=np.int64).ravel(),
        }
    )
    counts = long.groupby(["age_band", "census_ethnicity", "sex"], as_index=False)["population"].sum()
    counts.insert(0, "country", "UK")
    return census_cells_from_counts(counts)


def _read_acs_workbook(path: Path, expected_table: str) -> pd.DataFrame:
    """One ACS B01001x workbook -> long table (sex, age_label, estimate), all ages."""
    import openpyxl  # only needed when parsing the raw Excel files

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        info = {row[0]: row[1] for row in workbook["Information"].iter_rows(values_only=True) if row and row[0]}
        table = info.get("TABLE ID:")
        if table != expected_table:
            raise CensusFileError(f"{path.name}: TABLE ID is {table!r}, expected {expected_table!r}")
        rows = [row[:2] for row in workbook["Data"].iter_rows(values_only=True)]
    finally:
        workbook.close()

    header = [i for i, row in enumerate(rows) if tuple(row) == ("Label", "Estimate")]
    if len(header) != 1:
        raise CensusFileError(f"{path.name}: Data sheet has no single 'Label, Estimate' header row")
    body = rows[header[0] + 1 :]
    bands = list(US_AGE_BAND_OF)
    expected = ["Total:", "Male:", *bands, "Female:", *bands]
    labels = [row[0] for row in body[: len(expected)]]
    if labels != expected:
        raise CensusFileError(f"{path.name}: Data sheet rows are not Total/Male/14 bands/Female/14 bands")

    def number(text: object) -> int:
        try:
            return int(str(text).replace(",", ""))
        except ValueError as exc:
            raise CensusFileError(f"{path.name}: unreadable estimate {text!r}") from exc

    estimates = [number(row[1]) for row in body[: len(expected)]]
    total, male_total, female_total = estimates[0], estimates[1], estimates[16]
    male, female = estimates[2:16], estimates[17:31]
    if sum(male) != male_total or sum(female) != female_total or male_total + female_total != total:
        raise CensusFileError(f"{path.name}: age bands do not add up to the sex totals and the total")
    return pd.DataFrame(
        {"sex": ["Male"] * 14 + ["Female"] * 14, "age_label": bands * 2, "estimate": male + female}
    )


def us_census_cells(census_dir: Path | str, mode: str = "reference") -> pd.DataFrame:
    """The 60 US cells from the eight ACS 2022 1-year workbooks, SPEC §4.1.

    Only ``mode="reference"`` exists: it reproduces the reference construction *including* its
    Hispanic double counting (module docstring and SPEC §7.5 say why no corrected mode can be
    built from these files). Any other mode raises ValueError.
    """
    if mode != "reference":
        raise ValueError(
            f"US census mode {mode!r} is not available: the eight ACS files cannot be made mutually "
            "exclusive (no non-Hispanic race tables by age x sex); supply a corrected tidy table "
            "through read_census_cells_csv instead"
        )
    census_dir = Path(census_dir)
    parts = []
    for file, (table, ethnicity) in US_TABLES.items():
        part = _read_acs_workbook(census_dir / file, table)
        part["census_ethnicity"] = ethnicity
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    long["age_band"] = long["age_label"].map(US_AGE_BAND_OF)
    adults = long.loc[long["age_band"].notna()]
    counts = adults.groupby(["age_band", "census_ethnicity", "sex"], as_index=False)["estimate"].sum()
    counts = counts.rename(columns={"estimate": "population"})
    counts.insert(0, "country", "US")
    return census_cells_from_counts(counts)


def load_census_cells(census_dir: Path | str, us_mode: str = "reference", verify: bool = True) -> pd.DataFrame:
    """UK + US ``census_cells`` (120 rows) from the raw census files; checks the manifest first."""
    if verify:
        verify_manifest(census_dir)
    return pd.concat([uk_census_cells(census_dir), us_census_cells(census_dir, us_mode)], ignore_index=True)


def read_census_cells_csv(path: Path | str) -> pd.DataFrame:
    """A tidy ``census_cells.csv`` (country, age_band, census_ethnicity, sex, population) -> census_cells.

    The way to use a corrected census table (e.g. a US table from PEP without double counting)
    without parsing Excel (SPEC §6). Any ``share_of_adults`` column in the file is recomputed.
    """
    counts = pd.read_csv(path, dtype={"country": str, "age_band": str, "census_ethnicity": str, "sex": str})
    return census_cells_from_counts(counts)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_manifest(census_dir: Path | str) -> None:
    """Check every census file against ``MANIFEST.csv`` (SPEC §6); raise CensusFileError naming the file.

    Fails when a listed file is missing or its sha256 differs, and when a data file (.csv, .xlsx)
    in the directory is not listed, so no unreviewed census input can slip in.
    """
    census_dir = Path(census_dir)
    manifest = census_dir / MANIFEST_NAME
    if not manifest.is_file():
        raise CensusFileError(f"{MANIFEST_NAME} not found in {census_dir}")
    with manifest.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
            raise CensusFileError(f"{MANIFEST_NAME}: columns must be {', '.join(MANIFEST_COLUMNS)}")
        rows = list(reader)
    listed = set()
    for row in rows:
        name = row["file"]
        listed.add(name)
        path = census_dir / name
        if not path.is_file():
            raise CensusFileError(f"{name}: listed in {MANIFEST_NAME} but missing")
        actual = _sha256(path)
        if actual != row["sha256"]:
            raise CensusFileError(f"{name}: sha256 {actual} differs from {MANIFEST_NAME} ({row['sha256']})")
    unlisted = sorted(
        p.name for p in census_dir.iterdir() if p.suffix in {".csv", ".xlsx"} and p.name not in listed | {MANIFEST_NAME}
    )
    if unlisted:
        raise CensusFileError(f"{unlisted[0]}: not listed in {MANIFEST_NAME}")
