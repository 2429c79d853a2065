"""Built-in country and recruitment-locale tables for the synthetic PRISM generator.

Implements the inputs of SPEC §5 "Countries" and "location.special_region": each country
carries its pycountry ``name`` (the released ``*_country`` value, pycountry 23.12.11 spelling,
e.g. "Türkiye", "Korea, Republic of"), its ISO alpha-3 code and the UN M49 ``region`` /
``sub-region`` of the ISO-3166 regional-codes CSV. The table is small and hand-made: the
generator must not download anything (SPEC §1.1(f) downloads the CSV live; we do not).

``LOCALES`` describes the recruitment streams (``study_locale``, SPEC §1.2 "Crowd QC"):
per 1,500 users, how many users and Prolific studies each stream had, where its users
reside and which demographic "origin" its users mostly have. The sizes are chosen so that
``uk`` = 341 and ``us`` = 386 users (SPEC §1.3) and the birth-country ``special_region``
counts land near the codebook's (US 338, Europe 313, UK 292, ...).

No Dagster import.
"""

from __future__ import annotations

from typing import NamedTuple

PREFER_NOT_TO_SAY = "Prefer not to say"


class Country(NamedTuple):
    iso3: str
    name: str  # pycountry ``name``
    region: str  # UN M49 region
    subregion: str  # UN M49 sub-region


_LAC = "Latin America and the Caribbean"
_SSA = "Sub-Saharan Africa"

COUNTRIES: dict[str, Country] = {
    c.iso3: c
    for c in (
        Country("GBR", "United Kingdom", "Europe", "Northern Europe"),
        Country("USA", "United States", "Americas", "Northern America"),
        Country("CAN", "Canada", "Americas", "Northern America"),
        Country("AUS", "Australia", "Oceania", "Australia and New Zealand"),
        Country("NZL", "New Zealand", "Oceania", "Australia and New Zealand"),
        Country("FJI", "Fiji", "Oceania", "Melanesia"),
        Country("MEX", "Mexico", "Americas", _LAC),
        Country("CHL", "Chile", "Americas", _LAC),
        Country("ARG", "Argentina", "Americas", _LAC),
        Country("COL", "Colombia", "Americas", _LAC),
        Country("BRA", "Brazil", "Americas", _LAC),
        Country("PER", "Peru", "Americas", _LAC),
        Country("VEN", "Venezuela, Bolivarian Republic of", "Americas", _LAC),
        Country("CUB", "Cuba", "Americas", _LAC),
        Country("JAM", "Jamaica", "Americas", _LAC),
        Country("ZAF", "South Africa", "Africa", _SSA),
        Country("NGA", "Nigeria", "Africa", _SSA),
        Country("KEN", "Kenya", "Africa", _SSA),
        Country("GHA", "Ghana", "Africa", _SSA),
        Country("ZWE", "Zimbabwe", "Africa", _SSA),
        Country("ETH", "Ethiopia", "Africa", _SSA),
        Country("EGY", "Egypt", "Africa", "Northern Africa"),
        Country("MAR", "Morocco", "Africa", "Northern Africa"),
        Country("ISR", "Israel", "Asia", "Western Asia"),
        Country("TUR", "Türkiye", "Asia", "Western Asia"),
        Country("ARE", "United Arab Emirates", "Asia", "Western Asia"),
        Country("LBN", "Lebanon", "Asia", "Western Asia"),
        Country("IRQ", "Iraq", "Asia", "Western Asia"),
        Country("IRN", "Iran, Islamic Republic of", "Asia", "Southern Asia"),
        Country("IND", "India", "Asia", "Southern Asia"),
        Country("PAK", "Pakistan", "Asia", "Southern Asia"),
        Country("BGD", "Bangladesh", "Asia", "Southern Asia"),
        Country("LKA", "Sri Lanka", "Asia", "Southern Asia"),
        Country("CHN", "China", "Asia", "Eastern Asia"),
        Country("HKG", "Hong Kong", "Asia", "Eastern Asia"),
        Country("JPN", "Japan", "Asia", "Eastern Asia"),
        Country("KOR", "Korea, Republic of", "Asia", "Eastern Asia"),
        Country("PHL", "Philippines", "Asia", "South-eastern Asia"),
        Country("VNM", "Viet Nam", "Asia", "South-eastern Asia"),
        Country("MYS", "Malaysia", "Asia", "South-eastern Asia"),
        Country("SGP", "Singapore", "Asia", "South-eastern Asia"),
        Country("KAZ", "Kazakhstan", "Asia", "Central Asia"),
        Country("DEU", "Germany", "Europe", "Western Europe"),
        Country("FRA", "France", "Europe", "Western Europe"),
        Country("NLD", "Netherlands", "Europe", "Western Europe"),
        Country("BEL", "Belgium", "Europe", "Western Europe"),
        Country("AUT", "Austria", "Europe", "Western Europe"),
        Country("CHE", "Switzerland", "Europe", "Western Europe"),
        Country("ITA", "Italy", "Europe", "Southern Europe"),
        Country("ESP", "Spain", "Europe", "Southern Europe"),
        Country("PRT", "Portugal", "Europe", "Southern Europe"),
        Country("GRC", "Greece", "Europe", "Southern Europe"),
        Country("SVN", "Slovenia", "Europe", "Southern Europe"),
        Country("HRV", "Croatia", "Europe", "Southern Europe"),
        Country("SRB", "Serbia", "Europe", "Southern Europe"),
        Country("ALB", "Albania", "Europe", "Southern Europe"),
        Country("POL", "Poland", "Europe", "Eastern Europe"),
        Country("HUN", "Hungary", "Europe", "Eastern Europe"),
        Country("CZE", "Czechia", "Europe", "Eastern Europe"),
        Country("ROU", "Romania", "Europe", "Eastern Europe"),
        Country("BGR", "Bulgaria", "Europe", "Eastern Europe"),
        Country("UKR", "Ukraine", "Europe", "Eastern Europe"),
        Country("RUS", "Russian Federation", "Europe", "Eastern Europe"),
        Country("SVK", "Slovakia", "Europe", "Eastern Europe"),
        Country("IRL", "Ireland", "Europe", "Northern Europe"),
        Country("SWE", "Sweden", "Europe", "Northern Europe"),
        Country("DNK", "Denmark", "Europe", "Northern Europe"),
        Country("NOR", "Norway", "Europe", "Northern Europe"),
        Country("FIN", "Finland", "Europe", "Northern Europe"),
        Country("EST", "Estonia", "Europe", "Northern Europe"),
        Country("LVA", "Latvia", "Europe", "Northern Europe"),
        Country("LTU", "Lithuania", "Europe", "Northern Europe"),
        Country("ISL", "Iceland", "Europe", "Northern Europe"),
    )
}

