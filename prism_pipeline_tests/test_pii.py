"""pii_flag is True exactly when ``scrubadub.clean(text) != text`` (SPEC §2.2)."""

from __future__ import annotations

import warnings

import pytest
import scrubadub

from prism_pipeline.core.flags.pii import ScrubadubDetector

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


def test_scrubber_is_built_lazily():
    fresh = ScrubadubDetector()
    assert fresh._scrubber is None
    fresh.load()
    first = fresh._scrubber
    assert first is not None
    fresh.detect(["a@b.co"])
    assert fresh._scrubber is first  # one scrubber, reused


def test_version():
    detector = ScrubadubDetector()
    assert detector.detector_id == "scrubadub"
    assert detector.version == "scrubadub==2.0.1;phonenumbers==8.13.31;config=Scrubber() defaults,locale=en_US"


# ---------------------------------------------------------------------------------------
# Manual review: pii_manual_flag (SPEC §2.3)
# ---------------------------------------------------------------------------------------
import hashlib  # noqa: E402

import pandas as pd  # noqa: E402

from prism_pipeline.core.flags import manual_review as mr  # noqa: E402
from prism_pipeline.prism.codebook import TEXT_KINDS as KINDS  # noqa: E402
from prism_pipeline_synthetic import sample_reviews  # noqa: E402


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


FALSE_ALARM, REAL, UNREVIEWED, CHANGED, NOT_FLAGGED = (
    sha("call me on 650-555-0123 (a made-up number)"),
    sha("my email is real.person@example.org"),
    sha("see www.example.com"),
    sha("see www.example.com, edited"),
    sha("no pii here"),
)


def _flags() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "column_id": ["self_description", "open_feedback", "user_prompt", "user_prompt", "system_string",
                          "model_response", "model_response", "open_feedback", "user_prompt"],
            "user_id": ["user0", "user1", "user1", "user2", "user3", "user1", "user1", "user2", "user4"],
            "text_sha256": [FALSE_ALARM, REAL, UNREVIEWED, UNREVIEWED, NOT_FLAGGED, FALSE_ALARM, REAL, CHANGED,
                            None],
            "pii_flag": [True, True, True, True, False, True, False, True, False],
        },
        index=[10, 11, 12, 13, 14, 15, 16, 17, 18],
    )


def _review() -> pd.DataFrame:
    return mr.validate_review(pd.DataFrame(
        {
            "column_id": ["self_description", "open_feedback", "system_string", "open_feedback"],
            "text_sha256": [FALSE_ALARM, REAL, NOT_FLAGGED, UNREVIEWED],
            "verdict": ["false", "true", "false", "false"],
            "reviewed_on": ["2024-01-15"] * 4,
            "reviewer": ["annotator-1", "annotator-2", "annotator-1", "annotator-2"],
            "note": ["number from a film", "", "", "was reviewed under another block"],
        }
    ), kinds=KINDS)


def test_pii_manual_flag_rule():
    out = mr.pii_manual_flag(_flags(), _review(), kinds=KINDS)
    assert out.name == "pii_manual_flag" and out.dtype == "boolean"
    assert out.index.tolist() == list(range(10, 19))
    # reviewed false; reviewed true; two unreviewed (the open_feedback review is another block);
    # not flagged; model texts (never checked); changed text; null text.
    assert out.tolist() == [False, True, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA]


def test_pending_orphans_summary_and_message():
    flags, review = _flags(), _review()
    assert mr.pending_reviews(flags, review, kinds=KINDS).index.tolist() == [12, 13, 17]
    orphans = mr.orphan_reviews(flags, review, kinds=KINDS)
    assert orphans["text_sha256"].tolist() == [NOT_FLAGGED, UNREVIEWED]
    summary = mr.review_summary(flags, review, kinds=KINDS)
    assert summary == {"human_pii_flagged": 5, "reviewed": 2, "reviewed_real_pii": 1, "pending": 3,
                       "pending_distinct_texts": 2, "orphan_reviews": 2}
    assert mr.pending_message(summary) == "3 human texts flagged for PII await review"
    assert mr.pending_message({**summary, "pending": 1}) == "1 human text flagged for PII awaits review"
    assert mr.pending_message({**summary, "pending": 0}) is None


def test_a_review_follows_its_text_not_its_row():
    flags = _flags()
    rebuilt = flags.iloc[::-1].reset_index(drop=True).assign(user_id="renumbered")
    out = mr.pii_manual_flag(rebuilt, _review(), kinds=KINDS)
    assert out.tolist() == [pd.NA, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA, True, False]


