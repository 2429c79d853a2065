"""The schema models of the intermediate assets (schemas.py): they pass on the frames the
pipeline materialises, they fail bad frames with the named rule, and every asset of the code
location shows its columns (``dagster/column_schema``)."""

import datetime as dt
import shutil

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pytest

from prism_pipeline.core import state_store
from prism_pipeline.core.removal.requests import add_request
from prism_pipeline.core.validation import schema_check_result
from prism_pipeline.prism import schemas
from prism_pipeline.prism.inputs.parse import read_survey
from prism_pipeline_tests.pipeline import run_job, shared_runs

MODELS = {
    "census_cells": schemas.CensusCellsSchema,
    "balanced_subset": schemas.BalancedSubsetSchema,
    "uk_rep_sample": schemas.UkRepSampleSchema,
    "us_rep_sample": schemas.UsRepSampleSchema,
    "census_weights": schemas.CensusWeightsSchema,
    "text_instances": schemas.TextInstancesSchema,
    "text_flags": schemas.TextFlagsSchema,
    "pii_manual_review": schemas.PiiManualReviewSchema,
    "pii_review_evidence": schemas.PiiReviewEvidenceSchema,
    "published_moderation": schemas.PublishedModerationSchema,
    "removal_requests": schemas.RemovalRequestsSchema,
    "erasure": schemas.ErasureSchema,
    "utterances_input": schemas.UtterancesSchema,
}
# Frames without columns: the asset's "no published file".
NO_FILE = {"published_moderation", "utterances_input"}


def _frames(state):
    return {name: state_store.read(state_store.table_path(state, [name])) for name in MODELS}


def _checks(result):
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"}


@pytest.fixture(scope="module")
def plain(tiny_release):
    """The shared tiny release's stored frames and check results."""
    return _frames(tiny_release.state), _checks(tiny_release.result)


@pytest.fixture(scope="module")
def runs(plain, tiny_release, tmp_path_factory):
    """The plain release, and a full run after a removal of user1 with a published
    utterances.jsonl and a published metadata.jsonl covering its first 100 texts in the raw dir
    (so every asset has rows in at least one run). Only slow tests ask for it."""
    world = tiny_release.copy(tmp_path_factory.mktemp("schemas") / "w")
    raw, out, state = world.raw, world.out, world.state
    shutil.copy(out / "utterances.jsonl", raw / "utterances.jsonl")
    lines = (out / "metadata.jsonl").read_text().splitlines(keepends=True)
    (raw / "metadata.jsonl").write_text("".join(lines[:100]))
    add_request(state, "user1", read_survey(raw / "survey.jsonl")["user_id"], dt.date(2026, 11, 1))
    with shared_runs():
        second = run_job(world.defs, instance=world.instance)
    world.instance.dispose()
    assert second.success
    return {"plain": plain, "removal": (_frames(state), _checks(second))}


@pytest.mark.slow
@pytest.mark.parametrize("run", ["plain", "removal"])
@pytest.mark.parametrize("name", list(MODELS))
def test_model_passes_on_materialised_frame(runs, run, name):
    frame = runs[run][0][name]
    if run == "plain" and name in NO_FILE:
        assert frame.shape == (0, 0)
        return
    MODELS[name].validate(schemas.typed_if_empty(MODELS[name], frame), lazy=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in MODELS if n != "pii_review_evidence"])  # rows: test_pii_review
def test_every_model_saw_rows(runs, name):
    # A pass on no rows proves little: in the removal run every one of these frames has rows.
    assert len(runs["removal"][0][name]) > 0


