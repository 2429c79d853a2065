"""The OpenAI moderation endpoint as a backend (SPEC §2.2 ``moderation_flag``, §7.3, §7.4).

Against the reference (one text per call, sequential, retried forever, model id not stored):
- inputs are batched (``batch_size`` texts per request, default 32). The endpoint accepts an
  array of strings; OpenAI documents no per-request count, only that each input is chunked
  into 4,096-token pieces and truncated past 32,768 tokens. 32 short texts keep a request
  small and a failed request cheap to retry; PRISM texts are at most 4,630 characters;
- at most ``max_concurrency`` requests are in flight (a small thread pool, default 4). When
  several worker processes run this detector, the total is processes × max_concurrency;
- each request is retried by the SDK at most ``max_retries`` times (exponential back-off
  from 0.5 s capped at 8 s, honouring ``retry-after`` / ``retry-after-ms`` headers up to
  120 s, on 408/409/429/5xx and connection errors); then :class:`ModerationAPIError` is
  raised. Nothing retries forever;
- the model id of every response (``response.model``) is recorded in each result.

Category names: results are dumped by alias, so keys are the wire names
(``self-harm/intent``), not the SDK's Python field names (``self_harm_intent``, SPEC §7.3).

The omni-moderation rule. ``omni-moderation-*`` returns 13 categories (the 11 published ones
plus ``illicit`` and ``illicit/violent``) and ``category_applied_input_types``. The result
keeps the 11 published categories and scores and recomputes ``flagged`` as "any of the 11
categories is true", instead of keeping the API's verdict. Reasons: the released object
holds only the 11 categories, so a row flagged only for ``illicit`` would read as flagged
with every category false; the per-category shares among flagged texts (SPEC §2.2) are only
comparable with the published ones when "flagged" means the same thing; and for the
text-moderation models of the published release the API's ``flagged`` is exactly that
disjunction, so nothing changes for them. Cost: a text flagged only for illicit content is
not flagged here. With ``keep_extra=True`` each result also carries ``extra``: the API's own
``flagged`` (``api_flagged``) and the categories and rounded scores of every category not
among the 11. ``category_applied_input_types`` is dropped: inputs are text only, so it
carries no information.

Configuration: the API key is read from the environment variable named by ``api_key_env``
(default ``OPENAI_API_KEY``), never passed as an argument, so it does not end up in a pickled
detector spec or a run config. ``base_url`` (or ``OPENAI_BASE_URL``, which the SDK reads)
points the client at a proxy or a test server. The default model is the pinned snapshot
``omni-moderation-2024-09-26``: an alias such as ``omni-moderation-latest`` drifts while
the detector version (the cache key) stays the same.

No Dagster import.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prism_pipeline.core.flags.moderation.base import MODERATION_CATEGORIES

from .base import EXTRA_KEY, check_texts, empty_result, make_result, round_score

BACKEND = "openai"
DEFAULT_MODEL = "omni-moderation-2024-09-26"
RULE = "flagged-from-11-v1"  # bump when the omni-moderation rule changes


class ModerationAPIError(RuntimeError):
    """A moderation request failed for good (after the retry limit) or returned an unusable response."""


class OpenAIModerationBackend:
    """Detector (see ``metadata_flags.detectors.Detector``) over ``client.moderations.create``."""

    detector_id = "moderation-openai"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        batch_size: int = 32,
        max_concurrency: int = 4,
        max_retries: int = 4,
        timeout: float = 60.0,
        keep_extra: bool = False,
    ) -> None:
        if not model:
            raise ValueError("model must be a non-empty model id")
        for name, value in (("batch_size", batch_size), ("max_concurrency", max_concurrency)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative integer, got {max_retries!r}")
        if not os.environ.get(api_key_env):
            raise ModerationAPIError(
                f"the openai moderation backend needs an API key in the environment variable {api_key_env}"
            )
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout = float(timeout)
        self.keep_extra = bool(keep_extra)
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        # Batching, concurrency and retries do not change a result; the requested model,
        # the category rule and whether extras are kept do.
        return f"openai-moderation;model={self.model};rule={RULE};keep_extra={self.keep_extra}"

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(
                    api_key=os.environ[self.api_key_env],
                    base_url=self.base_url,
                    max_retries=self.max_retries,
                    timeout=self.timeout,
                )
            return self._client

    def __getstate__(self) -> dict:
        # The HTTP client and the lock cannot be pickled; a copy builds its own.
        state = self.__dict__.copy()
        state["_client"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def detect(self, texts: list[str]) -> list[dict]:
        """One result per text, same order. ``None`` texts are not sent (:func:`.base.empty_result`)."""
        texts = check_texts(texts)
        present = [i for i, t in enumerate(texts) if t is not None]
        results: list[dict | None] = [empty_result(BACKEND, self.model) if t is None else None for t in texts]
        batches = [present[s : s + self.batch_size] for s in range(0, len(present), self.batch_size)]
        if not batches:
            return results  # type: ignore[return-value]
        client = self._get_client()

        def run(numbered: tuple[int, list[int]]) -> list[dict]:
            number, idx = numbered
            return self._moderate_batch(client, number, [texts[i] for i in idx])

        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(batches)))
        try:
            for idx, batch_results in zip(batches, pool.map(run, enumerate(batches)), strict=True):
                for i, r in zip(idx, batch_results, strict=True):
                    results[i] = r
        finally:
            # On the first failure, do not start the batches still queued.
            pool.shutdown(wait=True, cancel_futures=True)
        return results  # type: ignore[return-value]

    def _moderate_batch(self, client: Any, number: int, batch: list[str]) -> list[dict]:
        import openai

        where = f"moderation batch {number} ({len(batch)} texts, model {self.model})"
        try:
            response = client.moderations.create(model=self.model, input=batch)
        except openai.APIStatusError as exc:
            raise ModerationAPIError(
                f"{where} failed: HTTP {exc.status_code}: {_error_message(exc)} "
                f"(retry limit max_retries={self.max_retries})"
            ) from exc
        except openai.APIError as exc:  # connection errors and timeouts, after the retries
            raise ModerationAPIError(
                f"{where} failed: {type(exc).__name__}: {exc} (retry limit max_retries={self.max_retries})"
            ) from exc
        payload = response.model_dump(mode="json", by_alias=True, exclude_unset=True)
        model_id = payload.get("model") or self.model
        raw_results = payload.get("results") or []
        if len(raw_results) != len(batch):
            raise ModerationAPIError(f"{where}: the response has {len(raw_results)} results for {len(batch)} inputs")
        return [self._shape(raw, model_id, where) for raw in raw_results]

    def _shape(self, raw: dict, model_id: str, where: str) -> dict:
        categories = raw.get("categories") or {}
        scores = raw.get("category_scores") or {}
        missing = [c for c in MODERATION_CATEGORIES if categories.get(c) is None or scores.get(c) is None]
        if missing:
            raise ModerationAPIError(f"{where}: response model {model_id} lacks categories {missing}")
        result = make_result(categories, scores, backend=BACKEND, model=model_id)
        if self.keep_extra:
            names = [c for c in categories if c not in MODERATION_CATEGORIES and categories[c] is not None]
            result[EXTRA_KEY] = {
                "api_flagged": bool(raw.get("flagged")),
                "categories": {c: bool(categories[c]) for c in names},
                "category_scores": {c: round_score(scores.get(c) or 0.0) for c in names},
            }
        return result


def _error_message(exc: Any) -> str:
    """The API's error message, if the body has one; otherwise the SDK's."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
    return str(getattr(exc, "message", exc))
