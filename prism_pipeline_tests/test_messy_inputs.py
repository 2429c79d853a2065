"""Messy but valid real-world texts (``corpus/messy_texts.json`` plus two very long ones) run
through the whole graph: conversation texts come out normalised as SPEC §1.2 says, survey
texts and open feedback exactly as read, every check passes but the normalisation warning."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from prism_pipeline.core.normalise import process_text
from prism_pipeline_tests.pipeline import failure_messages, make_defs, run_job
from prism_pipeline_tests.records import conversation_record, survey_record, write_jsonl

CORPUS = [x["text"] for x in json.loads((Path(__file__).parent / "corpus" / "messy_texts.json")
                                         .read_text(encoding="utf-8"))]
CORPUS += [("A long paragraph about values and culture. " * 2500).strip(), "x" * 60_000]


USERS = 5  # the codebook allows at most 7 conversations per participant


def _records(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").split("\n") if x]


def _raw(raw: Path) -> Path:
    """Every corpus text as a user message, a model response, an opening prompt, open feedback,
    a self-description and a system string (one conversation per text, at most 7 per participant)."""
    conversations = []
    for i, text in enumerate(CORPUS):
        rec = conversation_record(i, i % USERS, turns=2, open_feedback=text)
        rec["opening_prompt"] = rec["conversation_history"][0]["content"] = text
        rec["conversation_history"][1]["content"] = text  # a model response
        rec["conversation_history"][3]["content"] = CORPUS[-1 - i]  # a follow-up user message
        conversations.append(rec)
    per_user = [sum(1 for r in conversations if r["user_id"] == f"user{u}") for u in range(USERS)]
    survey = [survey_record(u, per_user[u], self_description=CORPUS[u], system_string=CORPUS[-1 - u])
              for u in range(USERS)]
    write_jsonl(raw / "survey.jsonl", survey)
    write_jsonl(raw / "conversations.jsonl", conversations)
    return raw


@pytest.mark.slow
def test_messy_texts_run_to_a_release(tmp_path):
    raw, out = _raw(tmp_path / "raw"), tmp_path / "release"
    result = run_job(make_defs(raw, out, tmp_path / "state"))
    assert result.success, failure_messages(result)
    checks = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert [n for n, c in checks.items() if not c.passed] == ["conversation_texts_normalised"]

    normal = process_text(pd.Series(CORPUS, dtype="str")).tolist()
    changed = sum(a != b for a, b in zip(CORPUS, normal))
    assert checks["conversation_texts_normalised"].metadata["content_changed"].value == 3 * changed
    released = {r["conversation_id"]: r for r in _records(out / "conversations.jsonl")}
    for i, text in enumerate(CORPUS):
        rec = released[f"c{i}"]
        history = rec["conversation_history"]
        assert (rec["opening_prompt"], history[0]["content"], history[1]["content"]) == (normal[i],) * 3
        assert history[3]["content"] == normal[-1 - i]
        assert rec["open_feedback"] == text
    survey = _records(out / "survey.jsonl")
    assert [(s["self_description"], s["system_string"]) for s in survey] == [
        (CORPUS[u], CORPUS[-1 - u]) for u in range(USERS)]
    # One metadata row per text instance, every flag filled.
    metadata = _records(out / "metadata.jsonl")
    # per participant two survey texts; per conversation its feedback, 2 prompts (turns) and 4 responses
    assert len(metadata) == 2 * USERS + len(CORPUS) * (1 + 2 + 4)
    assert all(isinstance(m["pii_flag"], bool) and "flagged" in m["moderation_flag"] for m in metadata)
