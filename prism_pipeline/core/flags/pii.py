"""``pii_flag``: does scrubadub 2.0.1's default cleaning change the text (SPEC §2.2).

The rule is ``pii_flag = scrubadub.clean(text) != text``; a null text gives False. With
scrubadub 2.0.1 (locale en_US) the default detectors are credential, credit_card, email,
phone (through ``phonenumbers``, pinned at 8.13.31), social_security_number, twitter and url;
any hit replaces a span with a ``{{TYPE}}`` placeholder, so the strings differ. Names and
street addresses are not detected (SPEC §7.5).

``scrubadub.clean`` builds a new ``Scrubber`` (all detectors and post-processors) for every
text, which costs ~7x the cleaning itself. This detector builds ONE ``Scrubber()`` per
worker process and reuses it: ``Scrubber.clean`` keeps no state between calls with the
default post-processors, and ``test_pii.py`` checks it returns exactly ``scrubadub.clean``'s
output on every test text.

Each detected span emits ``DeprecationWarning: Filth.replace_with() will be removed ...``
from ``scrubadub.filth.base``; that one warning is silenced around each batch (message,
category and module matched), nothing else.

No Dagster import.
"""

from __future__ import annotations

import importlib.metadata
import warnings

PII_FLAG = "pii_flag"
_REPLACE_WITH_WARNING = r"Filth\.replace_with\(\) will be removed"
_WARNING_MODULE = r"scrubadub\.filth\.base"


def silence_replace_with_warning() -> None:
    """Add the targeted filter for scrubadub's per-filth deprecation warning."""
    warnings.filterwarnings(
        "ignore", message=_REPLACE_WITH_WARNING, category=DeprecationWarning, module=_WARNING_MODULE
    )


class ScrubadubDetector:
    """Detector giving ``{"pii_flag": scrubadub.clean(text) != text}`` per text (SPEC §2.2)."""

    detector_id = "scrubadub"
    # Heavy modules a forkserver can import once for all workers (runner.py).
    preload_modules = ("scrubadub",)

    def __init__(self) -> None:
        # Built on first use: scrubadub's import takes ~1.5 s (nltk, scipy), and a detector
        # built only to read its version (a warm, all-cached run) never needs it.
        self._scrubber = None

    @property
    def scrubber(self):
        if self._scrubber is None:
            import scrubadub  # noqa: PLC0415

            self._scrubber = scrubadub.Scrubber()
        return self._scrubber

    @property
    def version(self) -> str:
        return (
            f"scrubadub=={importlib.metadata.version('scrubadub')};"
            f"phonenumbers=={importlib.metadata.version('phonenumbers')};"
            "config=Scrubber() defaults,locale=en_US"
        )

    def clean(self, text: str) -> str:
        """The cleaned text, as ``scrubadub.clean(text)`` would return it."""
        with warnings.catch_warnings():
            silence_replace_with_warning()
            return self.scrubber.clean(text)

    def load(self) -> None:
        """Import scrubadub and build the scrubber now (the runner calls this before forking)."""
        _ = self.scrubber

    def filth(self, text: str) -> list[tuple[str, int, int]]:
        """(filth type, start, end) of each span the default cleaning replaces, in text order:
        the evidence behind ``pii_flag`` for a reviewer (character offsets, never the span)."""
        with warnings.catch_warnings():
            silence_replace_with_warning()
            return [(f.type, int(f.beg), int(f.end)) for f in self.scrubber.iter_filth(text)]

    @staticmethod
    def null_result() -> dict:
        return {PII_FLAG: False}

    def detect(self, texts: list[str]) -> list[dict]:
        clean = self.scrubber.clean
        out: list[dict] = []
        with warnings.catch_warnings():
            silence_replace_with_warning()
            for text in texts:
                out.append({PII_FLAG: isinstance(text, str) and clean(text) != text})
        return out
