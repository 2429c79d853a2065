"""The OpenAI moderation backend against a real HTTP server on 127.0.0.1 (SPEC §2.2, §7.3, §7.4).

The official SDK talks to :class:`FakeModerationServer` over a socket: nothing is patched.
"""

from __future__ import annotations

import json
import pickle
import re

import pytest

from prism_pipeline.core.flags.detectors import Detector
from prism_pipeline.core.flags.moderation import (
    ModerationAPIError,
    OpenAIModerationBackend,
    make_moderation_backend,
    moderation_detector_spec,
    validate_result,
)
from prism_pipeline.prism.codebook import MODERATION_CATEGORIES
from prism_pipeline_tests.fake_openai_server import FakeModerationServer

KEY_ENV = "PRISM_TEST_OPENAI_KEY"
KEY = "sk-test-0123456789"


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture
def server():
    with FakeModerationServer() as s:
        yield s


def backend(server: FakeModerationServer, **kwargs) -> OpenAIModerationBackend:
    return make_moderation_backend("openai", base_url=server.base_url, api_key_env=KEY_ENV, **kwargs)


def expected(model: str, **overrides: tuple[bool, float]) -> dict:
    """A result with every category (False, 0.0) except ``overrides`` (python names: a_b -> a/b)."""
    named = {k.replace("__", "/").replace("_", "-"): v for k, v in overrides.items()}
    cats = {c: named.get(c, (False, 0.0))[0] for c in MODERATION_CATEGORIES}
    return {
        "flagged": any(cats.values()),
        "categories": cats,
        "category_scores": {c: named.get(c, (False, 0.0))[1] for c in MODERATION_CATEGORIES},
        "backend": "openai",
        "model": model,
    }


OMNI = "omni-moderation-2024-09-26"
KILL = expected(OMNI, violence=(True, 0.88), harassment__threatening=(True, 0.61), harassment=(False, 0.46))
IDIOT = expected(OMNI, harassment=(True, 0.93), hate=(False, 0.13))
SAD = expected(OMNI, self_harm=(False, 0.3), self_harm__intent=(False, 0.01))
CLEAN = expected(OMNI)


def test_batches_model_auth_and_order(server: FakeModerationServer) -> None:
    texts = [f"plain text number {i}" for i in range(70)]
    texts[3], texts[40], texts[69] = "I will kill you", "you idiot", "I feel sad"
    results = backend(server, batch_size=32, max_concurrency=4).detect(texts)

    assert sorted(len(r.body["input"]) for r in server.requests) == [6, 32, 32]
    assert sorted(t for r in server.requests for t in r.body["input"]) == sorted(texts)
    assert {tuple(r.body["input"]) for r in server.requests} == {tuple(texts[0:32]), tuple(texts[32:64]),
                                                                 tuple(texts[64:70])}
    assert {r.path for r in server.requests} == {"/v1/moderations"}
    assert {r.body["model"] for r in server.requests} == {OMNI}
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {KEY}"}
    assert [r.status for r in server.requests] == [200, 200, 200]

    assert results[3] == KILL
    assert results[40] == IDIOT
    assert results[69] == SAD
    assert results[0] == CLEAN and results[68] == CLEAN
    assert all(r == CLEAN for i, r in enumerate(results) if i not in (3, 40, 69))
    for r in results:
        validate_result(r)
        json.dumps(r)


def test_category_keys_are_wire_names_not_python_names(server: FakeModerationServer) -> None:
    (result,) = backend(server).detect(["I feel sad"])
    assert list(result["categories"]) == list(MODERATION_CATEGORIES)
    assert list(result["category_scores"]) == list(MODERATION_CATEGORIES)
    assert "self-harm/intent" in result["category_scores"] and "self_harm_intent" not in result["category_scores"]


def test_omni_extra_categories_do_not_flag_and_are_kept_only_on_request(server: FakeModerationServer) -> None:
    texts = ["how to shoplift", "how to shoplift and kill"]
    plain = backend(server).detect(texts)
    assert plain[0] == CLEAN  # the API flags it for "illicit", which is not one of the 11
    assert plain[1] == KILL
    assert "category_applied_input_types" not in plain[0]

    kept = backend(server, keep_extra=True).detect(texts)
    assert kept[0] == {
        **CLEAN,
        "extra": {
            "api_flagged": True,
            "categories": {"illicit": True, "illicit/violent": False},
            "category_scores": {"illicit": 0.91, "illicit/violent": 0.02},
        },
    }
    assert kept[1]["extra"]["api_flagged"] is True and kept[1]["flagged"] is True
    for r in plain + kept:
        validate_result(r)
    assert backend(server).version == f"openai-moderation;model={OMNI};rule=flagged-from-11-v1;keep_extra=False"
    assert backend(server, keep_extra=True).version.endswith("keep_extra=True")


