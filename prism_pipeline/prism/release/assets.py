"""The release files, written together and atomically (SPEC §1.3–§1.6, §7.2).

One multi-asset, not four independent ones, because the files form one release: they are
written to temporary names and renamed only when all are complete, and no file is written at
all if any upstream blocking check failed. So a consumer never sees a survey from one run and
utterances from another.
"""

import sys

import dagster as dg
import pandas as pd

from prism_pipeline.core.flags.resources import FlagSettings
from prism_pipeline.core.hashing import code_version
from prism_pipeline.core.release import card, publish, writer
from prism_pipeline.core.release.assets import (
    card_writer,
    column_lineage,
    no_removal_arrived,
    recorded_release,
    release_results,
)
from prism_pipeline.core.resources import DatasetPaths, LazyTable
from prism_pipeline.core.validation import table_schema
from prism_pipeline.prism import codebook as cb
from prism_pipeline.prism import schemas
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline.prism.release import build, checks
from prism_pipeline.prism.sampling.balanced import user_flags_of_tables
from prism_pipeline.prism.sampling.resources import SamplingSettings

GROUP = "release"
OWNERS = list(DATASET.owners)
VERSION = code_version(sys.modules[__name__], build, publish, writer, card)  # a rule change marks the release unsynced


_BALANCED = ("balanced_subset", "included_in_balanced_subset")
LINEAGE = {
    "survey.jsonl": column_lineage(cb.SURVEY_COLUMNS, "survey_input", cb.SURVEY_NESTED, {
        "included_in_UK_REP": ("uk_rep_sample", "included_in_UK_REP"),
        "included_in_US_REP": ("us_rep_sample", "included_in_US_REP"),
        "included_in_balanced_subset": _BALANCED}),
    "conversations.jsonl": column_lineage(cb.CONVERSATION_COLUMNS, "conversations_input", cb.CONVERSATION_NESTED, {
        "conversation_history": ("conversation_history", "content"),
        "included_in_balanced_subset": _BALANCED}),
    "utterances.jsonl": column_lineage(cb.UTTERANCE_COLUMNS, "utterances", overrides={
        "included_in_balanced_subset": _BALANCED}),
    "metadata.jsonl": column_lineage(cb.METADATA_COLUMNS, "metadata_table", {
        "moderation_flag": ("flagged",) + tuple(f"{part}.{c}" for part in ("categories", "category_scores")
                                                for c in cb.MODERATION_CATEGORIES)}),
}


def _spec(name: str, file: str, description: str, deps: list[str], model=None) -> dg.AssetSpec:
    metadata = {"release_file": file, "dagster/column_lineage": LINEAGE[file]}
    if model is not None:
        metadata["dagster/column_schema"] = table_schema(model)
    # Every release file also reads the erasure: when it applied a removal, the release is
    # carried forward without the removed participants' lines instead of rebuilt.
    return dg.AssetSpec(name, group_name=GROUP, owners=OWNERS, kinds={"jsonl"}, code_version=VERSION,
                        description=description, deps=[*deps, "erasure"], metadata=metadata)


RELEASE_SPECS = [
    _spec("survey_release", "survey.jsonl",
          "Released survey.jsonl (SPEC §1.3): the validated survey with recomputed included_in_* flags.",
          ["survey_input", "balanced_subset", "uk_rep_sample", "us_rep_sample"], schemas.SurveySchema),
    _spec("conversations_release", "conversations.jsonl",
          "Released conversations.jsonl (SPEC §1.4) with its conversation_history and the recomputed "
          "included_in_balanced_subset.",
          ["conversations_input", "conversation_history", "balanced_subset"], schemas.ConversationsSchema),
    _spec("utterances_release", "utterances.jsonl",
          "Released utterances.jsonl (SPEC §1.5) with included_in_balanced_subset copied from the conversation.",
          ["utterances", "balanced_subset"], schemas.UtterancesSchema),
    _spec("metadata_release", "metadata.jsonl",
          "Released metadata.jsonl (SPEC §1.6, §2.4): one row per text instance with its flags, in canonical order.",
          ["metadata_table"], schemas.MetadataSchema),
]


