"""The offline moderation backend (alt-profanity-check) and the shared result shape (SPEC §2.2, §2.4)."""

from __future__ import annotations

import json
import pickle
from importlib import metadata

import numpy as np
import pytest

from prism_pipeline.core.flags.detectors import Detector
from prism_pipeline.core.flags.moderation import (
    BACKENDS,
    FLAT_COLUMNS,
    LocalModerationBackend,
    ModerationResultError,
    empty_result,
    frame_to_results,
    make_moderation_backend,
    make_result,
    moderation_detector_spec,
    release_view,
    results_to_frame,
    round_score,
    validate_result,
)
from prism_pipeline.prism.codebook import MODERATION_CATEGORIES

# Texts written for this test. Expected harassment scores computed once with
# alt-profanity-check 1.9.1 / scikit-learn 1.9.1 (raw probabilities in the comments).
TEXTS = [
    "What a lovely morning for a walk in the park.",  # 0.059250959854845874
    "You are a stupid idiot and everyone hates you.",  # 0.9999998136711608
    "This damn printer never works.",  # 0.7996929466025852 (mild swearing, over-fires)
    "shut up you moron",  # 0.999933261199485
    "Can you recommend a good book about gardening?",  # 0.0030640946143840235
    "EMPTY STRING",  # 0.07037831216830752 (the sentinel for empty texts, SPEC §1.2)
    "Je déteste ce connard.",  # 0.040657588161309134 (French insult: not understood)
    "I will hurt myself tonight.",  # self-harm: cannot be detected
]
EXPECTED_SCORES = [0.06, 1.0, 0.8, 1.0, 0.0, 0.07, 0.04]
EXPECTED_FLAGS = [False, True, True, True, False, False, False]
MODEL = "alt-profanity-check==1.9.1"


@pytest.fixture(scope="module")
def local_results() -> list[dict]:
    return LocalModerationBackend().detect(TEXTS)


def test_scores_and_flags_are_exact(local_results: list[dict]) -> None:
    scores = [r["category_scores"]["harassment"] for r in local_results[:7]]
    assert np.allclose(scores, EXPECTED_SCORES, rtol=0, atol=1e-9)
    assert [r["flagged"] for r in local_results[:7]] == EXPECTED_FLAGS
    assert [r["categories"]["harassment"] for r in local_results[:7]] == EXPECTED_FLAGS


def test_full_result_shape(local_results: list[dict]) -> None:
    assert local_results[1] == {
        "flagged": True,
        "categories": {c: c == "harassment" for c in MODERATION_CATEGORIES},
        "category_scores": {c: 1.0 if c == "harassment" else 0.0 for c in MODERATION_CATEGORIES},
        "backend": "local",
        "model": MODEL,
    }
    for r in local_results:
        validate_result(r)
        assert json.loads(json.dumps(r)) == r
        # only harassment can ever be non-zero
        assert {c for c in MODERATION_CATEGORIES if r["category_scores"][c] or r["categories"][c]} <= {"harassment"}


def test_cannot_see_self_harm(local_results: list[dict]) -> None:
    assert local_results[7]["flagged"] is False
    assert local_results[7]["category_scores"]["self-harm"] == 0.0


def test_default_threshold_is_the_packages_own_decision_rule(local_results: list[dict]) -> None:
    from profanity_check import predict

    assert [r["flagged"] for r in local_results] == [bool(x) for x in predict(TEXTS)]


def test_threshold_moves_flags_not_scores() -> None:
    strict = LocalModerationBackend(threshold=0.9).detect(TEXTS[:4])
    assert [r["flagged"] for r in strict] == [False, True, False, True]
    assert [r["category_scores"]["harassment"] for r in strict] == EXPECTED_SCORES[:4]


def test_deterministic_and_order_preserving(local_results: list[dict]) -> None:
    again = LocalModerationBackend().detect(list(reversed(TEXTS)))
    assert again == list(reversed(local_results))


def test_null_texts_are_not_scored() -> None:
    out = LocalModerationBackend().detect([None, TEXTS[1], None])
    assert out[0] == out[2] == empty_result("local", MODEL)
    assert out[1]["flagged"] is True
    assert LocalModerationBackend().detect([]) == []


def test_version_and_identity() -> None:
    b = LocalModerationBackend()
    assert b.detector_id == "moderation-local"
    assert b.model == MODEL
    assert b.version == (f"{MODEL};scikit-learn=={metadata.version('scikit-learn')};threshold=0.5;"
                         "mapping=harassment-only-v1")
    assert LocalModerationBackend(threshold=0.7).version != b.version
    assert isinstance(b, Detector)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"^threshold must be in \[0, 1\), got 1\.0$"):
        LocalModerationBackend(threshold=1)
    with pytest.raises(TypeError, match=r"^moderation input #1: expected str or None, got int$"):
        LocalModerationBackend().detect(["fine", 3])


