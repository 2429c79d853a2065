"""ThoughtTrace's whole graph on the tiny sample (three users, five conversations with known
texts): exact release files and counts, the flags of known texts, the card, and a removal that
leaves nothing of the participant anywhere and every other row byte-identical.

The fast tests read or copy the session fixture (``conftest.tiny_thoughttrace``); the slow ones
run the graph themselves: bad input, one test per rule, fails on its line with its field and
keeps the previous release; two runs give the same bytes.
"""

import datetime as dt
import json

import pytest

from prism_pipeline.core import state_store
from prism_pipeline.core.hashing import sha256_file
from prism_pipeline.core.removal.event_log import event_log_matches
from prism_pipeline.core.removal.ledger import read_ledger
from prism_pipeline.core.removal.requests import add_request
from prism_pipeline.core.removal.scan import scan_paths
from prism_pipeline.thoughttrace import layout
from prism_pipeline.thoughttrace.dataset import DATASET, RELEASE_FILES
from prism_pipeline.thoughttrace.inputs.footprint import read_user_ids
from prism_pipeline_tests.pipeline import failure_messages, run_job
from prism_pipeline_tests.thoughttrace_records import EMAIL, SPANISH, SURVEY, TOXIC, make_defs, tiny_raw_dir

JSONL = [f for f in RELEASE_FILES if f.endswith(".jsonl")]


def _rows(out, name):
    return [json.loads(line) for line in (out / name).read_text(encoding="utf-8").splitlines()]