@pytest.mark.slow
def test_schema_checks_pass_in_both_runs(runs):
    names = {f"{name}_schema" for name in MODELS}
    for run in ("plain", "removal"):
        checks = runs[run][1]
        assert names <= set(checks), names - set(checks)
        assert [n for n in sorted(names) if not checks[n].passed] == []
    plain = runs["plain"][1]
    assert plain["published_moderation_schema"].description == "optional input not used: metadata.jsonl"
    assert plain["utterances_input_schema"].description == "optional input not used: utterances.jsonl"
    assert plain["erasure_schema"].metadata["rows"].value == 0  # empty object-dtype frame: typed, then checked
    removal = runs["removal"][1]
    # One request; its rows in the four release files; the published utterances minus user1's 28 of 116.
    assert {n: removal[n].metadata["rows"].value for n in ("erasure_schema", "removal_requests_schema",
                                                           "utterances_input_schema")} == {
        "erasure_schema": 4, "removal_requests_schema": 1, "utterances_input_schema": 116 - 28}


# ---------------------------------------------------------------------------------------
# Bad frames fail with the named rule
# ---------------------------------------------------------------------------------------
def _failures(model, frame) -> set[tuple[str, str]]:
    """(column, check) of each failure; for the column-set rules, the extra or missing column."""
    with pytest.raises(pa.errors.SchemaErrors) as err:
        model.validate(frame, lazy=True)
    cases = err.value.failure_cases
    column_set = cases["check"].isin(["column_in_schema", "column_in_dataframe"])
    columns = cases["failure_case"].where(column_set, cases["column"])
    return set(zip(columns.astype(str), cases["check"].astype(str)))


def test_census_cells_bad_label_and_share(plain):
    cells = plain[0]["census_cells"].copy()
    cells.loc[0, "sex"] = "Other"
    cells.loc[1, "share_of_adults"] += 0.001
    # A row rule reports every column of the failing row.
    assert _failures(schemas.CensusCellsSchema, cells) == {("sex", "isin(('Female', 'Male'))")} | {
        (c, "share_follows_population") for c in cells.columns}


def test_census_cells_duplicate_cell(plain):
    cells = plain[0]["census_cells"]
    doubled = pd.concat([cells, cells.iloc[[0]]], ignore_index=True)
    doubled["share_of_adults"] = doubled["population"] / doubled.groupby("country")["population"].transform("sum")
    assert _failures(schemas.CensusCellsSchema, doubled) == {
        (c, "multiple_fields_uniqueness") for c in ("country", "age_band", "census_ethnicity", "sex")}


def test_census_weights_must_average_one(plain):
    weights = plain[0]["census_weights"].copy()
    weights.loc[0, "weight"] *= 2
    assert _failures(schemas.CensusWeightsSchema, weights) == {(c, "weights_mean_one") for c in weights.columns}


def test_rep_sample_duplicate_user_is_reported_without_the_id(plain):
    rep = plain[0]["uk_rep_sample"]
    bad = pd.concat([rep, rep.iloc[[2]]], ignore_index=True)
    assert _failures(schemas.UkRepSampleSchema, bad) == {("user_id", "field_uniqueness")}
    result = schema_check_result(schemas.UkRepSampleSchema, bad, "uk_rep_sample")
    assert not result.passed
    assert result.description == ("uk_rep_sample line 2, field 'user_id': fails field_uniqueness\n"
                                  "uk_rep_sample line 6, field 'user_id': fails field_uniqueness")
    # The US model does not accept the UK flag column (strict).
    assert _failures(schemas.UsRepSampleSchema, rep) == {
        ("included_in_UK_REP", "column_in_schema"), ("included_in_US_REP", "column_in_dataframe")}


def test_balanced_subset_flag_must_be_bool(plain):
    flags = plain[0]["balanced_subset"].astype({"included_in_balanced_subset": object})
    assert _failures(schemas.BalancedSubsetSchema, flags) == {("included_in_balanced_subset", "dtype('bool')")}


def test_text_instances_ids_follow_block(plain):
    texts = plain[0]["text_instances"].copy()
    assert texts.loc[0, "column_id"] == "system_string"
    texts.loc[0, "conversation_id"] = "c0"
    # A row rule reports the row's non-null values, one per column.
    assert _failures(schemas.TextInstancesSchema, texts) == {
        (c, "ids_follow_block") for c in ("column_id", "user_id", "conversation_id", "text")}


