"""Hand-made, codebook-valid PRISM records for exact-value tests.

Small on purpose: each test states the few values it cares about and gets a valid rest.
"""

from __future__ import annotations

import json
from pathlib import Path

from prism_pipeline.prism import codebook as cb


def survey_record(i: int, n_conversations: int, **overrides) -> dict:
    usecases = {k: (1 if j % 3 == 0 else 0) for j, k in enumerate(cb.USECASE_KEYS)}
    usecases.update({"other": 0, "other_text": None})
    prefs = {k: 10 * (j + 1) for j, k in enumerate(cb.STATED_PREF_KEYS)}
    prefs.update({"other": 0, "other_text": None})
    rec = {
        "user_id": f"user{i}",
        "survey_only": n_conversations == 0,
        "num_completed_conversations": n_conversations,
        "consent": cb.CONSENT,
        "consent_age": cb.CONSENT_AGE,
        "lm_familiarity": "Very familiar",
        "lm_indirect_use": "Yes",
        "lm_direct_use": "Yes",
        "lm_frequency_use": "Every week",
        "self_description": f"I am participant number {i} and I like hiking.",
        "system_string": "Be concise and kind.",
        "age": "25-34 years old",
        "gender": "Female" if i % 2 else "Male",
        "employment_status": "Working full-time",
        "education": "University Bachelors Degree",
        "marital_status": "Never been married",
        "english_proficiency": "Native speaker",
        "study_id": "65590fa5bd3d5b4f1d5cdd1a",
        "study_locale": "uk",
        "religion": {"self_described": "none", "categorised": "Non-religious", "simplified": "No Affiliation"},
        "ethnicity": {"self_described": "white british", "categorised": "White", "simplified": "White"},
        "location": {
            "birth_country": "United Kingdom", "birth_countryISO": "GBR", "birth_region": "Europe",
            "birth_subregion": "Northern Europe", "reside_country": "United Kingdom", "reside_region": "Europe",
            "reside_subregion": "Northern Europe", "reside_countryISO": "GBR", "same_birth_reside_country": "Yes",
            "special_region": "UK",
        },
        "lm_usecases": usecases,
        "stated_prefs": prefs,
        "order_lm_usecases": {k: j + 1 for j, k in enumerate(cb.USECASE_KEYS)} | {"other": 19},
        "order_stated_prefs": {k: j + 1 for j, k in enumerate(cb.STATED_PREF_KEYS)} | {"other": 9},
        "generated_datetime": "2023-11-23 10:00:00",
        "timing_duration_s": 600.0,
        "timing_duration_mins": 10.0,
    }
    rec.update(overrides)
    return rec


def conversation_record(cid: int, user: int, turns: int = 2, r0: int = 2,
                        conversation_type: str = "unguided", **overrides) -> dict:
    history = [{"turn": 0, "role": "user", "content": f"Opening prompt of c{cid}"}]
    for j in range(r0):
        history.append({"turn": 0, "role": "model", "content": f"c{cid} t0 answer {j}",
                        "model_provider": "openai", "model_name": "gpt-4", "score": 50 + j,
                        "if_chosen": j == r0 - 1, "within_turn_id": j})
    for t in range(1, turns):
        history.append({"turn": t, "role": "user", "content": f"c{cid} follow-up {t}"})
        for j in range(2):
            history.append({"turn": t, "role": "model", "content": f"c{cid} t{t} answer {j}",
                            "model_provider": "openai", "model_name": "gpt-4", "score": 60 + j,
                            "if_chosen": j == 0, "within_turn_id": j})
    attrs = {k: 70 for k in cb.ATTRIBUTE_KEYS}
    rec = {
        "conversation_id": f"c{cid}",
        "user_id": f"user{user}",
        "conversation_type": conversation_type,
        "opening_prompt": f"Opening prompt of c{cid}",
        "conversation_turns": turns,
        "conversation_history": history,
        "performance_attributes": dict(attrs),
        "choice_attributes": dict(attrs, safety=None),
        "open_feedback": "It was fine.",
        "generated_datetime": "2023-11-23 10:10:00",
        "timing_duration_s": 300.0,
        "timing_duration_mins": 5.0,
    }
    rec.update(overrides)
    return rec


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path