def test_new_review_rows_clear_the_backlog(tmp_path):
    flags, review = _flags(), _review()
    added = mr.new_review_rows(mr.pending_reviews(flags, review, kinds=KINDS), verdict=False, reviewed_on="2024-02-01",
                               reviewer="annotator-3", note="batch 2", kinds=KINDS)
    assert added[["column_id", "text_sha256"]].values.tolist() == [["user_prompt", UNREVIEWED],
                                                                    ["open_feedback", CHANGED]]
    merged = pd.concat([review, added], ignore_index=True)
    path = tmp_path / "review.csv"
    mr.write_review(merged, path, kinds=KINDS)
    loaded = mr.load_review(path, kinds=KINDS)
    assert mr.review_summary(flags, loaded, kinds=KINDS)["pending"] == 0
    assert mr.pii_manual_flag(flags, loaded, kinds=KINDS).tolist() == [False, True, False, False, pd.NA, pd.NA,
                                                                       pd.NA, False, pd.NA]
    lines = path.read_text().splitlines()
    assert lines[0] == "column_id,text_sha256,verdict,reviewed_on,reviewer,note"
    # canonical order: block order of codebook.TEXT_COLUMN_IDS, then hash
    assert [line.split(",")[0] for line in lines[1:]] == ["system_string", "self_description", "open_feedback",
                                                          "open_feedback", "open_feedback", "user_prompt"]
    mr.write_review(loaded, path, kinds=KINDS)
    assert path.read_text().splitlines() == lines  # stable


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("column_id", "model_response", r"^1 review rows have a column_id outside the human kinds "
                                        r"\['system_string', 'self_description', 'open_feedback', 'user_prompt'\] "
                                        r"\(first: row 2\)$"),
        ("text_sha256", "ABC", r"^1 review rows have a text_sha256 that is not 64 lower-case hex digits "
                               r"\(first: row 2\)$"),
        ("verdict", "maybe", r"^1 review rows have a verdict other than true/false \(first: row 2\)$"),
        ("reviewed_on", "15/01/2024", r"^1 review rows have a reviewed_on that is not a YYYY-MM-DD date "
                                      r"\(first: row 2\)$"),
        ("reviewer", "Jane Doe", r"^1 review rows have a reviewer that is not a pseudonym like annotator-1 "
                                 r"\(first: row 2\)$"),
        ("text_sha256", FALSE_ALARM, None),
    ],
)
def test_review_table_validation(column, value, message):
    raw = _review().assign(verdict=lambda f: f["verdict"].map({True: "true", False: "false"}))
    raw.loc[1, column] = value
    if column == "text_sha256" and value == FALSE_ALARM:
        raw.loc[1, "column_id"] = "self_description"
        message = r"^1 review rows repeat a \(column_id, text_sha256\) key \(first: row 2\)$"
    with pytest.raises(mr.ReviewTableError, match=message):
        mr.validate_review(raw, kinds=KINDS)


def test_review_table_columns_are_fixed():
    with pytest.raises(mr.ReviewTableError, match=r"^review columns must be \['column_id', 'text_sha256', "
                                                  r"'verdict', 'reviewed_on', 'reviewer', 'note'\], got \['text'\]$"):
        mr.validate_review(pd.DataFrame({"text": ["my email is x@y.z"]}), kinds=KINDS)


def test_flags_must_carry_the_key_columns():
    with pytest.raises(KeyError, match=r"flags lack columns \['text_sha256'\]"):
        mr.pii_manual_flag(_flags().drop(columns="text_sha256"), _review(), kinds=KINDS)


def test_empty_review_leaves_everything_unchecked():
    out = mr.pii_manual_flag(_flags(), mr.empty_review(kinds=KINDS), kinds=KINDS)
    assert out.isna().all()
    assert mr.review_summary(_flags(), mr.empty_review(kinds=KINDS), kinds=KINDS)["pending"] == 5


def test_shipped_review_table_is_valid():
    review = mr.load_review(sample_reviews.DEFAULT_REVIEW_PATH, kinds=KINDS)
    assert sample_reviews.DEFAULT_REVIEW_PATH.read_text().splitlines()[0] == ",".join(mr.review_columns(KINDS))
    assert review["column_id"].isin(["system_string", "self_description", "open_feedback", "user_prompt"]).all()


RAW = sample_reviews.DEFAULT_REVIEW_PATH.parents[1] / "raw"


@pytest.fixture(scope="module")
def sample_flags() -> pd.DataFrame:
    return sample_reviews.sample_flags(RAW)


def test_shipped_review_covers_the_committed_sample(sample_flags):
    summary = mr.review_summary(sample_flags, mr.load_review(sample_reviews.DEFAULT_REVIEW_PATH, kinds=KINDS),
                                kinds=KINDS)
    assert (summary["pending"], summary["orphan_reviews"]) == (0, 0), (
        f"data/reference/pii_manual_review.csv is out of sync with data/raw/ ({summary}); "
        "re-sync with sample_reviews.sync_synthetic_sample (see its module comment)")
    assert summary["human_pii_flagged"] > 0 and summary["reviewed_real_pii"] == 0
    assert (mr.load_review(sample_reviews.DEFAULT_REVIEW_PATH, kinds=KINDS)["reviewer"]
            == sample_reviews.SYNTHETIC_REVIEWER).all()


def test_sync_keeps_human_reviews_and_drops_stale_synthetic_rows(tmp_path, sample_flags):
    path = tmp_path / "review.csv"
    human = mr.validate_review(pd.DataFrame({
        "column_id": ["user_prompt"], "text_sha256": [sha("a text that is gone")], "verdict": ["true"],
        "reviewed_on": ["2024-01-15"], "reviewer": ["annotator-1"], "note": [""],
    }), kinds=KINDS)
    stale = mr.new_review_rows(pd.DataFrame({"column_id": ["open_feedback"], "text_sha256": [sha("old")]}),
                               False, "2024-01-15", sample_reviews.SYNTHETIC_REVIEWER, kinds=KINDS)
    mr.write_review(pd.concat([human, stale], ignore_index=True), path, kinds=KINDS)
    counts = sample_reviews.sync_synthetic_sample(RAW, path, "2024-03-01")
    flagged = sample_flags.loc[sample_flags["pii_flag"], ["column_id", "text_sha256"]].drop_duplicates()
    assert counts == {"added": len(flagged), "removed": 1}
    review = mr.load_review(path, kinds=KINDS)
    assert len(review) == len(flagged) + 1
    assert review.loc[review["reviewer"] == "annotator-1", "text_sha256"].tolist() == [sha("a text that is gone")]
    assert mr.review_summary(sample_flags, review, kinds=KINDS)["pending"] == 0
    assert sample_reviews.sync_synthetic_sample(RAW, path, "2024-03-02") == {"added": 0, "removed": 0}
