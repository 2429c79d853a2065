"""Tests of the seeded synthetic PRISM generator (prism_pipeline_synthetic; SPEC §1.3–§1.5, §1.8, §5)."""

from __future__ import annotations

import collections
import json
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism_pipeline.prism import codebook as cb
from prism_pipeline_synthetic import countries as ctry
from prism_pipeline_synthetic import generator as gen

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SCALE = 0.05
EXPECTED_SURVEY_KEYS = tuple(k for k in cb.SURVEY_COLUMNS if not k.startswith("included_in_"))
EXPECTED_CONVERSATION_KEYS = tuple(k for k in cb.CONVERSATION_COLUMNS if not k.startswith("included_in_"))


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("synthetic_sample")
    counts = gen.generate(out, scale=SAMPLE_SCALE, seed=0)
    return {"dir": out, "counts": counts, "survey": _read(out / "survey.jsonl"),
            "conversations": _read(out / "conversations.jsonl")}


@pytest.fixture(scope="module")
def structure() -> gen.Structure:
    return gen.load_structure()


# --------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert gen.generate(a, scale=0.02, seed=7) == gen.generate(b, scale=0.02, seed=7)
    gen.generate(c, scale=0.02, seed=8)
    for name in ("survey.jsonl", "conversations.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() != (c / name).read_bytes()


def test_committed_sample_is_the_generator_output(sample):
    for name in ("survey.jsonl", "conversations.jsonl"):
        assert (REPO / "data" / "raw" / name).read_bytes() == (sample["dir"] / name).read_bytes()


def test_scale_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="scale must be positive, got 0"):
        gen.generate(tmp_path, scale=0)


def test_modules_do_not_import_dagster():
    for module in ("generator", "texts", "countries"):
        src = (REPO / "prism_pipeline_synthetic" / f"{module}.py").read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+dagster", src, flags=re.M)


# --------------------------------------------------------------------------- published format
def test_key_orders_and_no_derived_flags(sample):
    for row in sample["survey"]:
        assert tuple(row) == EXPECTED_SURVEY_KEYS
        for parent, keys in cb.SURVEY_NESTED.items():
            assert tuple(row[parent]) == keys
    for row in sample["conversations"]:
        assert tuple(row) == EXPECTED_CONVERSATION_KEYS
        for parent, keys in cb.CONVERSATION_NESTED.items():
            assert tuple(row[parent]) == keys
        for item in row["conversation_history"]:
            assert tuple(item) == (cb.HISTORY_USER_KEYS if item["role"] == "user" else cb.HISTORY_MODEL_KEYS)
    assert "included_in_balanced_subset" not in EXPECTED_SURVEY_KEYS


def test_lines_are_plain_json_without_nan(sample):
    for name in ("survey.jsonl", "conversations.jsonl"):
        text = (sample["dir"] / name).read_text(encoding="utf-8")
        assert "NaN" not in text and text.endswith("}\n")
        first = text.splitlines()[0]
        assert first == json.dumps(json.loads(first), ensure_ascii=False)


# --------------------------------------------------------------------------- structure
def test_counts_ids_and_user_map_follow_the_structure_files(sample, structure):
    survey, convs, counts = sample["survey"], sample["conversations"], sample["counts"]
    n_users = round(1500 * SAMPLE_SCALE)
    assert [r["user_id"] for r in survey] == [f"user{i}" for i in range(n_users)]
    assert [c["conversation_id"] for c in convs] == [f"c{i}" for i in range(len(convs))]
    kept = np.flatnonzero(structure.conv_user < n_users)  # real conversations, file order
    assert [c["user_id"] for c in convs] == [f"user{u}" for u in structure.conv_user[kept]]
    n_model = [sum(h["role"] == "model" for h in c["conversation_history"]) for c in convs]
    assert n_model == structure.n_responses[kept].tolist()
    per_user = collections.Counter(c["user_id"] for c in convs)
    for r in survey:
        assert r["num_completed_conversations"] == per_user.get(r["user_id"], 0)
        assert r["survey_only"] is (per_user.get(r["user_id"], 0) == 0)
    assert counts == {
        "users": n_users,
        "survey_only": sum(r["survey_only"] for r in survey),
        "conversations": len(convs),
        "interactions": sum(c["conversation_turns"] for c in convs),
        "utterances": sum(n_model),
    }


