"""Hand-made ThoughtTrace records for the tests: valid by default, one field easy to break."""

from __future__ import annotations

import copy
import json
from pathlib import Path

SURVEY = {"age": "31", "gender": "Female", "education": "Graduate", "occupation": "Nurse", "frequency": "4",
          "purposes": "Writing, planning"}


def conversation(user: int = 12, task: int = 1, number: int = 1, turns: int = 2, answered: bool = True,
                 survey: dict | None = SURVEY, model: str = "Claude Sonnet 4.6") -> dict:
    """One conversation of ``turns`` user messages, each answered (the last one unless
    ``answered`` is False); a task_motivation reason on the first message and one reaction on
    the first answer; times one minute apart from 2026-04-02T10:00:00Z."""
    base = 1775124000000  # 2026-04-02T10:00:00Z in epoch milliseconds
    messages = []
    for i in range(2 * turns - (not answered)):
        t = base + 60_000 * i
        user_turn = i % 2 == 0
        message = {"id": t, "timestamp": _z(t), "type": "user" if user_turn else "assistant",
                   "content": f"Question {i // 2} about a cheap weekend in Lisbon." if user_turn
                   else f"## Answer {i // 2}\n* Day 1: walk the old town."}
        thoughts = []
        if i == 0:
            thoughts = [{"content": "I want to see if it can budget well.", "timestamp": _z(t + 20_000),
                         "label": "task_motivation"}]
        elif i == 1:
            thoughts = [{"content": "Useful, but it ignored the budget.", "timestamp": _z(t + 70_000),
                         "label": "partial_satisfaction"}]
        message["reasons" if user_turn else "reactions"] = thoughts
        messages.append(message)
    return {"id": f"user{user}_task{task}_conversation{number}", "model_name": model, "model_provider": "Anthropic",
            "created_at": "2026-04-02T09:59:50.000000+00:00", "updated_at": "2026-04-02T10:30:00.500000+00:00",
            "task_summary": "I asked for help planning a cheap weekend trip.",
            "task_expectation": "A short plan with costs.",
            "survey_answers": [] if survey is None else [copy.deepcopy(survey)], "messages": messages}


def _z(ms: int) -> str:
    import datetime as dt

    t = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def small_file() -> list[dict]:
    """Three users, five conversations: user12 two tasks, user7 one task with two conversations
    (the second without survey answers), user30 one unanswered last message."""
    return [conversation(12, 1, 1, turns=2), conversation(12, 2, 1, turns=3), conversation(7, 1, 1, turns=1),
            conversation(7, 1, 2, turns=2, survey=None), conversation(30, 1, 1, turns=2, answered=False)]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


# Known texts of the tiny release, with the flags the detectors give them (test_thoughttrace_pipeline.py).
SPANISH = "¿Cuál es la mejor manera de aprender a cocinar comida saludable?"
EMAIL = "Please send the plan to sarah.jones@gmail.com so I can print it."
TOXIC = "You are a stupid useless machine."


def tiny_records() -> list[dict]:
    """``small_file`` with the known texts: a Spanish opening (user7), an e-mail address in a
    prompt (user12) with a context reason, an insult among the reactions (user30), an answer
    padded with whitespace and an empty one (both normalised)."""
    records = small_file()
    records[2]["messages"][0]["content"] = SPANISH
    records[1]["messages"][2]["content"] = EMAIL
    records[1]["messages"][2]["reasons"] = [{"content": "I gave it my address so it can send the plan.",
                                             "timestamp": "2026-04-02T10:02:30.000Z",
                                             "label": "context_grounding_and_constraints"}]
    records[4]["messages"][1]["reactions"].append({"content": TOXIC, "timestamp": "2026-04-02T10:03:00.000Z",
                                                   "label": "content_relevance"})
    records[0]["messages"][1]["content"] = "  ## Answer 0\n* Day 1: walk the old town.\n"
    records[3]["messages"][3]["content"] = ""
    return records


def tiny_raw_dir(raw: Path) -> Path:
    write_jsonl(raw / "ThoughtTrace.jsonl", tiny_records())
    return raw


def make_defs(raw: Path, out: Path, state: Path, reference: Path | None = None, **kwargs):
    """ThoughtTrace's definitions on these folders (the reference dir: the bundled, header-only review)."""
    from prism_pipeline.core.resources import DatasetPaths
    from prism_pipeline.thoughttrace.dataset import DATASET
    from prism_pipeline.thoughttrace.definitions import build_defs

    reference = reference or DATASET.default_dirs["reference"]
    paths = DatasetPaths(raw_dir=str(raw), output_dir=str(out), state_dir=str(state), reference_dir=str(reference))
    return build_defs(paths, **kwargs)