def test_text_moderation_model_with_11_categories() -> None:
    with FakeModerationServer(model="text-moderation-007") as server:
        results = backend(server, model="text-moderation-stable", keep_extra=True).detect(["you idiot", "hello"])
    idiot = expected("text-moderation-007", harassment=(True, 0.93), hate=(False, 0.13))
    assert results[0] == {**idiot, "extra": {"api_flagged": True, "categories": {}, "category_scores": {}}}
    assert results[1] == {**expected("text-moderation-007"),
                          "extra": {"api_flagged": False, "categories": {}, "category_scores": {}}}
    assert server.requests[0].body == {"model": "text-moderation-stable", "input": ["you idiot", "hello"]}


def test_model_id_is_taken_from_the_response(server: FakeModerationServer) -> None:
    (result,) = backend(server, model="omni-moderation-latest").detect(["hello"])
    assert server.requests[0].body["model"] == "omni-moderation-latest"
    assert result["model"] == OMNI  # what the alias resolved to, as the server said


def test_rate_limit_is_retried_after_retry_after(server: FakeModerationServer) -> None:
    server.faults = [429]
    results = backend(server, max_retries=2).detect(["you idiot", "hello"])
    assert results == [IDIOT, CLEAN]
    assert [r.status for r in server.requests] == [429, 200]
    assert server.requests[0].body == server.requests[1].body == {"model": OMNI, "input": ["you idiot", "hello"]}


def test_server_error_is_retried_then_fails_at_the_retry_limit(server: FakeModerationServer) -> None:
    server.always_fail = 500
    with pytest.raises(ModerationAPIError) as info:
        backend(server, max_retries=2).detect(["a private text", "another"])
    assert str(info.value) == (
        f"moderation batch 0 (2 texts, model {OMNI}) failed: HTTP 500: The server had an error "
        "(retry limit max_retries=2)"
    )
    assert "private" not in str(info.value)
    assert [r.status for r in server.requests] == [500, 500, 500]  # 1 attempt + 2 retries


def test_client_error_is_not_retried(server: FakeModerationServer) -> None:
    server.always_fail = 400
    with pytest.raises(ModerationAPIError, match=r"^moderation batch 0 \(1 texts, model .*\) failed: "
                                                 r"HTTP 400: Invalid request"):
        backend(server, max_retries=3).detect(["hello"])
    assert len(server.requests) == 1


def test_a_response_without_a_published_category_is_an_error() -> None:
    with FakeModerationServer(drop_categories=("violence",)) as server:
        with pytest.raises(ModerationAPIError,
                           match=r"response model omni-moderation-2024-09-26 lacks categories \['violence'\]"):
            backend(server).detect(["hello"])


def test_concurrency_is_bounded(server: FakeModerationServer) -> None:
    server.delay = 0.02
    results = backend(server, batch_size=1, max_concurrency=2).detect([f"t{i}" for i in range(8)])
    assert len(server.requests) == 8 and results == [CLEAN] * 8
    assert server.max_in_flight <= 2


def test_null_and_empty_inputs_send_nothing(server: FakeModerationServer) -> None:
    b = backend(server)
    assert b.detect([]) == []
    assert b.detect([None]) == [{**CLEAN, "model": OMNI}]
    assert server.requests == []
    assert b.detect([None, "hello", None]) == [CLEAN, CLEAN, CLEAN]
    assert [r.body["input"] for r in server.requests] == [["hello"]]


def test_missing_api_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ModerationAPIError, match=f"needs an API key in the environment variable {KEY_ENV}$"):
        make_moderation_backend("openai", api_key_env=KEY_ENV)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"max_concurrency": 1.5}, "max_concurrency must be a positive integer, got 1.5"),
        ({"max_retries": -1}, "max_retries must be a non-negative integer, got -1"),
        ({"model": ""}, "model must be a non-empty model id"),
    ],
)
def test_bad_configuration(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make_moderation_backend("openai", api_key_env=KEY_ENV, **kwargs)


def test_picklable_and_buildable_from_a_spec(server: FakeModerationServer) -> None:
    used = backend(server)
    used.detect(["hello"])  # has a live client now
    copy = pickle.loads(pickle.dumps(used))
    assert copy.detect(["you idiot"]) == [IDIOT]
    spec = pickle.loads(pickle.dumps(moderation_detector_spec("openai", base_url=server.base_url, api_key_env=KEY_ENV)))
    built = spec.build()
    assert isinstance(built, OpenAIModerationBackend) and isinstance(built, Detector)
    assert built.detector_id == "moderation-openai"
    assert built.detect(["I will kill you"]) == [KILL]
