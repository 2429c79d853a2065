"""Seeded synthetic PRISM data in the PUBLISHED format (``survey.jsonl``, ``conversations.jsonl``).

The real PRISM files cannot be downloaded here, so this module writes look-alike files that
exercise every rule of the pipeline. It implements:

- SPEC §1.3 (survey columns, nested key orders, value sets), §1.4 (conversation columns and
  the ``conversation_history`` item schema, the ``if_chosen`` rules), §1.5 (21 models and their
  providers, response counts and lengths), §1.8 (headline counts), §2.2 (language codes), §5
  (countries / location / ``special_region``, the religion and ethnicity simplified maps, the
  ``if_chosen`` surplus), and §1.2 (normalised texts with the ``"EMPTY STRING"`` sentinel;
  ``open_feedback`` and ``self_description`` are *not* normalised).
- The derived ``included_in_*`` keys (``included_in_balanced_subset``, ``included_in_UK_REP``,
  ``included_in_US_REP``) are deliberately OMITTED: the pipeline recomputes them (SPEC §3, §4).
  Every other key is written in the order of ``codebook.SURVEY_COLUMNS`` /
  ``codebook.CONVERSATION_COLUMNS``.

Structure at ``scale=1`` is PRISM's real structure, read from ``data/reference/structure/``:
users ``user0..user1499`` (104 survey-only), conversations ``c0..c8010`` with their real user
and their real number of scored responses (68,371 in all). Turns are derived from those counts
(turn 0 has 2–4 responses, every later turn exactly 2) with the turn-0 split solved so that
there are exactly 27,172 interactions (30,049 turn-0 responses). Four real conversations have
3 responses; with ``conversation_turns >= 2`` (codebook minimum) and 2 responses per later turn
the only consistent layout is ONE turn-0 response plus one later turn, which is what they get.

``scale`` N > 1 repeats the real structure ``ceil(N)`` times with user ids offset by 1,500 per
copy (each copy with fresh draws); a fractional scale keeps the first ``round(1500 * scale)``
users and their conversations. Conversations are numbered ``c0..`` in file order, which follows
the structure file order within each copy.

Small scales (fewer than 1,500 users): if the kept users happen to lack one of the features the
pipeline must see (a ``uk`` and a ``us`` locale user, a user lacking a conversation type, a
non-English conversation, a PII text, an ``"EMPTY STRING"`` response, an interaction with two
chosen responses), the generator forces it on the FIRST eligible kept user / conversation /
interaction, before any text is rendered (see ``_guarantee_*``). A survey-only user cannot be
forced without changing the real structure; scale 0.05 has several. Full copies are never
altered.

Determinism: every random draw comes from ``numpy.random.default_rng([seed, copy, stream])``
or from a ``random.Random`` seeded with a string of (seed, copy, user/conversation index), so
the same ``(scale, seed)`` gives byte-identical files.

No Dagster import.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from prism_pipeline.prism import codebook as cb
from prism_pipeline_synthetic import countries as ctry
from prism_pipeline_synthetic import texts as tx

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "data" / "reference"

USERS_PER_COPY = 1500
TARGET_INTERACTIONS = 27_172  # SPEC §1.8
IDENTICAL_LATER_PAIRS = 265  # SPEC §5: net if_chosen surplus
PERF_NULL_CONVERSATIONS = 1_824  # SPEC §1.4
CHOICE_NULL_CONVERSATIONS = 1_740
BALANCED_M2_USERS = 986  # SPEC §3.1: users whose smallest type count is 2
BALANCED_M1_USERS = 260
SURVEY_DT_RANGE = ("2023-11-22 15:48:46", "2023-12-22 06:56:27")  # SPEC §1.3
CONV_DT_RANGE = ("2023-11-22 15:55:46", "2023-12-22 08:04:46")  # SPEC §1.4
SURVEY_DURATION_RANGE = (160.0, 529_927.0)
CONV_DURATION_RANGE = (73.5, 17_145.8)
EXCLUDED_FROM_OUTPUT = ("included_in_US_REP", "included_in_UK_REP", "included_in_balanced_subset")
SURVEY_KEYS = tuple(k for k in cb.SURVEY_COLUMNS if k not in EXCLUDED_FROM_OUTPUT)
CONVERSATION_KEYS = tuple(k for k in cb.CONVERSATION_COLUMNS if k not in EXCLUDED_FROM_OUTPUT)

# Per-text rates (fractions). Tuned so that the metadata layer measures about the published
# shares (SPEC §1.8: non-English 1.24%, PII human 0.44% / model 1.38%, moderation human 1.24% /
# model 0.24%); plain English texts already add a little (langid misreads some short ones).
P_FOREIGN_CONV_NATIVE = 0.065  # conversation in the local language, users of non-English countries
P_FOREIGN_CONV_OTHER = 0.001
P_FOREIGN_MODEL_REPLY = 0.65  # model answers a foreign prompt in that language
P_FOREIGN_FEEDBACK = 0.7
P_FOREIGN_SURVEY_TEXT = 0.06  # self_description / system_string, users of non-English countries
P_PII_HUMAN = 0.0045
P_PII_MODEL = 0.013
P_TOXIC_PROMPT = 0.0145
P_TOXIC_FEEDBACK = 0.011
P_TOXIC_SURVEY = 0.002
P_TOXIC_MODEL = 0.0022
P_EMPTY_MODEL = 0.0005  # turn-0 model responses
P_EMPTY_PROMPT = 0.0003  # later-turn user prompts
P_REAL_OPENING = 0.03  # reuse one of the 115 real opening prompts
P_OTHER_TEXT_NULL = 0.15  # lm_usecases.other == 1 but no text typed
P_PREF_OTHER_TEXT = 0.12

LANGUAGE_OF_COUNTRY = {
    "MEX": "es", "CHL": "es", "ARG": "es", "COL": "es", "PER": "es", "ESP": "es", "FRA": "fr", "BEL": "fr",
    "DEU": "de", "AUT": "de", "CHE": "de", "ITA": "it", "NLD": "nl", "PRT": "pt", "BRA": "pt", "POL": "pl",
    "DNK": "da", "SWE": "sv",
}

# Stream ids for numpy generators; one per purpose so that changing one draw leaves the rest.
_S_STRUCT, _S_USERS, _S_IDENT, _S_SURVEY, _S_CONV, _S_MODELS, _S_FLAGS, _S_TIME = range(8)


# ---------------------------------------------------------------------------------------
# Reference inputs
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Structure:
    """PRISM's real conversation structure (one copy of 1,500 users)."""

    conv_user: np.ndarray  # user index (0..1499) of each conversation, file order
    n_responses: np.ndarray  # scored responses of each conversation

    @property
    def n_conversations(self) -> int:
        return len(self.conv_user)


def load_structure(reference_dir: Path = REFERENCE_DIR) -> Structure:
    """Read ``structure/conversation_users.csv`` and ``conversation_utterance_counts.csv``."""
    users = pd.read_csv(reference_dir / "structure" / "conversation_users.csv")
    counts = pd.read_csv(reference_dir / "structure" / "conversation_utterance_counts.csv")
    expected = [f"c{i}" for i in range(len(users))]
    if users["conversation_id"].tolist() != expected or counts["conversation_id"].tolist() != expected:
        raise ValueError("structure files must list c0..cN-1 in order")
    conv_user = users["user_id"].str.removeprefix("user").astype(int).to_numpy()
    return Structure(conv_user=conv_user, n_responses=counts["n_utterances"].astype(int).to_numpy())


def load_codebook(reference_dir: Path = REFERENCE_DIR) -> dict[tuple[str, str], dict]:
    """``codebook_entries.json`` keyed by (table, variable_name) -> values dict."""
    entries = json.loads((reference_dir / "codebook_entries.json").read_text(encoding="utf-8"))
    return {(e["_table"], e["variable_name"]): e["values"] for e in entries}


def load_opening_prompts(reference_dir: Path = REFERENCE_DIR) -> list[str]:
    """The 115 real opening prompts (JSON strings, one per line), normalised."""
    lines = (reference_dir / "structure" / "opening_prompts_sample.txt").read_text(encoding="utf-8").splitlines()
    return [normalise_text(json.loads(line)) for line in lines if line.strip()]