# A removal carries these forward without the removed participants' lines (survey.jsonl, whose
# REP flags may change, is rebuilt); what they are built from: if any was materialised after the
# release was written, the release is rebuilt, never carried forward.
CARRY = publish.Carry(carried=("conversations.jsonl", "utterances.jsonl", "metadata.jsonl"), users_file="survey.jsonl")
CARRIED_FILES = CARRY.carried
CARRIED_FROM = ("conversations_input", "conversation_history", "utterances", "balanced_subset", "metadata_table")
# What the dataset card says was checked (the checks themselves: schema_checks.py, inputs/checks.py,
# conversation_tables/checks.py, metadata/checks.py, release/checks.py, core/removal/checks.py).
CHECKED = [
    "every value of survey.jsonl and conversations.jsonl against the codebook (types, ranges, categories), "
    "by file and line (Pandera models, prism_pipeline/prism/schemas.py)",
    "cross-file rules: every conversation's user is in the survey; survey_only and the conversation counts "
    "agree; turns, opening prompts and within-turn ids follow the published structure",
    "derived tables (utterances, interactions, metadata) against their models; the recomputed included_in_* "
    "flags against any published ones",
    "after every removal, a scan of the release, the private state and the run history for the removed "
    "participants' ids and text hashes",
]


@dg.multi_asset(
    specs=RELEASE_SPECS,
    ins={**{name: dg.AssetIn(name) for name in (
        "survey_input", "conversations_input", "balanced_subset", "uk_rep_sample", "us_rep_sample",
        "erasure")},
        # The text tables (~110 MB of pickles at PRISM scale) are read only for a rebuild.
        **{name: dg.AssetIn(name, input_manager_key="lazy_state")
           for name in ("conversation_history", "utterances", "metadata_table")}},
    check_specs=checks.SPECS,
    can_subset=False,
)
def release_files(context: dg.AssetExecutionContext, paths: DatasetPaths, sampling_settings: SamplingSettings,
                  flag_settings: FlagSettings, survey_input: pd.DataFrame,
                  conversations_input: pd.DataFrame, conversation_history: LazyTable,
                  utterances: LazyTable, balanced_subset: pd.DataFrame, uk_rep_sample: pd.DataFrame,
                  us_rep_sample: pd.DataFrame, metadata_table: LazyTable, erasure: pd.DataFrame):
    out = paths.output

    def survey_records() -> list[dict]:
        users = user_flags_of_tables(survey_input, conversations_input, balanced_subset)
        return build.survey_records(build.survey_release(
            survey_input, users, uk_rep_sample["included_in_UK_REP"], us_rep_sample["included_in_US_REP"]))

    def rebuild(records: list[dict]) -> dict:
        return build.release_records(records, build.conversations_release(conversations_input, balanced_subset),
                                     conversation_history.load(),
                                     build.utterances_release(utterances.load(), balanced_subset),
                                     metadata_table.load())

    removing = not erasure.empty
    published = publish.publish_release(
        out, cb.RELEASE_FILES, lambda: {"survey.jsonl": survey_records()},
        lambda fresh: rebuild(fresh["survey.jsonl"]), removing=removing,
        recorded=recorded_release(context.instance, DATASET, CARRIED_FROM) if removing else None,
        kept_user_ids=set(survey_input["user_id"]), carry=CARRY,
        before_commit=no_removal_arrived(DATASET, paths.state),
        card=card_writer(context.instance, DATASET, paths.state, CHECKED))
    context.log.info(f"release {published.mode} in {paths.output}")
    config = {"sampling": sampling_settings.model_dump(), "flags": flag_settings.model_dump()}
    yield from release_results(DATASET, published, removing, {"config": dg.MetadataValue.json(config)})
    yield checks.published_survey_flags_match(survey_input, conversations_input, balanced_subset, uk_rep_sample,
                                              us_rep_sample)
    yield checks.published_conversation_flags_match(conversations_input, balanced_subset)