# Birth countries of participants who were born outside their country of residence, by the
# "origin" of the residence country's stream (weights, not probabilities).
_IMMIGRANT_ORIGINS: dict[str, dict[str, float]] = {
    "uk": {"IND": 6, "PAK": 4, "POL": 4, "NGA": 4, "IRL": 3, "DEU": 2, "ZAF": 3, "JAM": 2, "USA": 2,
           "HKG": 2, "BGD": 2, "ROU": 2, "ITA": 1, "KEN": 2, "ZWE": 2, "LKA": 1, "AUS": 1, "CAN": 1,
           "GHA": 2, "IRN": 1, "FRA": 1, "ESP": 1, "PRT": 1, "CHN": 1, "MYS": 1},
    "us": {"MEX": 6, "IND": 4, "CHN": 3, "PHL": 3, "VNM": 2, "CUB": 2, "KOR": 2, "GBR": 2, "CAN": 2,
           "COL": 1, "DEU": 1, "NGA": 1, "JAM": 1, "UKR": 1, "RUS": 1, "IRN": 1, "ETH": 1, "BRA": 1,
           "PER": 1, "VEN": 1, "KAZ": 1, "LBN": 1},
    "anz": {"GBR": 5, "IND": 3, "CHN": 3, "ZAF": 3, "NZL": 1, "AUS": 1, "PHL": 1, "FJI": 1, "MYS": 1,
            "SGP": 1, "IRL": 1, "LKA": 1, "HKG": 1, "KOR": 1},
    "northam": {"USA": 3, "GBR": 2, "IND": 2, "CHN": 2, "PHL": 1, "FRA": 1, "PAK": 1, "IRN": 1},
    "latam": {"VEN": 4, "ARG": 2, "COL": 2, "PER": 2, "CUB": 1, "ESP": 1, "USA": 1, "BRA": 1},
    "africa": {"ZWE": 3, "NGA": 1, "KEN": 1, "GBR": 1, "ETH": 1, "GHA": 1},
    "europe": {"ROU": 2, "UKR": 2, "ALB": 1, "SRB": 1, "HRV": 1, "BGR": 1, "MAR": 1, "TUR": 1,
               "RUS": 1, "BRA": 1, "DEU": 1, "ITA": 1, "FRA": 1, "ESP": 1, "POL": 1, "SVK": 1,
               "LTU": 1, "ISL": 1, "GBR": 1, "EGY": 1},
    "mideast": {"RUS": 3, "UKR": 2, "USA": 2, "FRA": 1, "MAR": 1, "IRQ": 1, "EGY": 1, "LBN": 1},
    "asia": {"CHN": 2, "IND": 2, "MYS": 1, "HKG": 1, "USA": 1, "GBR": 1},
}


