"""Reusing the published moderation results as frozen inputs (SPEC §1.6, §2.2, §2.4, §7.3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism_pipeline.core.flags.moderation import FLAT_COLUMNS, LocalModerationBackend, validate_result
from prism_pipeline.prism.codebook import MODERATION_CATEGORIES
from prism_pipeline.prism.metadata.frozen import (
    FrozenModerationError,
    apply_frozen_then_fallback,
    load_frozen_moderation,
    match_frozen_moderation,
    pin_frozen_to_texts,
    text_sha256,
)

KEYS = ["column_id", "user_id", "conversation_id", "interaction_id", "utterance_id"]


def flag(flagged: bool = False, **scores: float) -> dict:
    """A published moderation_flag object; ``scores`` by python name (a__b -> a/b, _ -> -)."""
    named = {k.replace("__", "/").replace("_", "-"): v for k, v in scores.items()}
    return {
        "flagged": flagged,
        "categories": {c: named.get(c, 0.0) > 0.5 for c in MODERATION_CATEGORIES},
        "category_scores": {c: named.get(c, 0.0) for c in MODERATION_CATEGORIES},
    }


def row(column_id, user, conv=None, inter=None, utt=None, moderation=None) -> dict:
    return {
        "column_id": column_id,
        "user_id": user,
        "conversation_id": conv,
        "interaction_id": inter,
        "utterance_id": utt,
        "pii_flag": False,
        "pii_manual_flag": None,
        "language_flag": "en",
        "en_flag": True,
        "moderation_flag": flag() if moderation is None else moderation,
    }


PUBLISHED = [
    row("user_prompt", "user840", "c4659", "int13826", moderation=flag(True, harassment=0.83, hate=0.31)),
    row("model_response", "user840", "c4659", "int13826", "ut5", moderation=flag(sexual=0.02)),
    row("open_feedback", "user840", "c4659"),
    row("self_description", "user840", moderation=flag(True, self_harm=0.61)),
    row("system_string", "user840"),
]


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def published(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "metadata.jsonl", [json.dumps(r) for r in PUBLISHED])


def test_load_frame_shape_and_values(published: Path) -> None:
    frame = load_frozen_moderation(published)
    assert list(frame.columns) == KEYS + list(FLAT_COLUMNS)
    assert len(frame) == 5
    assert frame["column_id"].tolist() == ["user_prompt", "model_response", "open_feedback", "self_description",
                                           "system_string"]
    assert frame["utterance_id"].isna().tolist() == [True, False, True, True, True]
    assert frame["conversation_id"].isna().tolist() == [False, False, False, True, True]
    for k in KEYS:
        assert pd.api.types.is_string_dtype(frame[k])
    assert frame["moderation_flag.flagged"].tolist() == [True, False, False, True, False]
    assert frame["moderation_flag.flagged"].dtype == bool
    assert frame["moderation_flag.categories.harassment"].tolist() == [True, False, False, False, False]
    assert frame["moderation_flag.category_scores.hate"].tolist() == [0.31, 0.0, 0.0, 0.0, 0.0]
    assert frame["moderation_flag.category_scores.self-harm"].tolist() == [0.0, 0.0, 0.0, 0.61, 0.0]
    assert frame["moderation_flag.category_scores.sexual"].dtype == np.float64


def test_lenient_cases(tmp_path: Path) -> None:
    nan_id = json.dumps(row("system_string", "user1")).replace('"conversation_id": null', '"conversation_id": NaN')
    int_score = json.dumps(row("self_description", "user1")).replace('"violence": 0.0', '"violence": 0')
    never = json.dumps(row("open_feedback", "user1", "c1") | {"moderation_flag": None})
    path = write_jsonl(tmp_path / "m.jsonl", [nan_id, "", int_score, "   ", never])
    frame = load_frozen_moderation(path)
    # null moderation_flag: no frozen result
    assert frame["column_id"].tolist() == ["system_string", "self_description"]
    assert frame["conversation_id"].isna().all()
    assert frame["moderation_flag.category_scores.violence"].tolist() == [0.0, 0.0]
    assert type(frame["moderation_flag.category_scores.violence"].tolist()[1]) is float


def test_empty_file(tmp_path: Path) -> None:
    frame = load_frozen_moderation(write_jsonl(tmp_path / "m.jsonl", []))
    assert list(frame.columns) == KEYS + list(FLAT_COLUMNS) and len(frame) == 0


GOOD = json.dumps(row("system_string", "user1"))


def edited(path: str, value) -> str:
    """GOOD with the field at dotted ``path`` set to ``value`` (``...`` deletes it)."""
    r = json.loads(GOOD)
    *parents, last = path.split(".", 2) if path.startswith("moderation_flag.") else [path]
    target = r
    for p in parents:
        target = target[p]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return json.dumps(r)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"column_id": "system_string", ',
            "invalid JSON (Expecting property name enclosed in double quotes at column 32)",
        ),
        ("[1, 2]", "expected a JSON object, got list"),
        (edited("user_id", ...), "field 'user_id': missing"),
        (edited("user_id", 17), "field 'user_id': expected a non-empty string or null, got int"),
        (
            edited("column_id", "opening_prompt"),
            "field 'column_id': expected one of ['system_string', 'self_description', ",
        ),
        (edited("moderation_flag", ...), "field 'moderation_flag': missing"),
        (edited("moderation_flag", "yes"), "field 'moderation_flag': expected an object, got str"),
        (edited("moderation_flag.flagged", 0), "field 'moderation_flag.flagged': expected bool, got int"),
        (edited("moderation_flag.category_scores", ...), "field 'moderation_flag.category_scores': missing"),
        (edited("moderation_flag.id", "x"), "field 'moderation_flag.id': unexpected key"),
        (edited("moderation_flag.categories.hate", ...), "field 'moderation_flag.categories.hate': missing"),
        (
            edited("moderation_flag.categories.hate", "false"),
            "field 'moderation_flag.categories.hate': expected bool, got str",
        ),
        (
            edited("moderation_flag.categories.illicit", False),
            "field 'moderation_flag.categories.illicit': unexpected category",
        ),
        (
            edited("moderation_flag.category_scores.self-harm/intent", None),
            "field 'moderation_flag.category_scores.self-harm/intent': expected a number in [0, 1], got null",
        ),
        (
            edited("moderation_flag.category_scores.violence", 1.5),
            "field 'moderation_flag.category_scores.violence': expected a number in [0, 1], got 1.5",
        ),
        (
            edited("moderation_flag.category_scores.violence", True),
            "field 'moderation_flag.category_scores.violence': expected a number in [0, 1], got bool",
        ),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = write_jsonl(tmp_path / "metadata.jsonl", [json.dumps(row("self_description", "user1")), "", line])
    with pytest.raises(FrozenModerationError) as info:
        load_frozen_moderation(path)
    assert str(info.value).startswith(f"{path}:3: {message}")


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "metadata.jsonl", [GOOD, json.dumps(row("self_description", "user1")), GOOD])
    with pytest.raises(FrozenModerationError) as info:
        load_frozen_moderation(path)
    assert str(info.value) == (
        f"{path}:3: duplicate key (column_id, user_id, conversation_id, interaction_id, utterance_id), "
        "first seen on line 1"
    )


# --- matching and the fallback -------------------------------------------------------------


def texts_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[*KEYS, "text"])


CURRENT = texts_frame(
    [
        ("system_string", "user840", None, None, None, "You are a helpful assistant."),
        ("self_description", "user840", None, None, None, "I like hiking."),
        ("user_prompt", "user840", "c4659", "int13826", None, "you stupid idiot"),
        ("user_prompt", "user999", "c9", "int9", None, "What is the capital of France?"),  # new key
        ("model_response", "user840", "c4659", "int13826", "ut5", "Paris is the capital."),
    ]
)


class Recording:
    """A fallback that records what it was given and delegates to the real local backend."""

    def __init__(self) -> None:
        self.calls: list[list] = []
        self.local = LocalModerationBackend()

    def detect(self, texts: list) -> list[dict]:
        self.calls.append(list(texts))
        return self.local.detect(texts)


def frozen_result(published_flag: dict) -> dict:
    return {**published_flag, "backend": "frozen", "model": "published-prism-2024"}


def test_match_by_key(published: Path) -> None:
    matched = match_frozen_moderation(CURRENT, load_frozen_moderation(published))
    assert matched.index.equals(CURRENT.index)
    assert matched.tolist() == [
        frozen_result(PUBLISHED[4]["moderation_flag"]),
        frozen_result(PUBLISHED[3]["moderation_flag"]),
        frozen_result(PUBLISHED[0]["moderation_flag"]),
        None,
        frozen_result(PUBLISHED[1]["moderation_flag"]),
    ]
    for r in matched.dropna():
        validate_result(r)


def test_only_unmatched_texts_go_to_the_fallback(published: Path) -> None:
    fallback = Recording()
    results = apply_frozen_then_fallback(CURRENT, load_frozen_moderation(published), fallback.detect)
    assert fallback.calls == [["What is the capital of France?"]]
    assert results[3] == LocalModerationBackend().detect(["What is the capital of France?"])[0]
    assert results[3]["backend"] == "local"
    assert [r["backend"] for r in results] == ["frozen", "frozen", "frozen", "local", "frozen"]
    for r in results:
        validate_result(r)


def test_everything_matched_means_no_fallback_call(published: Path) -> None:
    fallback = Recording()
    results = apply_frozen_then_fallback(CURRENT.drop(index=3), load_frozen_moderation(published), fallback.detect)
    assert fallback.calls == [] and len(results) == 4


def test_no_frozen_frame_sends_everything_to_the_fallback() -> None:
    fallback = Recording()
    results = apply_frozen_then_fallback(CURRENT, None, fallback.detect)
    assert fallback.calls == [CURRENT["text"].tolist()]
    assert [r["backend"] for r in results] == ["local"] * 5


def test_pinned_texts_that_changed_are_not_reused(published: Path) -> None:
    pinned = pin_frozen_to_texts(load_frozen_moderation(published), CURRENT)
    sha = text_sha256(CURRENT["text"])
    # frozen rows: user_prompt, model_response, open_feedback (no current text), self_description, system_string
    assert pinned["text_sha256"].tolist()[:2] == [sha[2], sha[4]]
    assert pinned["text_sha256"].tolist()[3:] == [sha[1], sha[0]]
    assert pd.isna(pinned["text_sha256"][2])

    changed = CURRENT.copy()
    changed.loc[2, "text"] = "a corrected prompt"
    fallback = Recording()
    results = apply_frozen_then_fallback(changed, pinned, fallback.detect)
    assert fallback.calls == [["a corrected prompt", "What is the capital of France?"]]
    assert [r["backend"] for r in results] == ["frozen", "frozen", "local", "local", "frozen"]
    # unpinned, the same change would silently reuse the stale result
    assert match_frozen_moderation(changed, load_frozen_moderation(published))[2]["backend"] == "frozen"


def test_a_null_id_only_matches_a_null_id(published: Path) -> None:
    other = texts_frame([("user_prompt", "user840", "c4659", "int13826", "ut5", "x"),
                         ("system_string", "user840", "c1", None, None, "y")])
    assert match_frozen_moderation(other, load_frozen_moderation(published)).tolist() == [None, None]


def test_text_sha256() -> None:
    got = text_sha256(pd.Series(["abc", None], index=[7, 8]))
    assert got.index.tolist() == [7, 8]
    assert got[7] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert pd.isna(got[8])


def test_missing_key_columns_and_bad_fallback(published: Path) -> None:
    with pytest.raises(KeyError, match=r"texts frame lacks key columns \['utterance_id'\]"):
        match_frozen_moderation(CURRENT.drop(columns="utterance_id"), load_frozen_moderation(published))
    with pytest.raises(ValueError, match=r"^fallback moderation returned 0 results for 1 texts$"):
        apply_frozen_then_fallback(CURRENT, load_frozen_moderation(published), lambda texts: [])