def load_census_pool(reference_dir: Path = REFERENCE_DIR) -> pd.DataFrame:
    """Per-cell pool sizes of the reference run (SPEC §4), used as uk/us demographic mixes."""
    return pd.read_csv(reference_dir / "census" / "reference_cells.csv")


def normalise_text(text: str | None) -> str:
    """SPEC §1.2 ``process_text``: null / blank / "None" -> "EMPTY STRING", else trimmed."""
    if text is None:
        return cb.EMPTY_STRING
    stripped = text.strip()
    return cb.EMPTY_STRING if stripped in ("", "None") else stripped


# ---------------------------------------------------------------------------------------
# Structure: turns and conversation types
# ---------------------------------------------------------------------------------------
def split_turn0(n_responses: np.ndarray, rng: np.random.Generator,
                target_interactions: int = TARGET_INTERACTIONS) -> np.ndarray:
    """Turn-0 response count r0 per conversation so that ``n = r0 + 2 * (turns - 1)``.

    Odd n -> r0 = 3 (n = 3 -> r0 = 1, see the module docstring). Even n -> r0 = 4 or 2; r0 = 2 is
    forced where r0 = 4 would leave a single turn (n = 4) and for the largest n (so the longest
    conversation has 22 turns, SPEC §1.4); the remaining r0 = 2 picks are drawn among
    n in 6..26 (keeping 13 distinct turn counts) so that the total number of turns equals
    ``target_interactions``. Raises ValueError if the counts cannot reach the target.
    """
    n = np.asarray(n_responses)
    r0 = np.where(n % 2 == 1, 3, 4)
    r0[n == 3] = 1
    r0[n == 2] = 2
    r0[n == 4] = 2
    r0[n == n.max()] = np.where(n.max() % 2 == 0, 2, r0[n == n.max()])
    turns = (n - r0) // 2 + 1
    need = target_interactions - int(turns.sum())
    pool = np.flatnonzero((r0 == 4) & (n >= 6) & (n <= 26))
    if need < 0 or need > len(pool):
        raise ValueError(f"cannot reach {target_interactions} interactions from these counts")
    r0[rng.choice(pool, size=need, replace=False)] = 2
    return r0


def assign_types(conv_user: np.ndarray, n_users: int, rng: np.random.Generator,
                 type_counts: Sequence[int], force_lacking_user: int | None = None) -> np.ndarray:
    """Conversation type index (codebook.CONVERSATION_TYPES order) per conversation.

    Reproduces SPEC §1.8 / §3.1 exactly for one copy: 986 users with at least 2 of each type,
    260 with exactly 1 of their rarest type, every other user with conversations lacking a type,
    and the type totals ``type_counts`` (3,113 / 2,460 / 2,438). Surplus conversations are
    mostly unguided, as in the real data. ``force_lacking_user`` (small scales) makes that user
    lack a type.
    """
    per_user = np.bincount(conv_user, minlength=n_users)
    m = np.zeros(n_users, dtype=int)
    six = np.flatnonzero(per_user >= 6)
    m2 = rng.choice(six, size=BALANCED_M2_USERS, replace=False)
    m[m2] = 2
    rest = np.setdiff1d(np.flatnonzero(per_user >= 3), m2)
    m1 = rng.choice(rest, size=BALANCED_M1_USERS, replace=False)
    m[m1] = 1
    if force_lacking_user is not None and m[force_lacking_user] > 0:
        # swap with a lacking user of at least as many conversations (keeps every total)
        cands = np.flatnonzero((m == 0) & (per_user >= 3) & (per_user >= per_user[force_lacking_user]))
        cands = cands[cands > force_lacking_user]
        if len(cands):
            m[cands[0]], m[force_lacking_user] = m[force_lacking_user], 0
    # position of each conversation within its user's conversations, in random order
    order = np.lexsort((rng.random(len(conv_user)), conv_user))
    pos = np.empty(len(conv_user), dtype=int)
    starts = np.concatenate(([0], np.cumsum(per_user)[:-1]))
    pos[order] = np.arange(len(conv_user)) - starts[conv_user[order]]
    mu = m[conv_user]
    ctype = np.full(len(conv_user), -1)
    base2 = (mu == 2) & (pos < 6)
    ctype[base2] = pos[base2] // 2
    base1 = (mu == 1) & (pos < 3)
    ctype[base1] = pos[base1]
    # extras: m=1 users keep one of values/controversy at exactly 1; m=0 users (>= 3
    # conversations) miss one of values/controversy; both may receive unguided or the other.
    excluded = np.where(rng.random(n_users) < 0.5, 1, 2)
    extra = ctype < 0
    ex_user = conv_user[extra]
    allowed = np.ones((extra.sum(), 3), dtype=bool)
    restrict = (m[ex_user] == 1) | ((m[ex_user] == 0) & (per_user[ex_user] >= 3))
    allowed[restrict, excluded[ex_user[restrict]]] = False
    counts_so_far = np.bincount(ctype[~extra], minlength=3)
    need = np.asarray(type_counts) - counts_so_far
    fill = np.zeros(len(ex_user), dtype=int)  # default unguided
    free = np.ones(len(ex_user), dtype=bool)
    for t in (1, 2):
        cands = np.flatnonzero(free & allowed[:, t])
        pick = rng.choice(cands, size=int(need[t]), replace=False)
        fill[pick] = t
        free[pick] = False
    ctype[np.flatnonzero(extra)] = fill
    return ctype


