"""A real HTTP server on 127.0.0.1 that speaks the OpenAI moderation endpoint (test helper).

``POST /v1/moderations`` with JSON ``{"model": ..., "input": [...]}`` answers
``{"id", "model", "results": [{flagged, categories, category_scores,
category_applied_input_types}, ...]}``, one result per input, in order. Scores are a
deterministic function of keywords in each text (below), so tests can assert exact values.

Faults are scripted per request, in arrival order: ``server.faults = [429, 500, ...]`` makes the
next requests fail with that status (429 and 5xx carry ``retry-after-ms: 5`` and
``retry-after: 1``; the SDK prefers the milliseconds header, so retries take milliseconds);
``server.always_fail = 500`` fails every request. Every request is recorded (path, headers,
JSON body, status answered; header names lower-cased) in ``server.requests``, and
``server.max_in_flight`` is the largest number of requests it was handling at once.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CATEGORIES_11 = (
    "sexual",
    "hate",
    "harassment",
    "self-harm",
    "sexual/minors",
    "hate/threatening",
    "violence/graphic",
    "self-harm/intent",
    "self-harm/instructions",
    "harassment/threatening",
    "violence",
)  # the wire names, typed out here on purpose: the server must not share code with the client
OMNI_EXTRA = ("illicit", "illicit/violent")
BASE_SCORE = 1.234e-05

# keyword -> scores it raises (the API flags a category when its score is high; here: > 0.5)
KEYWORD_SCORES: dict[str, dict[str, float]] = {
    "kill": {"violence": 0.876543, "harassment/threatening": 0.614999, "harassment": 0.455},
    "idiot": {"harassment": 0.934567, "hate": 0.125001},
    "shoplift": {"illicit": 0.912345, "illicit/violent": 0.0231},
    "sad": {"self-harm": 0.3049, "self-harm/intent": 0.0051},
}


def scores_for(text: str, categories: tuple[str, ...]) -> dict[str, float]:
    scores = dict.fromkeys(categories, BASE_SCORE)
    for word, raised in KEYWORD_SCORES.items():
        if word in text.lower():
            for c, v in raised.items():
                if c in scores:
                    scores[c] = max(scores[c], v)
    return scores


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any
    status: int


class FakeModerationServer:
    """Context manager: ``with FakeModerationServer(model=...) as server: server.base_url``."""

    def __init__(self, model: str = "omni-moderation-2024-09-26", drop_categories: tuple[str, ...] = ()) -> None:
        self.model = model
        self.drop_categories = drop_categories
        self.faults: list[int] = []
        self.always_fail: int | None = None
        self.requests: list[RecordedRequest] = []
        self.delay = 0.0  # seconds each request is held, to let concurrent requests overlap
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def categories(self) -> tuple[str, ...]:
        cats = CATEGORIES_11 + (OMNI_EXTRA if self.model.startswith("omni-") else ())
        return tuple(c for c in cats if c not in self.drop_categories)

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def moderate(self, text: str) -> dict:
        scores = scores_for(text, self.categories)
        categories = {c: s > 0.5 for c, s in scores.items()}
        result: dict[str, Any] = {
            "flagged": any(categories.values()),
            "categories": categories,
            "category_scores": scores,
        }
        if self.model.startswith("omni-"):
            result["category_applied_input_types"] = {c: ["text"] for c in self.categories}
        return result

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length", 0))
        raw = handler.rfile.read(length)
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = None
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
            status = self.always_fail or (self.faults.pop(0) if self.faults else 200)
            if handler.path != "/v1/moderations":
                status = 404
            elif status == 200 and not (isinstance(body, dict) and isinstance(body.get("input"), list)):
                status = 400
            self.requests.append(RecordedRequest(handler.path, {k.lower(): v for k, v in handler.headers.items()},
                                                 body, status))
        headers = {"content-type": "application/json"}
        if status == 200:
            payload: dict[str, Any] = {
                "id": f"modr-{len(self.requests)}",
                "model": self.model,
                "results": [self.moderate(t) for t in body["input"]],
            }
        else:
            messages = {429: "Rate limit reached", 400: "Invalid request", 404: "Not found"}
            payload = {"error": {"message": messages.get(status, "The server had an error"), "type": "server_error"}}
            if status == 429 or status >= 500:
                headers.update({"retry-after-ms": "5", "retry-after": "1"})
        data = json.dumps(payload).encode()
        handler.send_response(status)
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def __enter__(self) -> FakeModerationServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                server._answer(self)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