def test_factory_and_spec() -> None:
    assert set(BACKENDS) == {"local", "openai"}
    assert make_moderation_backend().threshold == 0.5
    assert make_moderation_backend("local", threshold=0.7).threshold == 0.7
    with pytest.raises(ValueError, match=r"^unknown moderation backend 'perspective'; "
                                         r"expected one of \['local', 'openai'\]$"):
        make_moderation_backend("perspective")
    with pytest.raises(ValueError, match=r"^'frozen' is not a Detector: published results are a dataset's own input"):
        make_moderation_backend("frozen")
    spec = pickle.loads(pickle.dumps(moderation_detector_spec("local", threshold=0.7)))
    built = spec.build()
    assert isinstance(built, LocalModerationBackend) and built.threshold == 0.7
    assert built.detect([TEXTS[2]])[0]["flagged"] is True


# --- the shared result shape (base.py) -----------------------------------------------------


def good() -> dict:
    return empty_result("local", MODEL)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.pop("model"), "moderation result: keys ['flagged', 'categories', 'category_scores', 'backend']"),
        (lambda r: r.update(flagged=np.bool_(True)), "moderation result.flagged: expected bool, got numpy.bool"),
        (
            lambda r: r["categories"].pop("violence"),
            "moderation result.categories: missing keys ['violence'], unexpected keys []",
        ),
        (
            lambda r: r["categories"].update(illicit=False),
            "moderation result.categories: missing keys [], unexpected keys ['illicit']",
        ),
        (
            lambda r: r.update(categories=dict(reversed(list(r["categories"].items())))),
            "moderation result.categories: keys not in codebook order",
        ),
        (lambda r: r["categories"].update(hate=1), "moderation result.categories.hate: expected bool, got int"),
        (
            lambda r: r["category_scores"].update(hate=0.123),
            "moderation result.category_scores.hate: score 0.123 not rounded to 2 decimals",
        ),
        (
            lambda r: r["category_scores"].update(hate=1.5),
            r"moderation result.category_scores.hate: score 1.5 outside [0, 1]",
        ),
        (
            lambda r: r["category_scores"].update(hate=0),
            "moderation result.category_scores.hate: expected float, got int",
        ),
        (
            lambda r: r["category_scores"].update(hate=np.float64(0.5)),
            "moderation result.category_scores.hate: expected float, got numpy.float64",
        ),
        (lambda r: r.update(backend=""), "moderation result.backend: expected a non-empty string, got ''"),
        (lambda r: r.update(extra={"api_flagged": True}), "moderation result.extra: expected keys"),
    ],
)
def test_validator_rejects(mutate, message: str) -> None:
    r = good()
    validate_result(r)
    mutate(r)
    with pytest.raises(ModerationResultError) as info:
        validate_result(r)
    assert str(info.value).startswith(message)


def test_make_result_rounds_orders_and_derives_flagged() -> None:
    scores = {c: 0.0 for c in reversed(MODERATION_CATEGORIES)} | {"hate": 0.675, "violence": 0.004999, "illicit": 0.9}
    cats = {c: False for c in MODERATION_CATEGORIES} | {"hate": True, "illicit": True}
    r = make_result(cats, scores, backend="x", model="m")
    validate_result(r)
    assert list(r["category_scores"]) == list(MODERATION_CATEGORIES)
    assert r["category_scores"]["hate"] == 0.68 and r["category_scores"]["violence"] == 0.0
    assert r["flagged"] is True and "illicit" not in r["categories"]
    assert make_result(cats, scores, backend="x", model="m", flagged=False)["flagged"] is False
    with pytest.raises(ModerationResultError, match=r"lacks categories \['sexual'\]"):
        make_result({k: v for k, v in cats.items() if k != "sexual"}, scores, backend="x", model="m")
    # Python's round, as the reference used: 0.285 is stored as 0.28499999..., so it goes down
    assert round_score(0.285) == 0.28 and round_score(np.float64(0.125)) == 0.12


def test_flatten_round_trip(local_results: list[dict]) -> None:
    frame = results_to_frame(local_results)
    assert list(frame.columns) == [*FLAT_COLUMNS, "moderation_backend", "moderation_model"]
    assert FLAT_COLUMNS[0] == "moderation_flag.flagged"
    assert FLAT_COLUMNS[4] == "moderation_flag.categories.self-harm"
    assert FLAT_COLUMNS[-1] == "moderation_flag.category_scores.violence"
    assert frame["moderation_flag.flagged"].dtype == bool
    assert frame["moderation_flag.category_scores.harassment"].dtype == np.float64
    assert frame["moderation_flag.category_scores.harassment"].tolist()[:7] == EXPECTED_SCORES
    assert frame_to_results(frame, backend="local", model=MODEL) == local_results
    assert list(results_to_frame([], provenance=False).columns) == list(FLAT_COLUMNS)
    assert release_view(local_results[1]) == {k: local_results[1][k]
                                              for k in ("flagged", "categories", "category_scores")}