class Locale(NamedTuple):
    name: str  # released ``study_locale`` (lower case)
    users: int  # users per 1,500
    studies: int  # Prolific studies per 1,500 users
    reside: dict[str, float]  # residence ISO3 -> weight
    origin: str  # key into _IMMIGRANT_ORIGINS, and the demographic group of the stream


LOCALES: tuple[Locale, ...] = (
    Locale("uk", 341, 4, {"GBR": 1}, "uk"),
    Locale("us", 386, 4, {"USA": 1}, "us"),
    Locale("australia", 92, 2, {"AUS": 1}, "anz"),
    Locale("new zealand", 46, 2, {"NZL": 1}, "anz"),
    Locale("canada", 54, 2, {"CAN": 1}, "northam"),
    Locale("mexico", 52, 2, {"MEX": 1}, "latam"),
    Locale("chile", 46, 2, {"CHL": 1}, "latam"),
    Locale("latin america", 28, 1, {"ARG": 2, "COL": 1}, "latam"),
    Locale("south africa", 62, 2, {"ZAF": 1}, "africa"),
    Locale("africa", 30, 1, {"NGA": 1, "KEN": 1}, "africa"),
    Locale("israel", 44, 2, {"ISR": 1}, "mideast"),
    Locale("middle east", 8, 1, {"ARE": 1}, "mideast"),
    Locale("asia", 28, 1, {"JPN": 1, "KOR": 1, "IND": 1}, "asia"),
    Locale("germany", 20, 2, {"DEU": 1}, "europe"),
    Locale("italy", 20, 2, {"ITA": 1}, "europe"),
    Locale("spain", 22, 2, {"ESP": 1}, "europe"),
    Locale("france", 20, 1, {"FRA": 1}, "europe"),
    Locale("poland", 26, 2, {"POL": 1}, "europe"),
    Locale("portugal", 26, 2, {"PRT": 1}, "europe"),
    Locale("netherlands", 20, 1, {"NLD": 1}, "europe"),
    Locale("greece", 19, 1, {"GRC": 1}, "europe"),
    Locale("hungary", 17, 1, {"HUN": 1}, "europe"),
    Locale("ireland", 14, 1, {"IRL": 1}, "europe"),
    Locale("sweden", 12, 1, {"SWE": 1}, "europe"),
    Locale("belgium", 12, 1, {"BEL": 1}, "europe"),
    Locale("czech republic", 10, 1, {"CZE": 1}, "europe"),
    Locale("denmark", 8, 1, {"DNK": 1}, "europe"),
    Locale("norway", 6, 1, {"NOR": 1}, "europe"),
    Locale("austria", 8, 1, {"AUT": 1}, "europe"),
    Locale("switzerland", 6, 1, {"CHE": 1}, "europe"),
    Locale("finland", 6, 1, {"FIN": 1}, "europe"),
    Locale("estonia", 4, 1, {"EST": 1}, "europe"),
    Locale("europe", 7, 1, {"SVN": 1, "LVA": 1}, "europe"),
)
assert sum(loc.users for loc in LOCALES) == 1500
assert sum(loc.studies for loc in LOCALES) == 51

IMMIGRANT_ORIGINS = _IMMIGRANT_ORIGINS

# Countries whose native residents are mostly native English speakers.
ENGLISH_NATIVE_ISO3 = frozenset({"GBR", "USA", "CAN", "AUS", "NZL", "IRL", "JAM"})


def special_region(birth_iso3: str) -> str:
    """``location.special_region`` from the BIRTH country, first match wins (SPEC §5)."""
    if birth_iso3 == "USA":
        return "US"
    if birth_iso3 == "GBR":
        return "UK"
    if birth_iso3 == "MEX":
        return _LAC
    if birth_iso3 == PREFER_NOT_TO_SAY:
        return PREFER_NOT_TO_SAY
    country = COUNTRIES[birth_iso3]
    if country.subregion in (_LAC, "Northern America", "Australia and New Zealand"):
        return country.subregion
    if country.subregion == "Western Asia":
        return "Middle East"
    return country.region