def test_conversation_history_rules(sample):
    for conv in sample["conversations"]:
        hist = conv["conversation_history"]
        turns = collections.defaultdict(list)
        for item in hist:
            turns[item["turn"]].append(item)
        assert list(turns) == list(range(conv["conversation_turns"]))  # contiguous, in order
        assert 2 <= conv["conversation_turns"] <= 22
        assert conv["opening_prompt"] == turns[0][0]["content"]
        for t, items in turns.items():
            assert items[0]["role"] == "user" and all(i["role"] == "model" for i in items[1:])
            models = items[1:]
            for m in models:
                assert m["model_provider"] == cb.MODEL_PROVIDER_OF[m["model_name"]]
                assert 1 <= m["score"] <= 100 and isinstance(m["score"], int)
            if t == 0:
                assert 1 <= len(models) <= 4
                assert sorted(m["within_turn_id"] for m in models) == list(range(len(models)))
                assert len({m["model_name"] for m in models}) == len(models)
                assert sum(m["if_chosen"] for m in models) == 1
                best = next(m for m in models if m["if_chosen"])
                assert best["score"] == max(m["score"] for m in models)
            else:
                assert len(models) == 2
                assert [m["within_turn_id"] for m in models] == [0, 1]
                assert {m["model_name"] for m in models} == {best["model_name"]}
                same = models[0]["content"] == models[1]["content"]
                assert [m["if_chosen"] for m in models].count(True) == (2 if same else 1)
        for item in hist:  # normalised texts (SPEC §1.2)
            assert item["content"] == item["content"].strip() and item["content"]


def test_turn0_layout_uses_one_response_only_for_three_response_conversations(structure):
    r0 = gen.split_turn0(structure.n_responses, np.random.default_rng(0))
    turns = (structure.n_responses - r0) // 2 + 1
    assert int(turns.sum()) == 27_172 and int(r0.sum()) == 30_049
    assert set(np.unique(r0)) == {1, 2, 3, 4}
    assert (structure.n_responses[r0 == 1] == 3).all() and (r0[structure.n_responses == 3] == 1).all()
    assert turns.min() == 2 and turns.max() == 22 and len(np.unique(turns)) == 13
    with pytest.raises(ValueError, match="cannot reach 40000 interactions"):
        gen.split_turn0(structure.n_responses, np.random.default_rng(0), target_interactions=40_000)


def test_type_assignment_reproduces_the_balanced_structure(structure):
    book = gen.load_codebook()
    counts = [3113, 2460, 2438]
    ctype = gen.assign_types(structure.conv_user, 1500, np.random.default_rng(3), counts)
    assert np.bincount(ctype).tolist() == counts
    frame = pd.DataFrame({"u": structure.conv_user, "t": ctype})
    per_type = frame.groupby(["u", "t"]).size().unstack(fill_value=0)
    m = per_type.min(axis=1)
    assert collections.Counter(m.tolist()) == {2: 986, 1: 260, 0: 150}
    assert book[("Conversations", "conversation_type")] == dict(zip(cb.CONVERSATION_TYPES, counts))


def test_allocate_gives_exact_counts():
    rng = np.random.default_rng(0)
    aff = np.ones((10, 3))
    aff[:4, 0] = 100.0
    labels = gen.allocate(rng, aff, [4, 5, 1], order=[0, 2, 1])
    assert np.bincount(labels).tolist() == [4, 5, 1]
    assert (labels[:4] == 0).all()  # overwhelming affinity wins
    with pytest.raises(ValueError, match="counts sum to 9, expected 10"):
        gen.allocate(rng, aff, [4, 4, 1], order=[0, 1, 2])