def _checks(result):
    return [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


def test_the_release_files_and_their_counts(tiny_thoughttrace):
    out = tiny_thoughttrace.out
    assert sorted(p.name for p in out.iterdir()) == sorted([*RELEASE_FILES, "README.md"])
    failed = {(c.check_name, c.severity.value, c.description)
              for c in _checks(tiny_thoughttrace.result) if not c.passed}
    assert failed == {("message_texts_normalised", "WARN", "2 message texts normalised (1 to 'EMPTY STRING')"),
                      ("pii_reviews_pending", "WARN", "1 human text flagged for PII awaits review")}
    assert json.loads((out / "stats.json").read_text()) == {
        "users": 3, "conversations": 5, "messages": 19, "turns": 10, "thoughts": 12,
        "thoughts_by_label": {"task_motivation": 5, "task_continuation": 0, "task_reorientation": 0,
                              "context_grounding_and_constraints": 1, "content_expectation": 0,
                              "style_expectation": 0, "social_and_others": 0, "explicit_affirmation": 0,
                              "partial_satisfaction": 5, "content_relevance": 1, "presentation_style": 0,
                              "scope_fit": 0},
        "models": 1}
    assert [len(_rows(out, f)) for f in JSONL] == [5, 19, 12, 3, 19 + 12 + 10]
    assert _rows(out, "users.jsonl") == [{"user_id": "user12", **SURVEY, "num_conversations": 2},
                                         {"user_id": "user7", **SURVEY, "num_conversations": 2},
                                         {"user_id": "user30", **SURVEY, "num_conversations": 1}]
    assert [list(r) for r in _rows(out, "messages.jsonl")[:1]] == [list(layout.MESSAGES_COLUMNS)]
    assert [list(r) for r in _rows(out, "thoughts.jsonl")[:1]] == [list(layout.THOUGHTS_COLUMNS)]
    assert "NaN" not in (out / "metadata.jsonl").read_text()


def test_thoughttrace_jsonl_is_the_input_with_message_texts_normalised(tiny_thoughttrace):
    raw = _rows(tiny_thoughttrace.raw, "ThoughtTrace.jsonl")
    released = _rows(tiny_thoughttrace.out, "ThoughtTrace.jsonl")
    raw[0]["messages"][1]["content"] = raw[0]["messages"][1]["content"].strip()
    raw[3]["messages"][3]["content"] = "EMPTY STRING"
    assert released == raw
    assert [list(r) for r in released] == [list(layout.CONVERSATION_KEYS)] * 5


def test_the_flags_of_known_texts(tiny_thoughttrace):
    metadata = _rows(tiny_thoughttrace.out, "metadata.jsonl")
    assert list(metadata[0]) == list(layout.METADATA_COLUMNS)
    assert list(metadata[0]["moderation_flag"]) == ["flagged", "categories", "category_scores"]
    flagged = [{k: v for k, v in m.items() if k != "moderation_flag"} | {"flagged": m["moderation_flag"]["flagged"]}
               for m in metadata if m["pii_flag"] or not m["en_flag"] or m["moderation_flag"]["flagged"]]
    assert flagged == [
        {"conversation_id": "user12_task2_conversation1", "user_id": "user12", "text_kind": "user_message",
         "message_index": 2, "thought_index": None, "language_flag": "en", "en_flag": True, "pii_flag": True,
         "pii_manual_flag": None, "flagged": False},  # EMAIL
        {"conversation_id": "user7_task1_conversation1", "user_id": "user7", "text_kind": "user_message",
         "message_index": 0, "thought_index": None, "language_flag": "es", "en_flag": False, "pii_flag": False,
         "pii_manual_flag": None, "flagged": False},  # SPANISH
        {"conversation_id": "user30_task1_conversation1", "user_id": "user30", "text_kind": "reaction",
         "message_index": 1, "thought_index": 1, "language_flag": "en", "en_flag": True, "pii_flag": False,
         "pii_manual_flag": None, "flagged": True},  # TOXIC
    ]
    texts = tiny_thoughttrace.table("text_instances")
    assert texts.loc[(texts["user_id"] == "user7") & (texts["message_index"] == 0), "text"].iloc[0] == SPANISH
    assert {EMAIL, TOXIC} <= set(texts["text"])


def test_the_dataset_card(tiny_thoughttrace):
    card = (tiny_thoughttrace.out / "README.md").read_text()
    assert card.startswith('---\npretty_name: "ThoughtTrace"\nlicense: cc-by-4.0\nconfigs:\n'
                           '- config_name: thoughttrace\n')
    assert f"| ThoughtTrace.jsonl | 5 | {(tiny_thoughttrace.out / 'ThoughtTrace.jsonl').stat().st_size:,} |" in card
    assert "| PII found by scrubadub (pii_flag) | 1 |" in card
    assert "| moderation flagged (moderation_flag.flagged) | 1 |" in card
    assert "messages alternate user/assistant from user" in card
    assert "Model responses: the card gives them no licence of their own" in card
    assert "| removal_requests_csv | state/removal_requests.csv | absent |" in card


def test_every_stored_table_with_participant_rows_is_redacted(tiny_thoughttrace):
    redacted = {asset for asset, _ in DATASET.stored_tables}
    stored = [p for p in (tiny_thoughttrace.state / "assets").iterdir()
              if p.is_file() or (p / state_store.MANIFEST).exists()]
    with_ids = {p.name for p in stored
                if any(DATASET.id_column_re.fullmatch(str(c)) for c in getattr(state_store.read(p), "columns", []))}
    assert with_ids == redacted - {"text_flags", "pii_manual_review", "pii_review_evidence"}


def _request(world, user_id):
    return add_request(world.state, user_id, read_user_ids(world.raw), dt.date(2026, 11, 1))


def test_a_removal_leaves_nothing_of_the_user_and_keeps_every_other_row(tiny_thoughttrace, tmp_path):
    world = tiny_thoughttrace.copy(tmp_path / "w")
    out = world.out
    before = {f: (out / f).read_bytes() for f in RELEASE_FILES}
    before_sha = {f: sha256_file(out / f) for f in RELEASE_FILES}
    gone = {"user7", "user7_task1_conversation1", "user7_task1_conversation2"}
    assert _request(world, "user7") == "rr-0001"
    result = run_job(world.defs, "removal_rerun", instance=world.instance)
    assert result.success
    [check] = [c for c in _checks(result) if c.check_name == "erasure_verified"]
    assert check.passed and check.metadata["identifiers_scanned"].value == 3
    assert scan_paths([out, world.state], gone, []) == {}
    assert event_log_matches(world.instance, gone, []) == 0
    assert event_log_matches(world.instance, {"user12", "user12_task1_conversation1"}, []) == 0  # ids never logged
    # every other line byte for byte, in order (stats.json recounted)
    for f in JSONL:
        kept = [line for line in before[f].splitlines(keepends=True) if b'"user7' not in line]
        assert (out / f).read_bytes() == b"".join(kept), f
    assert json.loads((out / "stats.json").read_text())["users"] == 2
    [entry] = read_ledger(world.state / "removal_ledger.jsonl")
    assert entry["rows_removed"] == {"ThoughtTrace.jsonl": 2, "messages.jsonl": 6, "thoughts.jsonl": 4,
                                     "users.jsonl": 1, "metadata.jsonl": 14}
    assert entry["release_sha256_before"] == before_sha
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialized == set(DATASET.removal_run_assets)
    [mode] = {m.metadata["written"].value for m in result.asset_materializations_for_node("release_files")}
    assert mode == "carried forward without removed participants"
    [erased] = result.asset_materializations_for_node("thoughttrace__erasure")
    assert erased.metadata["footprint_from"].value == "stored state"


# ---------------------------------------------------------------------------------------
# Slow tier: whole-graph runs of their own
# ---------------------------------------------------------------------------------------
def _edit(path, line_no, edit):
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[line_no - 1])
    edit(record)
    lines[line_no - 1] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _path_set(path, value):
    def edit(record):
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _rename(message, new):
    def edit(record):
        item = record["messages"][message]
        item[new] = item.pop("reasons" if "reasons" in item else "reactions")
    return edit


