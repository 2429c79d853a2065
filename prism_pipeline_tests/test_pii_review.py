"""PII evidence for reviewers (SPEC §2.3): the private ``pii_review_evidence`` table and the
``prism-pipeline review-pii`` export → fill in → import round trip, end to end."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from prism_pipeline.core import state_store
from prism_pipeline.core.flags import manual_review
from prism_pipeline.core.flags.pii_review import SHEET_FILENAME, sheet_columns
from prism_pipeline.core.hashing import text_sha256
from prism_pipeline.core.removal.requests import add_request
from prism_pipeline.prism.codebook import TEXT_KINDS as KINDS
from prism_pipeline_tests.pipeline import REFERENCE_DIR, failure_messages, make_defs, run_job
from prism_pipeline_tests.records import conversation_record, survey_record, write_jsonl

BIN = Path(sys.executable).parent
SELF = "Write to jane.doe@example.com or +1 415 555 2671 please."
SYSTEM = "I follow @bobsmith on twitter"
FEEDBACK = "It was fine, mail me: a.b@example.org"


@pytest.fixture
def setup(tmp_path):
    """Three participants with PII-looking human texts (two share one text), a model response
    with an email (model texts are never reviewed), and an empty review table."""
    raw, reference = tmp_path / "raw", tmp_path / "reference"
    shutil.copytree(REFERENCE_DIR, reference)
    manual_review.write_review(manual_review.empty_review(kinds=KINDS), reference / "pii_manual_review.csv",
                               kinds=KINDS)
    survey = [survey_record(0, 1, self_description=SELF), survey_record(1, 1, system_string=SYSTEM),
              survey_record(2, 0, system_string=SYSTEM)]
    conversations = [conversation_record(0, 0, open_feedback=FEEDBACK), conversation_record(1, 1)]
    conversations[1]["conversation_history"][1]["content"] = "Contact support@example.com for help."
    write_jsonl(raw / "survey.jsonl", survey)
    write_jsonl(raw / "conversations.jsonl", conversations)
    return tmp_path, raw, reference


def _run(root, raw, reference):
    result = run_job(make_defs(raw, root / "release", root / "state", reference=reference))
    assert result.success, failure_messages(result)
    return result


def _cli(root, reference, *args):
    env = {**os.environ, "PRISM_STATE_DIR": str(root / "state"), "PRISM_REFERENCE_DIR": str(reference),
           "DAGSTER_HOME": str(root / "home")}
    return subprocess.run([str(BIN / "prism-pipeline"), "review-pii", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def _metadata(root) -> list[dict]:
    return [json.loads(x) for x in (root / "release" / "metadata.jsonl").read_text().split("\n") if x]


EVIDENCE = [
    # system_string first (block order), one row for the text two participants share
    {"column_id": "system_string", "text_sha256": text_sha256(SYSTEM), "instances": 2, "filth_types": "twitter",
     "spans": '[["twitter", 9, 18]]', "reviewed": False},
    {"column_id": "self_description", "text_sha256": text_sha256(SELF), "instances": 1,
     "filth_types": "email;phone", "spans": '[["email", 9, 29], ["phone", 33, 48]]', "reviewed": False},
    {"column_id": "open_feedback", "text_sha256": text_sha256(FEEDBACK), "instances": 1, "filth_types": "email",
     "spans": '[["email", 22, 37]]', "reviewed": False},
]


@pytest.mark.slow
def test_review_round_trip(setup):
    root, raw, reference = setup
    result = _run(root, raw, reference)
    evidence = state_store.read(state_store.table_path(root / "state", ["pii_review_evidence"]))
    assert evidence.to_dict("records") == EVIDENCE
    [materialisation] = result.asset_materializations_for_node("pii_review_evidence")
    assert materialisation.metadata["flagged_texts_by_filth_type"].value == {"email": 2, "phone": 1, "twitter": 1}
    assert materialisation.metadata["pending_distinct_texts"].value == 3
    [check] = [e.asset_check_evaluation_data for e in result.all_events
               if e.event_type_value == "ASSET_CHECK_EVALUATION"
               and e.asset_check_evaluation_data.check_name == "pii_review_evidence_schema"]
    assert (check.passed, check.metadata["rows"].value) == (True, 3)
    # The release keeps scrubadub's flag, the manual flag is "not checked", and no evidence leaks into it.
    flagged = [(m["column_id"], m["pii_flag"], m["pii_manual_flag"]) for m in _metadata(root) if m["pii_flag"]]
    assert flagged == [("system_string", True, None)] * 2 + [("self_description", True, None),
                                                             ("open_feedback", True, None),
                                                             ("model_response", True, None)]
    assert not any("filth" in p.read_text() or "spans" in p.read_text() for p in (root / "release").iterdir())

    proc = _cli(root, reference, "export")
    assert proc.returncode == 0, proc.stderr
    sheet_path = root / "state" / SHEET_FILENAME
    assert proc.stdout.startswith(f"wrote 3 pending PII flags to {sheet_path}.")
    assert SELF not in proc.stdout + proc.stderr
    assert sheet_path.stat().st_mode & 0o777 == 0o600
    sheet = pd.read_csv(sheet_path, dtype="str", keep_default_na=False)
    assert tuple(sheet.columns) == sheet_columns(KINDS)
    assert sheet[["column_id", "filth_types", "text", "verdict"]].values.tolist() == [
        ["system_string", "twitter", SYSTEM, ""], ["self_description", "email;phone", SELF, ""],
        ["open_feedback", "email", FEEDBACK, ""]]

    # The reviewer decides two of them; the third stays pending.
    sheet.loc[0, ["verdict", "reviewer", "note"]] = ["false", "annotator-1", "a handle, not a person's contact"]
    sheet.loc[1, ["verdict", "reviewer", "reviewed_on"]] = ["TRUE", "annotator-2", "2026-12-01"]
    sheet.to_csv(sheet_path, index=False)
    proc = _cli(root, reference, "import")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (f"imported 2 verdicts into {reference / 'pii_manual_review.csv'} (1 rows of the sheet still "
                           "without a verdict); `prism-pipeline run` applies them to pii_manual_flag\n")
    today = dt.date.today().isoformat()
    assert (reference / "pii_manual_review.csv").read_text() == (
        "column_id,text_sha256,verdict,reviewed_on,reviewer,note\n"
        f"system_string,{text_sha256(SYSTEM)},false,{today},annotator-1,\"a handle, not a person's contact\"\n"
        f"self_description,{text_sha256(SELF)},true,2026-12-01,annotator-2,\n")

    # Importing the same verdicts again is refused: they are no longer pending.
    proc = _cli(root, reference, "import")
    assert (proc.returncode, proc.stderr) == (2, "review-pii: sheet row 1 is not a pending flagged text of the last "
                                                 "run (already reviewed, or no longer flagged) (and 1 more)\n")

    _run(root, raw, reference)
    flagged = [(m["column_id"], m["pii_manual_flag"]) for m in _metadata(root) if m["pii_flag"]]
    assert flagged == [("system_string", False)] * 2 + [("self_description", True), ("open_feedback", None),
                                                       ("model_response", None)]
    assert _cli(root, reference, "export").stdout.startswith(f"wrote 1 pending PII flags to {sheet_path}.")

    # A removal request deletes the sheet (it holds texts) together with everything else of the person.
    add_request(root / "state", "user0", pd.Series(["user0", "user1", "user2"]), dt.date(2026, 12, 2))
    result = _run(root, raw, reference)
    assert not sheet_path.exists()
    verified = [e.asset_check_evaluation_data for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
                and e.asset_check_evaluation_data.check_name == "erasure_verified"]
    assert [c.passed for c in verified] == [True]
    evidence = state_store.read(state_store.table_path(root / "state", ["pii_review_evidence"]))
    assert evidence["column_id"].tolist() == ["system_string"]  # user0's own texts are gone, the shared one stays


@pytest.mark.slow
def test_import_refuses_an_edited_row(setup):
    root, raw, reference = setup
    _run(root, raw, reference)
    assert _cli(root, reference, "export").returncode == 0
    sheet_path = root / "state" / SHEET_FILENAME
    sheet = pd.read_csv(sheet_path, dtype="str", keep_default_na=False)
    sheet.loc[2, ["verdict", "reviewer", "text"]] = ["false", "annotator-1", FEEDBACK + " (edited)"]
    sheet.to_csv(sheet_path, index=False)
    proc = _cli(root, reference, "import")
    assert (proc.returncode, proc.stderr) == (
        2, "review-pii: sheet row 3 has a text that does not match its text_sha256 (edited or shifted row)\n")
    assert manual_review.load_review(reference / "pii_manual_review.csv", kinds=KINDS).empty


def test_export_before_any_run_says_what_to_do(setup):
    root, _, reference = setup
    proc = _cli(root, reference, "export")
    assert (proc.returncode, proc.stderr) == (
        2, f"review-pii: pii_review_evidence is not materialised under {root / 'state'}: run `prism-pipeline run` "
           "first\n")


def test_filth_spans_are_kept_in_the_flag_cache_by_text_hash(tmp_path):
    """The evidence's spans come from the flag cache when it has them (as the flags do): a warm
    run does not run scrubadub again; the missing ones are computed and stored."""
    from prism_pipeline.core.flags.cache import FlagCache
    from prism_pipeline.core.flags.pii import ScrubadubDetector
    from prism_pipeline.core.flags.pii_review import EVIDENCE_DETECTOR, review_evidence

    texts = [SELF, FEEDBACK]
    instances = pd.DataFrame({"column_id": ["self_description", "open_feedback"], "text": texts})
    flags = pd.DataFrame({"text_sha256": [text_sha256(t) for t in texts], "pii_flag": [True, True]})
    review = manual_review.empty_review(kinds=KINDS)
    with FlagCache(tmp_path / "cache.sqlite") as cache:
        first = review_evidence(instances, flags, review, KINDS, cache=cache)
        assert sorted(first["filth_types"]) == ["email", "email;phone"]
        version = ScrubadubDetector().version
        stored = cache.get_many_json(EVIDENCE_DETECTOR, version, flags["text_sha256"])
        assert {h: json.loads(v) for h, v in stored.items()} == dict(zip(first["text_sha256"],
                                                                         map(json.loads, first["spans"])))
        one = text_sha256(SELF)
        cache.put_many_json(EVIDENCE_DETECTOR, version, [(one, '[["url", 0, 1]]')])  # what the cache says wins
        again = review_evidence(instances, flags, review, KINDS, cache=cache).set_index("text_sha256")
    first = first.set_index("text_sha256")
    assert (again.loc[one, "spans"], again.loc[one, "filth_types"]) == ('[["url", 0, 1]]', "url")
    other = text_sha256(FEEDBACK)
    assert again.loc[other].equals(first.loc[other])