# --------------------------------------------------------------------------- survey values
def test_survey_values(sample):
    lo, hi = (datetime.fromisoformat(x) for x in gen.SURVEY_DT_RANGE)
    for r in sample["survey"]:
        assert r["consent"] == cb.CONSENT and r["consent_age"] == cb.CONSENT_AGE
        assert r["age"] in cb.AGE and r["gender"] in cb.GENDER and r["education"] in cb.EDUCATION
        shown = "Yes" in (r["lm_direct_use"], r["lm_indirect_use"])
        assert (r["lm_frequency_use"] is not None) is shown
        usecases = [r["lm_usecases"][k] for k in cb.USECASE_KEYS + ("other",)]
        order = [r["order_lm_usecases"][k] for k in cb.ORDER_LM_USECASES_KEYS]
        if shown:
            assert set(usecases) <= {0, 1}
            assert sorted(order[:-1]) == list(range(1, 19)) and order[-1] == 19
            if r["lm_usecases"]["other"] == 0:
                assert r["lm_usecases"]["other_text"] is None
        else:
            assert set(usecases + order + [r["lm_usecases"]["other_text"]]) == {None}
        prefs = [r["stated_prefs"][k] for k in cb.STATED_PREF_KEYS + ("other",)]
        assert all(isinstance(v, int) and 0 <= v <= 100 for v in prefs)
        assert sorted(r["order_stated_prefs"][k] for k in cb.STATED_PREF_KEYS) == list(range(1, 9))
        assert r["order_stated_prefs"]["other"] == 9
        assert r["religion"]["simplified"] == cb.RELIGION_SIMPLIFIED_OF[r["religion"]["categorised"]]
        assert r["ethnicity"]["simplified"] == cb.ETHNICITY_SIMPLIFIED_OF[r["ethnicity"]["categorised"]]
        for ident in (r["religion"], r["ethnicity"]):
            assert re.fullmatch(r"[a-z0-9 /-]+", ident["self_described"])
        loc = r["location"]
        assert loc["special_region"] in cb.SPECIAL_REGION
        assert loc["special_region"] == ctry.special_region(loc["birth_countryISO"])
        assert loc["same_birth_reside_country"] == (
            "Prefer not to say" if loc["birth_country"] == "Prefer not to say"
            else "Yes" if loc["birth_countryISO"] == loc["reside_countryISO"] else "No")
        assert re.fullmatch(r"[0-9a-f]{24}", r["study_id"])
        assert lo <= datetime.fromisoformat(r["generated_datetime"]) <= hi
        s = r["timing_duration_s"]
        assert isinstance(s, float) and s == int(s) and 160 <= s <= 529_927
        assert r["timing_duration_mins"] == round(s / 60, 2)


def test_conversation_values(sample):
    lo, hi = (datetime.fromisoformat(x) for x in gen.CONV_DT_RANGE)
    for c in sample["conversations"]:
        assert c["conversation_type"] in cb.CONVERSATION_TYPES
        for parent in ("performance_attributes", "choice_attributes"):
            assert all(v is None or (isinstance(v, int) and 1 <= v <= 100) for v in c[parent].values())
        assert 2 <= len(c["open_feedback"]) <= 1581
        assert lo <= datetime.fromisoformat(c["generated_datetime"]) <= hi
        assert 73.5 <= c["timing_duration_s"] <= 17_145.8
        assert c["timing_duration_s"] == round(c["timing_duration_s"], 2)
        assert c["timing_duration_mins"] == round(c["timing_duration_s"] / 60, 2)


def test_sample_contains_the_features_the_pipeline_must_see(sample):
    import langid
    import scrubadub

    survey, convs = sample["survey"], sample["conversations"]
    assert any(r["survey_only"] for r in survey)
    locales = {r["study_locale"] for r in survey}
    assert {"uk", "us"} <= locales
    types = collections.defaultdict(set)
    for c in convs:
        types[c["user_id"]].add(c["conversation_type"])
    assert any(len(t) < 3 for t in types.values())
    items = [h for c in convs for h in c["conversation_history"]]
    assert any(h["content"] == cb.EMPTY_STRING for h in items)
    chosen = collections.Counter((c["conversation_id"], h["turn"]) for c in convs
                                 for h in c["conversation_history"] if h["role"] == "model" and h["if_chosen"])
    assert max(chosen.values()) == 2
    texts = [h["content"] for h in items]
    assert any(langid.classify(t)[0] != "en" for t in texts if not t.isascii())
    scrubber = scrubadub.Scrubber()
    assert any(scrubber.clean(t) != t for t in texts if "@" in t or "http" in t or "www." in t)


# --------------------------------------------------------------------------- full scale
@pytest.mark.slow  # scale-1 data: the fast tier runs none
def test_scale_one_reproduces_the_headline_counts(tmp_path, structure):
    counts = gen.generate(tmp_path, scale=1, seed=0)
    assert counts == {"users": 1500, "survey_only": 104, "conversations": 8011, "interactions": 27_172,
                      "utterances": 68_371}
    convs = _read(tmp_path / "conversations.jsonl")
    assert [c["user_id"] for c in convs] == [f"user{u}" for u in structure.conv_user]
    n_model = [sum(h["role"] == "model" for h in c["conversation_history"]) for c in convs]
    assert n_model == structure.n_responses.tolist()
    chosen = sum(h["if_chosen"] for c in convs for h in c["conversation_history"] if h["role"] == "model")
    assert chosen - counts["interactions"] == 265  # SPEC §5 surplus
    assert collections.Counter(c["conversation_type"] for c in convs) == {
        "unguided": 3113, "values guided": 2460, "controversy guided": 2438}
    survey = _read(tmp_path / "survey.jsonl")
    locales = collections.Counter(r["study_locale"] for r in survey)
    assert (locales["uk"], locales["us"], len(locales)) == (341, 386, 33)
    assert len({r["study_id"] for r in survey}) == 51
    assert sum(r["lm_frequency_use"] is None for r in survey) == 247