# (line, edit, the message the failed run gives): one per rule of the models and the reader.
BAD = {
    "id_pattern": (2, _path_set(["id"], "user12-task2"),
                   r"ThoughtTrace.jsonl line 2, field 'id': fails str_matches('^user\d+_task\d+_conversation\d+$')"),
    "unique_ids": (2, _path_set(["id"], "user12_task1_conversation1"),
                   "ThoughtTrace.jsonl line 2, field 'id': fails field_uniqueness"),
    "alternation": (2, _path_set(["messages", 3, "type"], "user"),
                    "ThoughtTrace.jsonl line 2, fields 'messages[3].type': fails row rule alternates_from_user "
                    "(values type='user')"),
    "reasons_only_on_user": (2, _rename(3, "reasons"),
                             "ThoughtTrace.jsonl line 2, fields 'messages[3].type', 'messages[3].reasons': fails "
                             "row rule thoughts_follow_type (values type='assistant')"),
    "reactions_only_on_assistant": (1, _rename(2, "reactions"),
                                    "ThoughtTrace.jsonl line 1, fields 'messages[2].type', 'messages[2].reactions': "
                                    "fails row rule thoughts_follow_type (values type='user')"),
    "label": (1, _path_set(["messages", 0, "reasons", 0, "label"], "curiosity"),
              "ThoughtTrace.jsonl line 1, field 'messages[0].reasons[0].label': fails isin("),
    "label_of_its_kind": (5, _path_set(["messages", 1, "reactions", 0, "label"], "task_motivation"),
                          "ThoughtTrace.jsonl line 5, fields 'messages[1].reactions[0].label', "
                          "'messages[1].reactions': fails row rule label_of_its_kind (values label='task_motivation', "
                          "kind='reaction')"),
    "offset_time": (3, _path_set(["updated_at"], "2026-04-02T10:30:00Z"),
                    "ThoughtTrace.jsonl line 3, field 'updated_at': fails str_matches("),
    "z_time": (4, _path_set(["messages", 1, "timestamp"], "2026-04-02 10:01:00"),
               "ThoughtTrace.jsonl line 4, field 'messages[1].timestamp': fails str_matches("),
    "created_before_updated": (1, _path_set(["created_at"], "2026-04-03T09:59:50.000000+00:00"),
                               "ThoughtTrace.jsonl line 1, fields 'created_at', 'updated_at': fails row rule "
                               "created_before_updated"),
    "same_survey_answers": (2, _path_set(["survey_answers", 0, "gender"], "Male"),
                            "fails row rule same_answers_per_user (values age='31', gender='Male'"),
    "frequency": (5, _path_set(["survey_answers", 0, "frequency"], "0"),
                  "ThoughtTrace.jsonl line 5, field 'survey_answers[0].frequency': fails isin(('1', '2', '3', '4', "
                  "'5')) (value '0')"),
    "age_digits": (5, _path_set(["survey_answers", 0, "age"], "thirty"),
                   "ThoughtTrace.jsonl line 5, field 'survey_answers[0].age': fails str_matches('^[0-9]+$') "
                   "(value 'thirty')"),
    "answers_are_strings": (5, _path_set(["survey_answers", 0, "frequency"], 4),
                            "ThoughtTrace.jsonl line 5, field 'survey_answers[0].frequency': expected str, got int "
                            "(value 4)"),
    "message_type_json": (3, _path_set(["messages", 1, "type"], None),
                          "ThoughtTrace.jsonl line 3, field 'messages[1].type': missing value (null) where the "
                          "codebook requires one (value None)"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_fails_on_its_line_and_keeps_the_previous_release(tiny_thoughttrace, tmp_path, case):
    line, edit, expected = BAD[case]
    world = tiny_thoughttrace.copy(tmp_path / "w")
    before = {p.name: p.read_bytes() for p in world.out.iterdir()}
    _edit(world.raw / "ThoughtTrace.jsonl", line, edit)
    result = run_job(world.defs, instance=world.instance)
    assert not result.success
    messages = failure_messages(result)
    assert any(expected in m for m in messages), messages
    assert {p.name: p.read_bytes() for p in world.out.iterdir()} == before  # no temp file left either
    # free text and ids are never echoed
    assert not any(text in m for m in messages for text in ("Lisbon", "budget", "user12_task", "Nurse"))


@pytest.mark.slow
def test_the_release_is_byte_identical_across_runs(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    assert run_job(make_defs(raw, tmp_path / "a", tmp_path / "state_a")).success
    assert run_job(make_defs(raw, tmp_path / "b", tmp_path / "state_b")).success
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted([*RELEASE_FILES, "README.md"])
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names)


@pytest.mark.slow
def test_removal_run_equals_a_full_rebuild(tiny_thoughttrace, tmp_path):
    """The redaction (removal_rerun) and a rebuild from the raw file with the request applied
    (full_release) give the same release, byte for byte."""
    world = tiny_thoughttrace.copy(tmp_path / "w")
    _request(world, "user12")
    assert run_job(world.defs, "removal_rerun", instance=world.instance).success
    other = tiny_thoughttrace.copy(tmp_path / "w2")
    _request(other, "user12")
    rebuilt = run_job(other.defs, "full_release", instance=other.instance)
    assert rebuilt.success
    for name in RELEASE_FILES:
        assert (world.out / name).read_bytes() == (other.out / name).read_bytes(), name