def conversation_layout(r0: np.ndarray, n_responses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interactions (conversation index, turn) and responses (interaction index) of one copy."""
    turns = (n_responses - r0) // 2 + 1
    inter_conv = np.repeat(np.arange(len(r0)), turns)
    starts = np.concatenate(([0], np.cumsum(turns)[:-1]))
    inter_turn = np.arange(len(inter_conv)) - starts[inter_conv]
    inter_n = np.where(inter_turn == 0, r0[inter_conv], 2)
    resp_inter = np.repeat(np.arange(len(inter_conv)), inter_n)
    return inter_conv, inter_turn, resp_inter


# ---------------------------------------------------------------------------------------
# Sampling helpers
# ---------------------------------------------------------------------------------------
def _rng(seed: int, copy: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, copy, stream])


def _gumbel(rng: np.random.Generator, shape) -> np.ndarray:
    return -np.log(-np.log(rng.random(shape).clip(1e-300, 1.0 - 1e-16)))


def allocate(rng: np.random.Generator, affinity: np.ndarray, counts: Sequence[int],
             order: Sequence[int]) -> np.ndarray:
    """Give exactly ``counts[c]`` rows category c, preferring rows with high ``affinity[:, c]``.

    Categories are filled in ``order`` (the last one takes the rest); each is a weighted draw
    without replacement among the rows still free (Gumbel top-k on log affinity).
    """
    n = affinity.shape[0]
    counts = np.asarray(counts, dtype=int)
    if counts.sum() != n:
        raise ValueError(f"counts sum to {counts.sum()}, expected {n}")
    out = np.full(n, -1)
    free = np.ones(n, dtype=bool)
    for c in order[:-1]:
        k = int(counts[c])
        if k == 0:
            continue
        key = np.log(np.maximum(affinity[:, c], 1e-12)) + _gumbel(rng, n)
        key[~free] = -np.inf
        pick = np.argpartition(-key, k - 1)[:k]
        out[pick] = c
        free[pick] = False
    out[free] = order[-1]
    return out


def _exact_labels(rng: np.random.Generator, counts: Sequence[int], n: int) -> np.ndarray:
    """A random permutation of the multiset with ``counts[c]`` copies of c (rescaled to n)."""
    counts = _rescale(counts, n)
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


def _rescale(counts: Sequence[float], n: int) -> np.ndarray:
    """Integer counts proportional to ``counts`` summing to n (largest remainder)."""
    c = np.asarray(counts, dtype=float)
    c = np.clip(c, 0, None)
    raw = c / c.sum() * n
    out = np.floor(raw).astype(int)
    rem = n - out.sum()
    out[np.argsort(-(raw - out), kind="stable")[:rem]] += 1
    return out


def _beta_ints(rng: np.random.Generator, mean: float, sd: float, lo: int, hi: int, size) -> np.ndarray:
    """Integers in [lo, hi] from a beta with the given mean and sd."""
    m = (mean - lo) / (hi - lo)
    s = sd / (hi - lo)
    common = max(m * (1 - m) / s**2 - 1, 0.05)
    return (lo + np.rint(rng.beta(m * common, (1 - m) * common, size) * (hi - lo))).astype(int)


def _unambiguous_minutes(seconds: np.ndarray) -> np.ndarray:
    """Nudge 2-dp durations by 0.01 s where round(s/60, 2) is a half-way case.

    Python's ``round`` and numpy/pandas ``round`` disagree on such values (e.g. 374.7 s), and
    SPEC §5 does not say which one the reference used; avoiding them keeps every reader right.
    """
    out = np.round(seconds, 2)
    for _ in range(5):
        bad = np.array([round(float(s) / 60, 2) != float(r) for s, r in zip(out, np.round(out / 60, 2))])
        if not bad.any():
            return out
        out[bad] = np.round(out[bad] + 0.01, 2)
    raise AssertionError("could not avoid half-way minute roundings")


def _cat_counts(book: dict, table: str, name: str, categories: Sequence[str]) -> np.ndarray:
    values = book[(table, name)]
    return np.array([int(values[c]) for c in categories])


# ---------------------------------------------------------------------------------------
# Survey demographics
# ---------------------------------------------------------------------------------------
_BIRTH_GROUPS = ("nw", "ee", "lac", "ssa", "mena", "isr", "sasia", "easia", "pnts")


def _birth_group(iso3: str) -> str:
    if iso3 == ctry.PREFER_NOT_TO_SAY:
        return "pnts"
    if iso3 == "ISR":
        return "isr"
    sub = ctry.COUNTRIES[iso3].subregion
    return {
        "Eastern Europe": "ee", "Latin America and the Caribbean": "lac", "Sub-Saharan Africa": "ssa",
        "Northern Africa": "mena", "Western Asia": "mena", "Southern Asia": "sasia", "Eastern Asia": "easia",
        "South-eastern Asia": "easia", "Central Asia": "easia",
    }.get(sub, "nw")


# Rows: _BIRTH_GROUPS; columns: codebook.ETHNICITY_CATEGORISED order.
_ETH_AFFINITY = np.array([
    [1, .01, .01, .01, .06, .04, .02, .005, .01],
    [1, .001, .001, .005, .05, .02, .02, .01, .001],
    [.2, .05, 1.5, .005, .05, .2, .02, .005, .05],
    [.15, 1.5, .001, .02, .05, .1, .02, .01, .001],
    [.2, .02, .001, .02, .06, .05, .1, 2, .001],
    [1, .01, .005, .005, .05, .03, .1, .3, .001],
    [.02, .005, .001, 2, .05, .05, .05, .05, .001],
    [.02, .001, .001, 2, .05, .05, .03, .01, .001],
    [.01, .01, .01, .01, 50, .01, .01, .01, .01],
])
# Rows: _BIRTH_GROUPS; columns: codebook.RELIGION_CATEGORISED order.
_REL_AFFINITY = np.array([
    [1, .7, .15, .06, .01, .01, .05, .01, .01, .002, .01, .002],
    [.6, 1, .1, .06, .005, .02, .03, .01, .01, .001, .01, .001],
    [.4, 1.5, .1, .05, .005, .001, .05, .005, .02, .001, .01, .001],
    [.15, 2, .03, .04, .001, .3, .03, .001, .1, .001, .01, .001],
    [.3, .3, .05, .08, .05, 2, .02, .001, .001, .001, .02, .001],
    [.5, .05, .05, .05, 5, .2, .02, .01, .001, .001, .01, .001],
    [.2, .3, .05, .05, .001, 1, .03, .05, .02, 2, .02, .6],
    [.8, .4, .1, .05, .001, .1, .05, 1.2, .5, .01, .02, .001],
    [.01, .01, .01, 50, .01, .01, .01, .01, .01, .01, .01, .01],
])
# Rows: codebook.AGE order; columns: codebook.EMPLOYMENT_STATUS order.
_EMP_AFFINITY = np.array([
    [.5, .8, 3, .6, .001, .2, .3, .3],
    [1.2, .5, .4, .4, .001, .3, .3, .3],
    [1.2, .5, .1, .4, .005, .5, .3, .3],
    [1.1, .5, .05, .4, .05, .5, .3, .3],
    [.8, .5, .02, .4, .8, .4, .4, .3],
    [.1, .2, .01, .1, 5, .2, .3, .3],
    [1, 1, 1, 1, 1, 1, 1, 1],
])
# Rows: codebook.AGE order; columns: codebook.MARITAL_STATUS order.
_MAR_AFFINITY = np.array([
    [3, .2, .02, .3, .001],
    [1.5, .8, .1, .3, .005],
    [.6, 1.5, .4, .3, .02],
    [.4, 1.5, .7, .3, .1],
    [.3, 1.5, .8, .3, .3],
    [.2, 1.5, .8, .3, 1.5],
    [1, 1, 1, 1, 1],
])

# self_described strings per categorised label: (string, weight, locale origin it favours or "").
_ETH_SELF: dict[str, tuple[tuple[str, float, str], ...]] = {
    "White": (("white", 30, ""), ("white british", 14, "uk"), ("caucasian", 6, "us"), ("white english", 3, "uk"),
              ("white american", 3, "us"), ("british", 3, "uk"), ("white european", 2, "europe"),
              ("white scottish", 1, "uk"), ("white irish", 1, ""), ("white welsh", 1, "uk"), ("european", 2, "europe"),
              ("german", 1, "europe"), ("italian", 1, "europe"), ("polish", 1, "europe"), ("white other", 1, ""),
              ("white australian", 2, "anz"), ("pakeha", 1, "anz"), ("white south african", 1, "africa"),
              ("ashkenazi jewish", 1, "mideast"), ("israeli", 1, "mideast"), ("greek", 1, "europe"),
              ("white hispanic", 1, "latam"), ("white canadian", 1, "northam"), ("portuguese", 1, "europe")),
    "Black / African": (("black", 8, ""), ("black british", 3, "uk"), ("african american", 5, "us"),
                        ("black african", 4, ""), ("black caribbean", 1, "uk"), ("african", 3, "africa"),
                        ("nigerian", 1, "africa"), ("kenyan", 1, "africa"), ("black american", 2, "us"),
                        ("zulu", 1, "africa"), ("xhosa", 1, "africa")),
    "Hispanic / Latino": (("hispanic", 6, ""), ("latino", 4, ""), ("latina", 3, ""), ("mexican", 3, "latam"),
                          ("hispanic latino", 2, ""), ("chilean", 2, "latam"), ("mestizo", 2, "latam"),
                          ("latin american", 2, "latam"), ("mexican american", 1, "us"), ("argentinian", 1, "latam"),
                          ("colombian", 1, "latam")),
    "Asian": (("asian", 6, ""), ("indian", 3, ""), ("chinese", 3, ""), ("asian british", 2, "uk"),
              ("british indian", 1, "uk"), ("pakistani", 1, ""), ("asian american", 2, "us"), ("korean", 1, "asia"),
              ("japanese", 1, "asia"), ("filipino", 1, ""), ("vietnamese", 1, ""), ("east asian", 1, ""),
              ("south asian", 1, ""), ("bangladeshi", 1, "uk")),
    "Prefer not to say": (("prefer not to say", 1, ""),),
    "Mixed": (("mixed", 5, ""), ("mixed race", 4, ""), ("biracial", 2, "us"),
              ("mixed white and black caribbean", 1, "uk"), ("mixed white and asian", 1, ""), ("multiracial", 1, "us"),
              ("coloured", 1, "africa"), ("mixed heritage", 1, "")),
    "Other": (("other", 2, ""), ("human", 1, ""), ("romani", 1, "europe"), ("pacific islander", 1, "anz"),
              ("jewish", 1, "")),
    "Middle Eastern / Arab": (("arab", 2, ""), ("middle eastern", 2, ""), ("persian", 1, ""), ("lebanese", 1, ""),
                              ("turkish", 1, ""), ("arab israeli", 1, "mideast")),
    "Indigenous / First Peoples": (("native american", 2, "us"), ("maori", 2, "anz"),
                                   ("aboriginal australian", 1, "anz"), ("mapuche", 1, "latam"),
                                   ("first nations", 1, "northam"), ("indigenous", 1, "")),
}
_REL_SELF: dict[str, tuple[tuple[str, float, str], ...]] = {
    "Non-religious": (("no religion", 10, ""), ("none", 6, ""), ("atheist", 6, ""), ("not religious", 3, ""),
                      ("non religious", 2, ""), ("no religious affiliation", 1, ""), ("i dont have a religion", 1, ""),
                      ("no religion atheist", 1, ""), ("nonreligious", 1, ""), ("not applicable", 1, ""),
                      ("atheism", 1, ""), ("secular", 1, ""), ("nothing", 1, ""), ("humanist", 1, "uk")),
    "Christian": (("christian", 10, ""), ("catholic", 5, ""), ("christian catholic", 1, ""),
                  ("christian orthodox", 1, ""), ("non denominational christian", 1, "us"),
                  ("christian protestant", 1, ""), ("church of scotland", 1, "uk"), ("greek orthodox", 1, "europe"),
                  ("seventh day adventist", 1, ""), ("jehovahs witness", 1, ""), ("born again christian", 1, "us"),
                  ("presbyterian", 1, ""), ("quaker", 1, "uk"), ("roman catholic", 2, ""),
                  ("church of england", 1, "uk"), ("protestant", 2, ""), ("baptist", 1, "us"), ("methodist", 1, ""),
                  ("orthodox christian", 1, "europe"), ("evangelical christian", 1, "us"), ("lutheran", 1, "europe"),
                  ("anglican", 1, "uk"), ("christianity", 1, ""), ("mormon", 1, "us"), ("pentecostal", 1, "africa"),
                  ("catolica", 1, "latam")),
    "Agnostic": (("agnostic", 6, ""), ("agnosticism", 1, "")),
    "Prefer not to say": (("prefer not to say", 1, ""),),
    "Jewish": (("jewish", 5, ""), ("judaism", 2, ""), ("secular jewish", 1, "mideast"), ("orthodox jewish", 1, ""),
               ("reform judaism", 1, "us")),
    "Muslim": (("muslim", 5, ""), ("islam", 3, ""), ("sunni muslim", 1, ""), ("shia", 1, "")),
    "Spiritual": (("spiritual", 4, ""), ("spiritual but not religious", 2, ""), ("i believe in a higher power", 1, "")),
    "Buddhist": (("buddhist", 3, ""), ("buddhism", 2, ""), ("zen buddhism", 1, "")),
    "Folk religion": (("pagan", 2, ""), ("wicca", 1, ""), ("traditional african religion", 1, "africa"),
                      ("shinto", 1, "asia")),
    "Hindu": (("hindu", 3, ""), ("hinduism", 1, "")),
    "Other": (("other", 1, ""), ("unitarian universalist", 1, "us"), ("bahai", 1, "")),
    "Sikh": (("sikh", 2, ""), ("sikhism", 1, "")),
}
# The frozen self_described -> categorised lookup of SPEC §5 needs a function, not a relation.
# ("jewish" is an ethnicity "Other" string and a religion "Jewish" string: different lookups.)
for _table in (_ETH_SELF, _REL_SELF):
    _strings = [s for opts in _table.values() for s, _, _ in opts]
    assert len(_strings) == len(set(_strings)), "self_described strings must map to one category"


# Typed variants "<colour> <demonym>" (White / Black only, so each string keeps one category).
_DEMONYM = {
    "GBR": "british", "USA": "american", "CAN": "canadian", "AUS": "australian", "NZL": "new zealander",
    "ZAF": "south african", "IRL": "irish", "DEU": "german", "FRA": "french", "ITA": "italian", "ESP": "spanish",
    "PRT": "portuguese", "POL": "polish", "NLD": "dutch", "GRC": "greek", "HUN": "hungarian", "SWE": "swedish",
    "BEL": "belgian", "CZE": "czech", "DNK": "danish", "NOR": "norwegian", "AUT": "austrian", "CHE": "swiss",
    "FIN": "finnish", "EST": "estonian", "SVN": "slovenian", "LVA": "latvian", "ISR": "israeli", "CHL": "chilean",
    "MEX": "mexican", "ARG": "argentinian", "NGA": "nigerian", "KEN": "kenyan",
}
_TYPED_PREFIX = {"White": "white", "Black / African": "black"}


def _pick_self_described(rng: random.Random, table: dict, category: str, origin: str,
                         country: str | None = None) -> str:
    if country in _DEMONYM and category in _TYPED_PREFIX and rng.random() < 0.2:
        return f"{_TYPED_PREFIX[category]} {_DEMONYM[country]}"
    opts = table[category]
    weights = [w * (6.0 if tag == origin else 1.0 if tag == "" else 0.08) for _, w, tag in opts]
    return rng.choices([s for s, _, _ in opts], weights=weights)[0]


@dataclass
class Users:
    """Per-user survey draws of one copy (1,500 users); indexes follow user order."""

    locale: np.ndarray
    study: np.ndarray  # index into the copy's study ids
    study_ids: list[str]
    birth: list[str]  # ISO3 or "Prefer not to say"
    reside: list[str]
    age: np.ndarray
    gender: np.ndarray
    ethnicity: np.ndarray
    religion: np.ndarray
    employment: np.ndarray
    education: np.ndarray
    marital: np.ndarray
    english: np.ndarray
    familiarity: np.ndarray
    direct: np.ndarray
    indirect: np.ndarray
    frequency: np.ndarray  # -1 = not shown
    usecases: np.ndarray  # (n, 19) 0/1
    usecase_order: np.ndarray  # (n, 18) positions 1..18
    prefs: np.ndarray  # (n, 9)
    pref_order: np.ndarray  # (n, 8)
    survey_dt: np.ndarray  # seconds since SURVEY_DT_RANGE[0]
    duration: np.ndarray
    foreign_lang: list[str | None]  # language of the user's survey texts, or None
    conv_lang: list[str | None]  # local non-English language, if any
    pii_self: np.ndarray
    pii_system: np.ndarray
    toxic_self: np.ndarray
    toxic_system: np.ndarray
    long_system: int  # user index with the very long system string


def _draw_users(seed: int, copy: int, book: dict, pool: pd.DataFrame, n_keep: int) -> Users:
    n = USERS_PER_COPY
    rng = _rng(seed, copy, _S_USERS)
    loc_sizes = np.array([loc.users for loc in ctry.LOCALES])
    locale = _exact_labels(rng, loc_sizes, n)
    if n_keep < n:  # small scales: make sure uk (0) and us (1) users are among the kept ones
        for code in (0, 1):
            if not (locale[:n_keep] == code).any():
                donor = int(np.flatnonzero(locale[:n_keep] > 1)[0])
                other = int(np.flatnonzero(locale == code)[0])
                locale[donor], locale[other] = code, locale[donor]
    # studies: each locale owns `studies` ids; users spread over them
    study_ids = ["".join(f"{b:02x}" for b in rng.integers(0, 256, 12)) for _ in range(51)]
    first_study = np.concatenate(([0], np.cumsum([loc.studies for loc in ctry.LOCALES])[:-1]))
    n_studies = np.array([loc.studies for loc in ctry.LOCALES])
    study = first_study[locale] + np.floor(rng.random(n) * n_studies[locale]).astype(int)

    # countries: residence from the locale, birth = residence for ~88%, else an origin country
    reside, birth = [], []
    u_same = rng.random(n)
    u_pick = rng.random((n, 2))
    for i in range(n):  # small per-user table lookups (1,500 per copy)
        loc = ctry.LOCALES[locale[i]]
        isos, w = list(loc.reside), np.array(list(loc.reside.values()), dtype=float)
        r_iso = isos[int(np.searchsorted(np.cumsum(w) / w.sum(), u_pick[i, 0]))]
        reside.append(r_iso)
        if u_same[i] < 0.875:
            birth.append(r_iso)
        else:
            origins = {k: v for k, v in ctry.IMMIGRANT_ORIGINS[loc.origin].items() if k != r_iso}
            o_isos, ow = list(origins), np.array(list(origins.values()), dtype=float)
            birth.append(o_isos[int(np.searchsorted(np.cumsum(ow) / ow.sum(), u_pick[i, 1]))])
    n_pnts = 3  # SPEC §1.3: same_birth_reside_country "Prefer not to say" 3
    for i in rng.choice(np.flatnonzero(locale > 1), size=n_pnts, replace=False):
        birth[i] = ctry.PREFER_NOT_TO_SAY

    # uk / us users: (age, census ethnicity, sex) from the reference pool cells (SPEC §4.2)
    age_idx = np.full(n, -1)
    gender = np.full(n, -1)
    eth = np.full(n, -1)
    age_pos = {a: i for i, a in enumerate(cb.AGE)}
    eth_pos = {e: i for i, e in enumerate(cb.ETHNICITY_CATEGORISED)}
    other_map = {
        "UK": (("Other", .45), ("Middle Eastern / Arab", .4), ("Hispanic / Latino", .15)),
        "US": (("Hispanic / Latino", .8), ("Other", .08), ("Middle Eastern / Arab", .04),
               ("Indigenous / First Peoples", .08)),
    }
    census_to_cat = {"White": "White", "Black": "Black / African", "Asian": "Asian", "Mixed": "Mixed"}
    for code, country in ((0, "UK"), (1, "US")):
        idx = np.flatnonzero(locale == code)
        cells = pool[pool["country"] == country].reset_index(drop=True)
        p = cells["pool_available_in_reference_run"].to_numpy(float) + 0.3
        draw = rng.choice(len(cells), size=len(idx), p=p / p.sum())
        age_idx[idx] = [age_pos[a] for a in cells["age_category"].to_numpy()[draw]]
        gender[idx] = np.where(cells["sex"].to_numpy()[draw] == "Male", 0, 1)
        labels = []
        u_other = rng.random(len(idx))
        for j, ce in enumerate(cells["census_ethnicity"].to_numpy()[draw]):
            if ce in census_to_cat:
                labels.append(census_to_cat[ce])
            else:
                names, w = zip(*other_map[country])
                labels.append(names[int(np.searchsorted(np.cumsum(w), u_other[j] * sum(w)))])
        eth[idx] = [eth_pos[x] for x in labels]
        # a few "Prefer not to say" ethnicities and non-binary / undisclosed genders
        eth[idx[rng.random(len(idx)) < 0.03]] = eth_pos["Prefer not to say"]
        u_g = rng.random(len(idx))
        gender[idx[u_g < 0.012]] = 2
        gender[idx[(u_g >= 0.012) & (u_g < 0.015)]] = 3
    rest = np.flatnonzero(eth < 0)
    groups = np.array([_BIRTH_GROUPS.index(_birth_group(b)) for b in birth])

    def remainder(counts: np.ndarray, assigned: np.ndarray, k: int) -> np.ndarray:
        left = counts - np.bincount(assigned[assigned >= 0], minlength=len(counts))
        return _rescale(np.clip(left, 0, None) + 1e-9, k)

    eth_counts = _cat_counts(book, "Survey", "ethnicity_categorised", cb.ETHNICITY_CATEGORISED)
    eth_left = remainder(eth_counts, eth, len(rest))
    eth_order = list(np.argsort(eth_left, kind="stable"))
    eth[rest] = allocate(rng, _ETH_AFFINITY[groups[rest]], eth_left, eth_order)
    age_counts = _cat_counts(book, "Survey", "age", cb.AGE)
    age_idx[rest] = _exact_labels(rng, remainder(age_counts, age_idx, len(rest)), len(rest))
    gen_counts = _cat_counts(book, "Survey", "gender", cb.GENDER)
    gender[rest] = _exact_labels(rng, remainder(gen_counts, gender, len(rest)), len(rest))

    rel_counts = _cat_counts(book, "Survey", "religion_categorised", cb.RELIGION_CATEGORISED)
    religion = allocate(rng, _REL_AFFINITY[groups], rel_counts, list(np.argsort(rel_counts, kind="stable")))
    emp_counts = _cat_counts(book, "Survey", "employment_status", cb.EMPLOYMENT_STATUS)
    employment = allocate(rng, _EMP_AFFINITY[age_idx], emp_counts, list(np.argsort(emp_counts, kind="stable")))
    mar_counts = _cat_counts(book, "Survey", "marital_status", cb.MARITAL_STATUS)
    marital = allocate(rng, _MAR_AFFINITY[age_idx], mar_counts, list(np.argsort(mar_counts, kind="stable")))
    education = _exact_labels(rng, _cat_counts(book, "Survey", "education", cb.EDUCATION), n)
    native = np.array([b == r and r in ctry.ENGLISH_NATIVE_ISO3 for b, r in zip(birth, reside)])
    eng_aff = np.where(native[:, None], [1.0, .002, .002, .001, .001], [.02, 1, 1, 1, 1])
    eng_counts = _cat_counts(book, "Survey", "english_proficiency", cb.ENGLISH_PROFICIENCY)
    english = allocate(rng, eng_aff, eng_counts, [4, 3, 2, 0, 1])

    # LLM familiarity and use (SPEC §1.3): frequency / use cases shown only if direct or indirect = Yes
    familiarity = _exact_labels(rng, _cat_counts(book, "Survey", "lm_familiarity", cb.LM_FAMILIARITY), n)
    d_counts = _cat_counts(book, "Survey", "lm_direct_use", cb.YES_NO_UNSURE)
    i_counts = _cat_counts(book, "Survey", "lm_indirect_use", cb.YES_NO_UNSURE)
    freq_values = book[("Survey", "lm_frequency_use")]
    not_shown = int(freq_values["None"])
    both = int(d_counts[0] + i_counts[0] - (n - not_shown))
    group_counts = [both, int(d_counts[0]) - both, int(i_counts[0]) - both, not_shown]  # both, d only, i only, neither
    fam_aff = np.array([[1, 1, 1, .6], [3, .6, .6, .1], [.2, .5, .5, 4]])[familiarity]
    use_group = allocate(rng, fam_aff, group_counts, [2, 1, 3, 0])
    direct = np.zeros(n, dtype=int)
    indirect = np.zeros(n, dtype=int)
    d_non = np.flatnonzero(np.isin(use_group, (2, 3)))
    direct[d_non] = 1 + _exact_labels(rng, d_counts[1:], len(d_non))
    i_non = np.flatnonzero(np.isin(use_group, (1, 3)))
    indirect[i_non] = 1 + _exact_labels(rng, i_counts[1:], len(i_non))
    shown = use_group != 3
    frequency = np.full(n, -1)
    f_counts = np.array([int(freq_values[c]) for c in cb.LM_FREQUENCY_USE])
    f_aff = np.array([[1, 1, 1, .8, .6], [.6, 1.4, 1, .2, 2.5], [1, .3, .6, 3, .1]])[familiarity[shown]]
    frequency[shown] = allocate(rng, f_aff, _rescale(f_counts, int(shown.sum())), [4, 3, 2, 1, 0])

    usecases = np.zeros((n, 19), dtype=int)
    uc_values = {d["variable_name"]: d for d in book[("Survey", "lm_usecases")]["nested_values"]}
    uc_keys = list(uc_values)  # codebook order = USECASE_KEYS order + other (one key has a typo)
    shown_idx = np.flatnonzero(shown)
    for j, key in enumerate(uc_keys[:19]):
        k = int(uc_values[key]["True"]) - not_shown  # nulls were counted as True (SPEC §1.3)
        usecases[rng.choice(shown_idx, size=k, replace=False), j] = 1
    usecase_order = np.argsort(rng.random((n, 18)), axis=1).argsort(axis=1) + 1
    pref_stats = {d["variable_name"]: d for d in book[("Survey", "stated_prefs")]["nested_values"]}
    prefs = np.column_stack([
        _beta_ints(rng, pref_stats[k]["mean"], pref_stats[k]["std"], 0, 100, n)
        for k in (*cb.STATED_PREF_KEYS, "other")
    ])
    pref_order = np.argsort(rng.random((n, 8)), axis=1).argsort(axis=1) + 1

    # times: survey end uniformly over the window (exact ends once per copy); heavy-tailed durations
    t0 = datetime.fromisoformat(SURVEY_DT_RANGE[0])
    span = (datetime.fromisoformat(SURVEY_DT_RANGE[1]) - t0).total_seconds()
    survey_dt = np.floor(rng.random(n) * span)
    survey_dt[np.argmin(survey_dt)] = 0
    survey_dt[np.argmax(survey_dt)] = span
    duration = np.rint(rng.lognormal(np.log(1150), 0.5, n))
    tail = rng.random(n) < 0.0065
    duration[tail] = np.rint(np.exp(rng.uniform(np.log(1e4), np.log(SURVEY_DURATION_RANGE[1]), tail.sum())))
    duration = np.clip(duration, *SURVEY_DURATION_RANGE)
    duration[np.argmin(duration)] = SURVEY_DURATION_RANGE[0]
    duration[np.argmax(duration)] = SURVEY_DURATION_RANGE[1]

    local_lang = [LANGUAGE_OF_COUNTRY.get(r) for r in reside]
    u_lang = rng.random(n)
    foreign_lang = [lang if lang and u < P_FOREIGN_SURVEY_TEXT else None for lang, u in zip(local_lang, u_lang)]
    return Users(
        locale=locale, study=study, study_ids=study_ids, birth=birth, reside=reside, age=age_idx, gender=gender,
        ethnicity=eth, religion=religion, employment=employment, education=education, marital=marital,
        english=english, familiarity=familiarity, direct=direct, indirect=indirect, frequency=frequency,
        usecases=usecases, usecase_order=usecase_order, prefs=prefs, pref_order=pref_order, survey_dt=survey_dt,
        duration=duration, foreign_lang=foreign_lang, conv_lang=local_lang,
        pii_self=rng.random(n) < P_PII_HUMAN, pii_system=rng.random(n) < P_PII_HUMAN,
        toxic_self=rng.random(n) < P_TOXIC_SURVEY, toxic_system=rng.random(n) < P_TOXIC_SURVEY,
        long_system=int(rng.integers(n)),
    )


# ---------------------------------------------------------------------------------------
# One copy of conversations
# ---------------------------------------------------------------------------------------
@dataclass
class Conversations:
    """Per-conversation, per-interaction and per-response draws of one copy."""

    ctype: np.ndarray
    topic: np.ndarray
    lang: list[str]  # "en" or a language code
    r0: np.ndarray
    turns: np.ndarray
    inter_conv: np.ndarray
    inter_turn: np.ndarray
    resp_inter: np.ndarray
    resp_model: np.ndarray  # index into codebook.MODEL_NAMES
    resp_score: np.ndarray
    resp_wtid: np.ndarray
    resp_chosen: np.ndarray
    identical: np.ndarray  # per interaction: later-turn pair with identical texts
    resp_empty: np.ndarray
    resp_pii: np.ndarray
    resp_toxic: np.ndarray
    resp_foreign: np.ndarray
    prompt_empty: np.ndarray  # per interaction
    prompt_pii: np.ndarray
    prompt_toxic: np.ndarray
    prompt_real: np.ndarray  # per conversation: index of a real opening prompt or -1
    fb_pii: np.ndarray
    fb_toxic: np.ndarray
    fb_foreign: np.ndarray
    perf: np.ndarray  # (n_conv, 7), -1 = null
    choice: np.ndarray
    end_dt: np.ndarray  # seconds since CONV_DT_RANGE[0]
    duration: np.ndarray


def _draw_conversations(seed: int, copy: int, structure: Structure, book: dict, users: Users,
                        n_real_prompts: int, keep_users: int) -> Conversations:
    n_conv = structure.n_conversations
    conv_user = structure.conv_user
    rng = _rng(seed, copy, _S_STRUCT)
    r0 = split_turn0(structure.n_responses, rng)
    turns = (structure.n_responses - r0) // 2 + 1
    type_counts = _cat_counts(book, "Conversations", "conversation_type", cb.CONVERSATION_TYPES)
    force = None
    kept_conv = conv_user < keep_users
    if keep_users < USERS_PER_COPY:
        per_user = np.bincount(conv_user, minlength=USERS_PER_COPY)[:keep_users]
        if not ((per_user > 0) & (per_user < 3)).any():
            force = int(np.flatnonzero(per_user >= 3)[0])
    ctype = assign_types(conv_user, USERS_PER_COPY, rng, type_counts, force_lacking_user=force)
    topic = np.floor(rng.random(n_conv) * np.array([len(tx.TOPICS[t]) for t in cb.CONVERSATION_TYPES])[ctype])
    topic = topic.astype(int)
    inter_conv, inter_turn, resp_inter = conversation_layout(r0, structure.n_responses)

    # languages: local-language conversations for users of non-English countries
    rng_f = _rng(seed, copy, _S_FLAGS)
    u = rng_f.random(n_conv)
    local = [users.conv_lang[i] for i in conv_user]
    langs = list(tx.LANGUAGE_WEIGHTS)
    lw = np.array(list(tx.LANGUAGE_WEIGHTS.values()), dtype=float)
    random_lang = rng_f.choice(len(langs), size=n_conv, p=lw / lw.sum())
    lang = [
        (loc if (loc and uu < P_FOREIGN_CONV_NATIVE) else langs[rl] if uu < P_FOREIGN_CONV_OTHER else "en")
        for loc, uu, rl in zip(local, u, random_lang)
    ]
    if keep_users < USERS_PER_COPY and all(lang[c] == "en" for c in np.flatnonzero(kept_conv)):
        lang[int(np.flatnonzero(kept_conv)[0])] = "es"

    # models at turn 0: r0 distinct models, weighted by the published counts (SPEC §1.5)
    rng_m = _rng(seed, copy, _S_MODELS)
    model_counts = _cat_counts(book, "Utterances", "model_name", cb.MODEL_NAMES)
    keys = np.log(model_counts)[None, :] + _gumbel(rng_m, (n_conv, len(cb.MODEL_NAMES)))
    top4 = np.argsort(-keys, axis=1)[:, :4]
    n_resp = len(resp_inter)
    score_stats = book[("Utterances", "score")]
    score = _beta_ints(rng_m, score_stats["mean"], score_stats["std"], 1, 100, n_resp)
    resp_turn = inter_turn[resp_inter]
    resp_conv = inter_conv[resp_inter]
    first_resp = np.concatenate(([0], np.cumsum(np.bincount(resp_inter))[:-1]))
    slot = np.arange(n_resp) - first_resp[resp_inter]  # position within the interaction
    model = np.empty(n_resp, dtype=int)
    t0 = resp_turn == 0
    model[t0] = top4[resp_conv[t0], slot[t0]]
    # turn 0: best = top score, ties broken at random; within_turn_id = a shuffled answer id
    pad = np.arange(4)[None, :] >= r0[:, None]
    t0_index = np.full((n_conv, 4), -1)
    t0_index[resp_conv[t0], slot[t0]] = np.flatnonzero(t0)
    jitter_score = np.where(pad, -np.inf, 0.0)
    jitter_score[~pad] = score[t0_index[~pad]] + rng_m.random((~pad).sum()) * 0.5
    best_slot = np.argmax(jitter_score, axis=1)
    ranks = np.where(pad, 2.0, rng_m.random((n_conv, 4))).argsort(axis=1).argsort(axis=1)
    wtid = np.empty(n_resp, dtype=int)
    wtid[t0] = ranks[resp_conv[t0], slot[t0]]
    chosen = np.zeros(n_resp, dtype=bool)
    chosen[t0_index[np.arange(n_conv), best_slot]] = True
    best_model = top4[np.arange(n_conv), best_slot]
    # later turns: best model continues; the higher-scored response is continued, and a few
    # A/B pairs are textually identical so both are "chosen" (SPEC §5 surplus)
    later = ~t0
    model[later] = best_model[resp_conv[later]]
    wtid[later] = slot[later]
    later_inter = np.flatnonzero(inter_turn > 0)
    identical = np.zeros(len(inter_conv), dtype=bool)
    identical[rng_m.choice(later_inter, size=IDENTICAL_LATER_PAIRS, replace=False)] = True
    if keep_users < USERS_PER_COPY:
        kept_later = later_inter[conv_user[inter_conv[later_inter]] < keep_users]
        if len(kept_later) and not identical[kept_later].any():
            identical[kept_later[0]] = True
    a = first_resp[later_inter]
    b = a + 1
    same = identical[later_inter]
    score[b[same]] = score[a[same]]
    a_wins = (score[a] > score[b]) | ((score[a] == score[b]) & (rng_m.random(len(a)) < 0.5))
    chosen[a] = a_wins | same
    chosen[b] = ~a_wins | same

    # per-text flags
    n_inter = len(inter_conv)
    foreign_conv = np.array([x != "en" for x in lang])
    resp_foreign = foreign_conv[resp_conv] & (rng_f.random(n_resp) < P_FOREIGN_MODEL_REPLY)
    resp_empty = t0 & (rng_f.random(n_resp) < P_EMPTY_MODEL)
    resp_pii = rng_f.random(n_resp) < P_PII_MODEL
    resp_toxic = rng_f.random(n_resp) < P_TOXIC_MODEL
    prompt_empty = (inter_turn > 0) & (rng_f.random(n_inter) < P_EMPTY_PROMPT)
    prompt_pii = rng_f.random(n_inter) < P_PII_HUMAN
    prompt_toxic = rng_f.random(n_inter) < P_TOXIC_PROMPT
    prompt_real = np.where(rng_f.random(n_conv) < P_REAL_OPENING, rng_f.integers(0, n_real_prompts, n_conv), -1)
    fb_pii = rng_f.random(n_conv) < P_PII_HUMAN
    fb_toxic = rng_f.random(n_conv) < P_TOXIC_FEEDBACK
    fb_foreign = foreign_conv & (rng_f.random(n_conv) < P_FOREIGN_FEEDBACK)
    if keep_users < USERS_PER_COPY:
        kept_resp = np.flatnonzero(kept_conv[resp_conv] & t0)
        if not resp_empty[kept_resp].any():
            resp_empty[kept_resp[~chosen[kept_resp]][0]] = True
        if not resp_pii[kept_conv[resp_conv]].any():
            resp_pii[np.flatnonzero(kept_conv[resp_conv])[0]] = True

    # attributes (SPEC §1.4): beta draws with the codebook means/sd, a fixed number of
    # conversations with >= 1 N/A
    rng_c = _rng(seed, copy, _S_CONV)
    attrs = []
    for name, n_null in (("performance_attributes", PERF_NULL_CONVERSATIONS),
                         ("choice_attributes", CHOICE_NULL_CONVERSATIONS)):
        stats = {d["variable_name"]: d for d in book[("Conversations", name)]["nested_values"]}
        vals = np.column_stack([_beta_ints(rng_c, stats[k]["mean"], stats[k]["std"], 1, 100, n_conv)
                                for k in cb.ATTRIBUTE_KEYS])
        null_conv = rng_c.choice(n_conv, size=n_null, replace=False)
        k_null = np.minimum(rng_c.geometric(0.55, n_null), 7)
        order = np.argsort(rng_c.random((n_null, 7)), axis=1)
        mask = np.zeros((n_null, 7), dtype=bool)
        np.put_along_axis(mask, order, np.arange(7)[None, :] < k_null[:, None], axis=1)
        sub = vals[null_conv]
        sub[mask] = -1
        vals[null_conv] = sub
        attrs.append(vals)

    # timing: durations grow with turns; conversations end after the user's survey, in order
    rng_t = _rng(seed, copy, _S_TIME)
    duration = np.round(rng_t.lognormal(np.log(255 + 68 * turns), 0.53) + rng_t.random(n_conv), 2)
    duration = np.clip(duration, *CONV_DURATION_RANGE)
    duration[np.argmin(duration)] = CONV_DURATION_RANGE[0]
    duration[np.argmax(duration)] = CONV_DURATION_RANGE[1]
    duration = _unambiguous_minutes(duration)
    gap = rng_t.uniform(20, 240, n_conv)
    step = duration + gap
    order = np.lexsort((np.arange(n_conv), conv_user))
    cum = np.empty(n_conv)
    cum[order] = pd.Series(step[order]).groupby(conv_user[order]).cumsum().to_numpy()
    s0 = datetime.fromisoformat(SURVEY_DT_RANGE[0])
    c0 = datetime.fromisoformat(CONV_DT_RANGE[0])
    c_span = (datetime.fromisoformat(CONV_DT_RANGE[1]) - c0).total_seconds()
    offset = (s0 - c0).total_seconds()
    end_dt = np.clip(np.floor(users.survey_dt[conv_user] + offset + cum - gap), 0, c_span)

    return Conversations(
        ctype=ctype, topic=topic, lang=lang, r0=r0, turns=turns, inter_conv=inter_conv, inter_turn=inter_turn,
        resp_inter=resp_inter, resp_model=model, resp_score=score, resp_wtid=wtid, resp_chosen=chosen,
        identical=identical, resp_empty=resp_empty, resp_pii=resp_pii, resp_toxic=resp_toxic,
        resp_foreign=resp_foreign, prompt_empty=prompt_empty, prompt_pii=prompt_pii, prompt_toxic=prompt_toxic,
        prompt_real=prompt_real, fb_pii=fb_pii, fb_toxic=fb_toxic, fb_foreign=fb_foreign, perf=attrs[0],
        choice=attrs[1], end_dt=end_dt, duration=duration,
    )


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------
def _add(rng: random.Random, text: str, pii: bool, toxic: bool, author: str) -> str:
    if toxic and author == "model":  # short, so that the insult dominates the response
        text = tx.toxic_sentence(rng, author)
    elif toxic:
        text = f"{text} {tx.toxic_sentence(rng, author)}" if rng.random() < 0.75 else tx.toxic_sentence(rng, author)
    if pii:
        text = f"{text} {tx.pii_sentence(rng, author)}"
    return text


def _fmt_dt(base: datetime, seconds: float) -> str:
    return (base + timedelta(seconds=float(seconds))).strftime("%Y-%m-%d %H:%M:%S")


def _survey_row(i: int, uid: str, n_conv: int, users: Users, rng: random.Random) -> dict:
    loc = ctry.LOCALES[users.locale[i]]
    lang = users.foreign_lang[i]
    if lang:
        self_desc = tx.foreign_text(rng, lang, "self", 3)
        system = tx.foreign_text(rng, lang, "system", 2)
    else:
        self_desc = tx.self_description(rng)
        system = tx.system_string(rng, long=i == users.long_system)
    self_desc = _add(rng, self_desc, bool(users.pii_self[i]), bool(users.toxic_self[i]), "human")
    system = _add(rng, system, bool(users.pii_system[i]), bool(users.toxic_system[i]), "human")
    if rng.random() < 0.02:  # self_description is not normalised
        self_desc += rng.choice((" ", "\n", "  "))
    eth = cb.ETHNICITY_CATEGORISED[users.ethnicity[i]]
    rel = cb.RELIGION_CATEGORISED[users.religion[i]]
    shown = users.frequency[i] >= 0
    if shown:
        uc = {k: int(v) for k, v in zip(cb.USECASE_KEYS + ("other",), users.usecases[i])}
        uc["other_text"] = (tx.usecase_other_text(rng) if uc["other"] == 1 and rng.random() >= P_OTHER_TEXT_NULL
                            else None)
        uc_order = {k: int(v) for k, v in zip(cb.USECASE_KEYS, users.usecase_order[i])} | {"other": 19}
    else:
        uc = dict.fromkeys(cb.LM_USECASES_KEYS)
        uc_order = dict.fromkeys(cb.ORDER_LM_USECASES_KEYS)
    prefs = {k: int(v) for k, v in zip((*cb.STATED_PREF_KEYS, "other"), users.prefs[i])}
    prefs["other_text"] = tx.pref_other_text(rng) if rng.random() < P_PREF_OTHER_TEXT else None
    pref_order = {k: int(v) for k, v in zip(cb.STATED_PREF_KEYS, users.pref_order[i])} | {"other": 9}
    duration = float(users.duration[i])
    row = {
        "user_id": uid,
        "survey_only": n_conv == 0,
        "num_completed_conversations": n_conv,
        "consent": cb.CONSENT,
        "consent_age": cb.CONSENT_AGE,
        "lm_familiarity": cb.LM_FAMILIARITY[users.familiarity[i]],
        "lm_indirect_use": cb.YES_NO_UNSURE[users.indirect[i]],
        "lm_direct_use": cb.YES_NO_UNSURE[users.direct[i]],
        "lm_frequency_use": cb.LM_FREQUENCY_USE[users.frequency[i]] if shown else None,
        "self_description": self_desc,
        "system_string": system,
        "age": cb.AGE[users.age[i]],
        "gender": cb.GENDER[users.gender[i]],
        "employment_status": cb.EMPLOYMENT_STATUS[users.employment[i]],
        "education": cb.EDUCATION[users.education[i]],
        "marital_status": cb.MARITAL_STATUS[users.marital[i]],
        "english_proficiency": cb.ENGLISH_PROFICIENCY[users.english[i]],
        "study_id": users.study_ids[users.study[i]],
        "study_locale": loc.name,
        "religion": {
            "self_described": _pick_self_described(rng, _REL_SELF, rel, loc.origin),
            "categorised": rel,
            "simplified": cb.RELIGION_SIMPLIFIED_OF[rel],
        },
        "ethnicity": {
            "self_described": _pick_self_described(rng, _ETH_SELF, eth, loc.origin, users.birth[i]),
            "categorised": eth,
            "simplified": cb.ETHNICITY_SIMPLIFIED_OF[eth],
        },
        "location": _location(users.birth[i], users.reside[i]),
        "lm_usecases": uc,
        "stated_prefs": prefs,
        "order_lm_usecases": uc_order,
        "order_stated_prefs": pref_order,
        "generated_datetime": _fmt_dt(datetime.fromisoformat(SURVEY_DT_RANGE[0]), users.survey_dt[i]),
        "timing_duration_s": duration,
        "timing_duration_mins": float(np.round(duration / 60, 2)),
    }
    return {k: row[k] for k in SURVEY_KEYS}


def _location(birth: str, reside: str) -> dict:
    """The 10 ``location`` keys (SPEC §5 "Countries", ``special_region`` from birth)."""
    pnts = ctry.PREFER_NOT_TO_SAY
    r = ctry.COUNTRIES[reside]
    if birth == pnts:
        b_name = b_iso = b_region = b_sub = pnts
        same = pnts
    else:
        b = ctry.COUNTRIES[birth]
        b_name, b_iso, b_region, b_sub = b.name, b.iso3, b.region, b.subregion
        same = "Yes" if birth == reside else "No"
    loc = {
        "birth_country": b_name,
        "birth_countryISO": b_iso,
        "birth_region": b_region,
        "birth_subregion": b_sub,
        "reside_country": r.name,
        "reside_region": r.region,
        "reside_subregion": r.subregion,
        "reside_countryISO": r.iso3,
        "same_birth_reside_country": same,
        "special_region": ctry.special_region(birth),
    }
    return {k: loc[k] for k in cb.LOCATION_KEYS}


def _conversation_row(c: int, cid: str, uid: str, convs: Conversations, inter_range: tuple[int, int],
                      resp_first: np.ndarray, real_prompts: list[str], rng: random.Random) -> dict:
    ctype = cb.CONVERSATION_TYPES[convs.ctype[c]]
    topic = tx.TOPICS[ctype][convs.topic[c]]
    lang = convs.lang[c]
    history: list[dict] = []
    opening = ""
    for g in range(*inter_range):
        turn = int(convs.inter_turn[g])
        # user prompt
        if convs.prompt_empty[g]:
            prompt = cb.EMPTY_STRING
        elif turn == 0:
            if lang != "en":
                prompt = tx.foreign_text(rng, lang, "prompt")
            elif convs.prompt_real[c] >= 0:
                prompt = real_prompts[convs.prompt_real[c]]
            else:
                prompt = tx.opening_prompt(rng, ctype, topic)
        else:
            prompt = tx.foreign_text(rng, lang, "followup") if lang != "en" else tx.followup_prompt(rng, topic)
        if prompt != cb.EMPTY_STRING:
            prompt = normalise_text(_add(rng, prompt, bool(convs.prompt_pii[g]), bool(convs.prompt_toxic[g]), "human"))
        if turn == 0:
            opening = prompt
        history.append({"turn": turn, "role": "user", "content": prompt})
        # model responses
        first, last = int(resp_first[g]), int(resp_first[g + 1])
        texts: list[str] = []
        for k in range(first, last):
            name = cb.MODEL_NAMES[convs.resp_model[k]]
            if convs.identical[g] and k == first + 1:
                texts.append(texts[0])
                continue
            while True:
                if convs.resp_empty[k]:
                    text = cb.EMPTY_STRING
                else:
                    if convs.resp_foreign[k]:
                        text = tx.foreign_text(rng, lang, "response", rng.randint(2, 6))
                    else:
                        text = tx.model_response(rng, ctype, topic, name)
                    text = normalise_text(_add(rng, text, bool(convs.resp_pii[k]), bool(convs.resp_toxic[k]), "model"))
                if turn == 0 or not texts or text != texts[0]:
                    break  # later-turn A/B texts differ unless drawn identical
            texts.append(text)
        for k, text in zip(range(first, last), texts):
            name = cb.MODEL_NAMES[convs.resp_model[k]]
            history.append({
                "turn": turn, "role": "model", "content": text, "model_provider": cb.MODEL_PROVIDER_OF[name],
                "model_name": name, "score": int(convs.resp_score[k]), "if_chosen": bool(convs.resp_chosen[k]),
                "within_turn_id": int(convs.resp_wtid[k]),
            })
    if convs.fb_foreign[c]:
        feedback = tx.foreign_text(rng, lang, "feedback", 2)
    else:
        feedback = tx.open_feedback(rng, topic)
    feedback = _add(rng, feedback, bool(convs.fb_pii[c]), bool(convs.fb_toxic[c]), "human")
    if rng.random() < 0.03:  # open_feedback is not normalised (SPEC §1.2)
        feedback += rng.choice((" ", "\n", "  "))

    def attrs(vals: np.ndarray) -> dict:
        return {k: (None if v < 0 else int(v)) for k, v in zip(cb.ATTRIBUTE_KEYS, vals)}

    duration = float(convs.duration[c])
    row = {
        "conversation_id": cid,
        "user_id": uid,
        "conversation_type": ctype,
        "opening_prompt": opening,
        "conversation_turns": int(convs.turns[c]),
        "conversation_history": history,
        "performance_attributes": attrs(convs.perf[c]),
        "choice_attributes": attrs(convs.choice[c]),
        "open_feedback": feedback,
        "generated_datetime": _fmt_dt(datetime.fromisoformat(CONV_DT_RANGE[0]), convs.end_dt[c]),
        "timing_duration_s": duration,
        "timing_duration_mins": float(np.round(duration / 60, 2)),
    }
    return {k: row[k] for k in CONVERSATION_KEYS}


def _dump(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------
def generate(out_dir: Path, scale: float = 1.0, seed: int = 0) -> dict:
    """Write ``out_dir/survey.jsonl`` and ``out_dir/conversations.jsonl``; return the counts.

    ``scale`` 1 reproduces PRISM's real structure (1,500 users, 104 survey-only, 8,011
    conversations, 27,172 interactions, 68,371 scored responses); see the module docstring for
    other scales. Returns ``{"users", "survey_only", "conversations", "interactions",
    "utterances"}``.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    n_users = max(1, round(USERS_PER_COPY * scale))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    structure = load_structure()
    book = load_codebook()
    pool = load_census_pool()
    real_prompts = load_opening_prompts()
    counts = dict.fromkeys(("users", "survey_only", "conversations", "interactions", "utterances"), 0)
    n_copies = math.ceil(n_users / USERS_PER_COPY)
    with open(out_dir / "survey.jsonl", "w", encoding="utf-8", newline="\n") as f_survey, \
            open(out_dir / "conversations.jsonl", "w", encoding="utf-8", newline="\n") as f_conv:
        for copy in range(n_copies):
            keep = min(USERS_PER_COPY, n_users - copy * USERS_PER_COPY)
            users = _draw_users(seed, copy, book, pool, keep)
            convs = _draw_conversations(seed, copy, structure, book, users, len(real_prompts), keep)
            offset = copy * USERS_PER_COPY
            per_user = np.bincount(structure.conv_user, minlength=USERS_PER_COPY)
            for i in range(keep):
                rng = random.Random(f"survey/{seed}/{copy}/{i}")
                row = _survey_row(i, f"user{offset + i}", int(per_user[i]), users, rng)
                f_survey.write(_dump(row))
            counts["users"] += keep
            counts["survey_only"] += int((per_user[:keep] == 0).sum())
            inter_first = np.concatenate(([0], np.cumsum(convs.turns)))
            resp_first = np.concatenate(([0], np.cumsum(np.bincount(convs.resp_inter))))
            for c in np.flatnonzero(structure.conv_user < keep):
                rng = random.Random(f"conversation/{seed}/{copy}/{c}")
                cid = f"c{counts['conversations']}"
                uid = f"user{offset + int(structure.conv_user[c])}"
                row = _conversation_row(int(c), cid, uid, convs, (int(inter_first[c]), int(inter_first[c + 1])),
                                        resp_first, real_prompts, rng)
                f_conv.write(_dump(row))
                counts["conversations"] += 1
                counts["interactions"] += int(convs.turns[c])
                counts["utterances"] += int(structure.n_responses[c])
    return counts