def test_text_flags_backend_and_score(plain):
    flags = plain[0]["text_flags"].copy()
    flags.loc[0, "moderation_backend"] = "remote"
    flags.loc[1, "moderation_flag.category_scores.hate"] = 1.5
    assert _failures(schemas.TextFlagsSchema, flags) == {
        ("moderation_backend", "isin(('frozen', 'local', 'openai'))"),
        ("moderation_flag.category_scores.hate", "less_than_or_equal_to(1.0)")}


def test_manual_review_key_is_unique(plain):
    review = plain[0]["pii_manual_review"]
    doubled = pd.concat([review, review.iloc[[0]]], ignore_index=True)
    assert _failures(schemas.PiiManualReviewSchema, doubled) == {
        ("column_id", "multiple_fields_uniqueness"), ("text_sha256", "multiple_fields_uniqueness")}


@pytest.mark.slow
def test_removal_requests_and_erasure_formats(runs):
    requests = runs["removal"][0]["removal_requests"].copy()
    requests.loc[0, "request_id"] = "rr-12"
    assert _failures(schemas.RemovalRequestsSchema, requests) == {("request_id", "str_matches('^rr-[0-9]{4,}$')")}
    erasure = runs["removal"][0]["erasure"].copy()
    erasure.loc[0, "file"] = "notes.txt"
    erasure.loc[1, "rows"] = -1
    assert _failures(schemas.ErasureSchema, erasure) == {
        ("file", f"isin({schemas.RELEASE_FILES})"), ("rows", "greater_than_or_equal_to(0)")}


def test_typed_if_empty_types_columns_but_keeps_names():
    empty = pd.DataFrame(columns=["request_id", "file", "rows"])
    assert list(empty.dtypes.astype(str)) == ["object"] * 3
    typed = schemas.typed_if_empty(schemas.ErasureSchema, empty)
    assert list(typed.dtypes.astype(str)) == ["str", "str", "int64"]
    schemas.ErasureSchema.validate(typed)
    wrong = schemas.typed_if_empty(schemas.ErasureSchema, pd.DataFrame(columns=["request_id", "file", "n"]))
    assert _failures(schemas.ErasureSchema, wrong) == {("n", "column_in_schema"), ("rows", "column_in_dataframe")}
    rows = pd.DataFrame({"request_id": ["rr-0001"], "file": ["survey.jsonl"], "rows": [1]})
    assert schemas.typed_if_empty(schemas.ErasureSchema, rows) is rows


def test_constants_agree_with_their_modules():
    from prism_pipeline.core.flags import manual_review
    from prism_pipeline.core.flags.moderation import local, openai_backend
    from prism_pipeline.prism.dataset import DATASET
    from prism_pipeline.prism.metadata import frozen
    from prism_pipeline.prism.release.assets import CARRIED_FILES, RELEASE_SPECS

    assert schemas.RELEASE_FILES == DATASET.release_files == tuple(s.metadata["release_file"] for s in RELEASE_SPECS)
    assert dict(DATASET.release_assets) == {s.key.path[-1]: s.metadata["release_file"] for s in RELEASE_SPECS}
    assert ("survey.jsonl", *CARRIED_FILES) == DATASET.release_files
    assert schemas.MODERATION_BACKENDS == (frozen.BACKEND, local.BACKEND, openai_backend.BACKEND)
    assert rf"^{manual_review._PSEUDONYM.pattern}$" == schemas.PiiManualReviewSchema.to_schema().columns[
        "reviewer"].checks[0].statistics["pattern"]


# ---------------------------------------------------------------------------------------
# Every asset shows its columns
# ---------------------------------------------------------------------------------------
def test_every_asset_has_a_column_schema():
    from prism_pipeline.prism.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = sorted(k.to_user_string() for k in graph.materializable_asset_keys)  # source files are files
    assert len(keys) == 24
    schemas_of = {k: graph.get(dg.AssetKey(k)).metadata.get("dagster/column_schema") for k in keys}
    assert [k for k, s in schemas_of.items() if not isinstance(s, dg.TableSchema) or not s.columns] == []
    for name, model in MODELS.items():
        assert [c.name for c in schemas_of[name].columns] == list(model.to_schema().columns), name
