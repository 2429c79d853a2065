"""The synthetic ThoughtTrace generator: seeded, at the published size and label mix at scale 1,
valid under every rule, with texts the flags have something to find in."""

import json

import numpy as np
import pandas as pd
import pytest

from prism_pipeline.thoughttrace import layout
from prism_pipeline.thoughttrace.inputs import assets
from prism_pipeline.thoughttrace.inputs.normalise import normalise_messages
from prism_pipeline.thoughttrace.inputs.parse import read_thoughttrace
from prism_pipeline.thoughttrace.tables import derive
from prism_pipeline_synthetic import thoughttrace as gen

FILE = layout.RAW_FILE


def _all_checks_pass(tables) -> list[str]:
    frames = {"conversations": tables.conversations, "survey_answers": tables.survey_answers,
              "messages": normalise_messages(tables.messages)[0], "thoughts": tables.thoughts}
    return [r.description for r in (c.result(frames[c.asset]) for c in assets.CHECKS) if not r.passed]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("tt_small")
    counts = gen.generate(out, scale=0.1, seed=3)
    return out, counts, read_thoughttrace(out / FILE)


def test_counts_scale_with_the_published_figures(small):
    _, counts, tables = small
    assert counts == {"users": 106, "conversations": 216, "turns": 1706, "messages": counts["messages"],
                      "thoughts": 1017, "models": 20, "median_turns": 8.0}
    assert counts["messages"] == 2 * 1706 - 2  # 1% of conversations end unanswered
    assert len(tables.conversations) == 216 and tables.conversations["user_id"].nunique() == 106
    assert len(tables.thoughts) == 1017 and len(tables.messages) == counts["messages"]


def test_every_generated_record_passes_every_rule(small):
    assert _all_checks_pass(small[2]) == []


def test_the_label_mix(small):
    _, _, tables = small
    labels = tables.thoughts["label"].value_counts()
    reasons = labels.reindex(layout.REASON_LABELS, fill_value=0)
    assert reasons["task_motivation"] == 216  # one per conversation, on its first message
    assert round(reasons["task_motivation"] / reasons.sum(), 3) == 0.369
    assert set(labels.index) == set(layout.LABELS)
    first = tables.thoughts.loc[tables.thoughts["message_index"] == 0]
    assert first.loc[first["thought_index"] == 0, "label"].eq("task_motivation").all()
    later = tables.thoughts.loc[tables.thoughts["label"].isin(gen.NOT_ON_FIRST)]
    assert later["message_index"].gt(0).all()


def test_the_structure(small):
    _, _, tables = small
    ids = tables.conversations["conversation_id"].str.extract(r"^user(\d+)_task(\d+)_conversation(\d+)$").astype(int)
    assert ids[1].isin([1, 2]).all() and ids[2].max() >= 2  # up to two tasks; some tasks have a second try
    assert tables.conversations["user_id"].is_monotonic_increasing is False  # user10 after user9: numeric order
    assert ids[0].is_monotonic_increasing
    users = derive.users_table(tables.conversations, tables.survey_answers)
    assert users["age"].isna().sum() == round(0.03 * 106)  # users without answers
    no_answers = ~tables.conversations["conversation_id"].isin(tables.survey_answers["conversation_id"])
    assert no_answers.sum() > users["age"].isna().sum()  # and some users left one conversation without
    messages = tables.messages
    assert (messages["message_id"] == pd.to_datetime(messages["timestamp"]).dt.as_unit("ms").astype("int64")).all()
    assert derive.turns_per_conversation(messages).median() == 8


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path, small):
    gen.generate(tmp_path / "a", scale=0.1, seed=3)
    gen.generate(tmp_path / "b", scale=0.1, seed=4)
    assert (tmp_path / "a" / FILE).read_bytes() == (small[0] / FILE).read_bytes()
    assert (tmp_path / "b" / FILE).read_bytes() != (small[0] / FILE).read_bytes()


def test_the_texts_give_the_flags_something_to_find(tmp_path):
    from prism_pipeline.core.flags.detectors import LANGUAGE_DETECTOR
    from prism_pipeline.core.flags.moderation.local import LocalModerationBackend
    from prism_pipeline.core.flags.pii import ScrubadubDetector
    from prism_pipeline.thoughttrace.metadata.text_instances import build_text_instances

    gen.generate(tmp_path, scale=0.01, seed=0)  # 11 users: every feature forced in once at least
    tables = read_thoughttrace(tmp_path / FILE)
    messages, counts = normalise_messages(tables.messages)
    assert counts["content_changed"] >= 2 and counts["content_emptied"] >= 1
    texts = build_text_instances(tables.conversations, messages, tables.thoughts)["text"].tolist()
    languages = {r["language_flag"] for r in LANGUAGE_DETECTOR.build().detect(texts)}
    assert "en" in languages and len(languages) > 1
    assert sum(r["pii_flag"] for r in ScrubadubDetector().detect(texts)) >= 3
    assert sum(r["flagged"] for r in LocalModerationBackend().detect(texts)) >= 2


def test_scale_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="scale must be positive"):
        gen.generate(tmp_path, scale=0)


@pytest.mark.slow
def test_scale_one_reproduces_the_published_figures(tmp_path):
    counts = gen.generate(tmp_path, scale=1, seed=0)
    tables = read_thoughttrace(tmp_path / FILE)
    users = derive.users_table(tables.conversations, tables.survey_answers)
    stats = derive.stats(tables.conversations, normalise_messages(tables.messages)[0], tables.thoughts, users)
    assert {k: stats[k] for k in ("users", "conversations", "turns", "thoughts", "models")} == {
        "users": 1058, "conversations": 2155, "turns": 17058, "thoughts": 10174, "models": 20}
    assert derive.turns_per_conversation(tables.messages).median() == 8
    assert counts["median_turns"] == 8
    reasons = np.array([stats["thoughts_by_label"][label] for label in layout.REASON_LABELS])
    assert round(reasons[0] / reasons.sum(), 3) == 0.369
    assert _all_checks_pass(tables) == []
    assert 20e6 < (tmp_path / FILE).stat().st_size < 40e6  # the published file: about 30 MB
    json.loads((tmp_path / FILE).read_text().splitlines()[-1])
