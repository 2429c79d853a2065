"""pii_flag is True exactly when ``scrubadub.clean(text) != text`` (SPEC §2.2)."""

from __future__ import annotations

import warnings

import pytest
import scrubadub

from prism_pipeline.metadata_flags.pii import ScrubadubDetector

# (text, what scrubadub 2.0.1's default cleaning returns)
CAUGHT = [
    ("write to jane.doe@example.com please", "write to {{EMAIL}} please"),
    ("call (650) 555-0123 after six", "call {{PHONE}} after six"),
    ("my number is 650-555-0123", "my number is {{PHONE}}"),
    ("call +44 20 7946 0958", "call {{PHONE}}"),
    ("+1 650 555 0123", "{{PHONE}}"),
    ("see https://www.example.com/page for details", "see {{URL}} for details"),
    ("visit www.example.com", "visit {{URL}}"),
    ("username: bob password: hunter22", "username: {{USERNAME}} password: {{PASSWORD}}"),
    ("card 4111111111111111", "card {{CREDIT_CARD}}"),
    ("ssn 123-45-6789", "ssn {{SOCIAL_SECURITY_NUMBER}}"),
    ("follow @jack for news", "follow {{TWITTER}} for news"),
    ("Ich heiße Hans, meine E-Mail ist hans@beispiel.de", "Ich heiße Hans, meine E-Mail ist {{EMAIL}}"),
    ("Escríbeme a maria@ejemplo.es", "Escríbeme a {{EMAIL}}"),
]
MISSED = [
    "My name is John Smith.",
    "I live at 10 Downing Street, London SW1A 2AA",
    "example.com",
    "call 020 7946 0958",  # UK national format: not a valid en_US number
    "card 4111 1111 1111 1111",  # spaced card numbers are not matched
    "SSN 123456789",
    "ssn 078-05-1120",  # a famous invalid SSN
    "ip 192.168.0.1",
    "date of birth 12/03/1990",
    "It costs $1,234,567.89",
    "Me llamo María y vivo en la calle Mayor 5, Madrid.",
    "Ich wohne in der Hauptstraße 12 in Berlin.",
    "EMPTY STRING",
    "",
]


@pytest.fixture(scope="module")
def detector() -> ScrubadubDetector:
    return ScrubadubDetector()


def _reference_clean(text: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return scrubadub.clean(text)


@pytest.mark.parametrize(("text", "cleaned"), CAUGHT)
def test_caught_types(detector, text, cleaned):
    assert _reference_clean(text) == cleaned
    assert detector.clean(text) == cleaned
    assert detector.detect([text]) == [{"pii_flag": True}]


@pytest.mark.parametrize("text", MISSED)
def test_missed_types(detector, text):
    assert _reference_clean(text) == text
    assert detector.detect([text]) == [{"pii_flag": False}]


def test_one_reused_scrubber_equals_scrubadub_clean_per_text(detector):
    texts = [t for t, _ in CAUGHT] + MISSED
    texts = texts + texts[::-1]  # the same scrubber, in a different order: no carried state
    assert [detector.clean(t) for t in texts] == [_reference_clean(t) for t in texts]
    assert [r["pii_flag"] for r in detector.detect(texts)] == [_reference_clean(t) != t for t in texts]


def test_batch_order_and_nulls(detector):
    assert detector.detect(["a@b.co", None, "hello", float("nan"), "EMPTY STRING"]) == [
        {"pii_flag": True},
        {"pii_flag": False},
        {"pii_flag": False},
        {"pii_flag": False},
        {"pii_flag": False},
    ]
    assert detector.null_result() == {"pii_flag": False}
    assert detector.detect([]) == []


def test_deprecation_warning_is_silenced_only_where_it_is_raised(detector):
    filters_before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector.detect(["write to jane.doe@example.com", "call (650) 555-0123"])
    assert caught == []
    assert warnings.filters == filters_before
    # The warning is real, and other warnings are not swallowed by the detector's filter.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scrubadub.Scrubber().clean("write to jane.doe@example.com")
    assert [str(w.message) for w in caught] == [
        "Filth.replace_with() will be removed in favour of using the more general PostProcessors"
    ]
    assert caught[0].category is DeprecationWarning


def test_version():
    detector = ScrubadubDetector()
    assert detector.detector_id == "scrubadub"
    assert detector.version == "scrubadub==2.0.1;phonenumbers==8.13.31;config=Scrubber() defaults,locale=en_US"
