"""Conversation texts are normalised as the reference did (SPEC §1.2 ``process_text``), the
count is warned, strict mode keeps the rejection, and survey texts and open_feedback are never
touched or rejected for whitespace."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from prism_pipeline.core.normalise import process_text
from prism_pipeline.core.resources import InputSettings
from prism_pipeline.prism.codebook import EMPTY_STRING
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline.prism.schemas import is_normalised_text
from prism_pipeline_tests.pipeline import failure_messages, make_defs, run_job
from prism_pipeline_tests.records import conversation_record, survey_record, write_jsonl

BUNDLED_RAW = DATASET.default_dirs["raw"]

PROCESS_TEXT = [
    ("  padded  ", "padded"),
    ("\nnew lines\r\n", "new lines"),
    ("\u2028line separators\u2029", "line separators"),
    ("\u00a0no-break space\u3000", "no-break space"),
    ("inner  spaces\nkept", "inner  spaces\nkept"),
    ("", EMPTY_STRING),
    ("   \t\n", EMPTY_STRING),
    (None, EMPTY_STRING),
    ("None", EMPTY_STRING),
    (" None\n", EMPTY_STRING),
    ("none", "none"),  # only the literal "None" (SPEC §1.2)
    (EMPTY_STRING, EMPTY_STRING),
    ("🙂 emoji ", "🙂 emoji"),
    (" שלום עולם ", "שלום עולם"),
]


def test_process_text_cases():
    texts = pd.Series([t for t, _ in PROCESS_TEXT], dtype="str")
    assert process_text(texts).tolist() == [want for _, want in PROCESS_TEXT]


def test_schema_rule_accepts_exactly_the_normalised_texts():
    texts = pd.Series([t for t, _ in PROCESS_TEXT if t is not None], dtype="str")
    assert is_normalised_text(process_text(texts)).all()
    assert is_normalised_text(texts).tolist() == (process_text(texts) == texts).tolist()


def _records(path) -> list[dict]:
    # Not str.splitlines: it also splits at U+2028, which JSON leaves unescaped inside strings.
    return [json.loads(x) for x in path.read_text(encoding="utf-8").split("\n") if x]


def _checks(result):
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def _pad_bundled_sample(raw):
    """Copy the bundled sample with whitespace around every text of the first 50 conversations,
    one emptied user message and one model message that is the literal "None". Returns the
    original records and the positions of the two emptied items."""
    shutil.copytree(BUNDLED_RAW, raw)
    path = raw / "conversations.jsonl"
    original = _records(path)
    padded = json.loads(json.dumps(original))
    for rec in padded[:50]:
        rec["opening_prompt"] = f"  {rec['opening_prompt']}\n"
        rec["open_feedback"] = f" {rec['open_feedback']} "  # not normalised, must pass as it is
        for item in rec["conversation_history"]:
            item["content"] = f"\n{item['content']}\u2028 "
    later = padded[60]["conversation_history"]
    user_item = next(i for i, x in enumerate(later) if x["role"] == "user" and x["turn"] > 0)
    model_item = next(i for i, x in enumerate(later) if x["role"] == "model")
    later[user_item]["content"] = "   "
    later[model_item]["content"] = "None"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in padded), encoding="utf-8")
    return original, padded, (user_item, model_item)


@pytest.mark.slow
def test_bundled_sample_with_padded_texts_is_normalised_and_warned(tmp_path):
    original, padded, (user_item, model_item) = _pad_bundled_sample(tmp_path / "raw")
    messages = sum(len(r["conversation_history"]) for r in padded[:50])
    out = tmp_path / "release"
    result = run_job(make_defs(tmp_path / "raw", out, tmp_path / "state"))
    assert result.success, failure_messages(result)

    check = _checks(result)["conversation_texts_normalised"]
    assert not check.passed and check.severity.value == "WARN"
    assert check.description == (f"{messages + 52} texts normalised as SPEC §1.2: {messages + 2} messages "
                                 "(2 to 'EMPTY STRING'), 50 opening prompts (0 to 'EMPTY STRING')")
    assert {k: check.metadata[k].value for k in ("texts_changed", "content_changed", "content_emptied",
                                                 "opening_prompt_changed", "opening_prompt_emptied")} == {
        "texts_changed": messages + 52, "content_changed": messages + 2, "content_emptied": 2,
        "opening_prompt_changed": 50, "opening_prompt_emptied": 0}
    materialisation = result.asset_materializations_for_node("conversations_input")
    assert {m.metadata["texts_content_changed"].value for m in materialisation} == {messages + 2}

    released = {r["conversation_id"]: r for r in _records(out / "conversations.jsonl")}
    expected = json.loads(json.dumps(original))
    expected[60]["conversation_history"][user_item]["content"] = EMPTY_STRING
    expected[60]["conversation_history"][model_item]["content"] = EMPTY_STRING
    for want, rec in zip(expected, padded):
        got = released[want["conversation_id"]]
        assert got["opening_prompt"] == want["opening_prompt"]
        assert ([x["content"] for x in got["conversation_history"]]
                == [x["content"] for x in want["conversation_history"]])
        assert got["open_feedback"] == rec["open_feedback"]  # as read, padding and all


def _tiny_with_padding(raw):
    """Two participants: user0's first message and opening prompt padded, every survey free
    text and the open feedback padded too."""
    conversations = [conversation_record(0, 0, open_feedback="  fine\n"), conversation_record(1, 0)]
    conversations[0]["opening_prompt"] = " Opening prompt of c0"
    conversations[0]["conversation_history"][0]["content"] = " Opening prompt of c0"
    survey = [survey_record(0, 2, self_description=" I like hiking.\n", system_string="\u2028Be kind. "),
              survey_record(1, 0)]
    write_jsonl(raw / "survey.jsonl", survey)
    write_jsonl(raw / "conversations.jsonl", conversations)
    return raw


@pytest.mark.slow
def test_strict_mode_rejects_unnormalised_texts_and_writes_nothing(tmp_path):
    raw, out = _tiny_with_padding(tmp_path / "raw"), tmp_path / "release"
    result = run_job(make_defs(raw, out, tmp_path / "state", inputs=InputSettings(strict_texts=True)))
    assert not result.success
    checks = _checks(result)
    assert checks["conversation_texts_normalised"].description == (
        "2 texts are not normalised (strict_texts: left as read, content_normalised rejects them)")
    assert checks["conversation_history_schema"].description == (
        "conversations.jsonl line 1, field 'conversation_history[0].content': fails content_normalised")
    assert checks["conversations_schema"].description == (
        "conversations.jsonl line 1, field 'opening_prompt': fails opening_prompt_normalised")
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("strict", [False, True])
def test_survey_texts_and_open_feedback_are_never_normalised(tmp_path, strict):
    raw, out = _tiny_with_padding(tmp_path / "raw"), tmp_path / "release"
    if strict:  # strict mode must still accept padded survey texts and open feedback
        conversations = _records(raw / "conversations.jsonl")
        conversations[0]["opening_prompt"] = conversations[0]["conversation_history"][0]["content"] = "Opening"
        write_jsonl(raw / "conversations.jsonl", conversations)
    result = run_job(make_defs(raw, out, tmp_path / "state", inputs=InputSettings(strict_texts=strict)))
    assert result.success, failure_messages(result)
    survey = _records(out / "survey.jsonl")
    assert (survey[0]["self_description"], survey[0]["system_string"]) == (" I like hiking.\n", "\u2028Be kind. ")
    conversation = _records(out / "conversations.jsonl")[0]
    assert conversation["open_feedback"] == "  fine\n"
    assert conversation["opening_prompt"] == ("Opening" if strict else "Opening prompt of c0")
