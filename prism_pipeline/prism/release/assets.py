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
from prism_pipeline.core.release import publish, writer
from prism_pipeline.core.resources import LazyTable, PrismPaths
from prism_pipeline.core.validation import table_schema
from prism_pipeline.prism import codebook as cb
from prism_pipeline.prism import schemas
from prism_pipeline.prism.release import build
from prism_pipeline.prism.sampling.balanced import user_flags_of_tables
from prism_pipeline.prism.sampling.resources import SamplingSettings

GROUP = "release"
OWNERS = ["team:prism-data"]
VERSION = code_version(sys.modules[__name__], build, publish, writer)  # a rule change marks the release unsynced


def _lineage(columns, source: str, nested=None, overrides=None) -> dg.TableColumnLineage:
    """Which upstream columns each release column derives from (``dagster/column_lineage``)."""
    nested, overrides = nested or {}, overrides or {}
    deps = {}
    for col in columns:
        if col in overrides:
            asset, upstream = overrides[col]
            deps[col] = [dg.TableColumnDep(asset_key=dg.AssetKey(asset), column_name=upstream)]
        elif col in nested:
            deps[col] = [dg.TableColumnDep(asset_key=dg.AssetKey(source), column_name=f"{col}.{key}")
                         for key in nested[col]]
        else:
            deps[col] = [dg.TableColumnDep(asset_key=dg.AssetKey(source), column_name=col)]
    return dg.TableColumnLineage(deps)


_BALANCED = ("balanced_subset", "included_in_balanced_subset")
LINEAGE = {
    "survey.jsonl": _lineage(cb.SURVEY_COLUMNS, "survey_input", cb.SURVEY_NESTED, {
        "included_in_UK_REP": ("uk_rep_sample", "included_in_UK_REP"),
        "included_in_US_REP": ("us_rep_sample", "included_in_US_REP"),
        "included_in_balanced_subset": _BALANCED}),
    "conversations.jsonl": _lineage(cb.CONVERSATION_COLUMNS, "conversations_input", cb.CONVERSATION_NESTED, {
        "conversation_history": ("conversation_history", "content"),
        "included_in_balanced_subset": _BALANCED}),
    "utterances.jsonl": _lineage(cb.UTTERANCE_COLUMNS, "utterances", overrides={
        "included_in_balanced_subset": _BALANCED}),
    "metadata.jsonl": _lineage(cb.METADATA_COLUMNS, "metadata_table", {
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


# What those files are built from: if any was materialised after the release was written, the
# release is rebuilt, never carried forward.
CARRIED_FILES = publish.CARRIED_FILES
CARRIED_FROM = ("conversations_input", "conversation_history", "utterances", "balanced_subset", "metadata_table")


def _recorded_release(instance: dg.DagsterInstance) -> dict[str, tuple[str, int]] | None:
    """{release file: (sha256, rows)} as this asset last wrote them, when none of the tables
    the carried files come from was materialised since; else None. A release file whose bytes
    still have that sha256 can then be carried forward: dropping the removed participants'
    lines equals a rebuild from the redacted tables."""
    keys = [spec.key for spec in RELEASE_SPECS] + [dg.AssetKey(k) for k in CARRIED_FROM]
    events = instance.get_latest_materialization_events(keys)  # one query, not nine
    recorded, written_at = {}, []
    for spec in RELEASE_SPECS:
        event = events.get(spec.key)
        meta = event.asset_materialization.metadata if event else {}
        if "sha256" not in meta:
            return None
        recorded[spec.metadata["release_file"]] = (meta["sha256"].value, int(meta["dagster/row_count"].value))
        written_at.append(event.timestamp)
    for key in CARRIED_FROM:
        event = events.get(dg.AssetKey(key))
        if event is None or event.timestamp > min(written_at):
            return None
    return recorded


@dg.multi_asset(
    specs=RELEASE_SPECS,
    ins={**{name: dg.AssetIn(name) for name in (
        "survey_input", "conversations_input", "balanced_subset", "uk_rep_sample", "us_rep_sample",
        "erasure")},
        # The text tables (~110 MB of pickles at PRISM scale) are read only for a rebuild.
        **{name: dg.AssetIn(name, input_manager_key="lazy_state")
           for name in ("conversation_history", "utterances", "metadata_table")}},
    can_subset=False,
)
def release_files(context: dg.AssetExecutionContext, prism_paths: PrismPaths, sampling_settings: SamplingSettings,
                  flag_settings: FlagSettings, survey_input: pd.DataFrame,
                  conversations_input: pd.DataFrame, conversation_history: LazyTable,
                  utterances: LazyTable, balanced_subset: pd.DataFrame, uk_rep_sample: pd.DataFrame,
                  us_rep_sample: pd.DataFrame, metadata_table: LazyTable, erasure: pd.DataFrame):
    out = prism_paths.output

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
    published = publish.publish_release(out, survey_records, rebuild, removing=removing,
                                        recorded=_recorded_release(context.instance) if removing else None,
                                        kept_user_ids=set(survey_input["user_id"]))
    written, before, mode = published.written, published.before, published.mode
    context.log.info(f"release {mode} in {prism_paths.output}")
    summary = "\n".join(["| file | rows | sha256 |", "|---|---|---|"]
                        + [f"| {w.name} | {w.rows:,} | `{w.sha256[:16]}…` |" for w in written.values()])
    config = {"sampling": sampling_settings.model_dump(), "flags": flag_settings.model_dump()}
    for spec in RELEASE_SPECS:
        w = written[spec.metadata["release_file"]]
        yield dg.MaterializeResult(asset_key=spec.key, metadata={
            "path": dg.MetadataValue.path(str(w.path)),
            "sha256": w.sha256,
            "dagster/row_count": w.rows,
            "bytes": w.bytes,
            "release": dg.MetadataValue.md(summary),
            "written": mode,
            "config": dg.MetadataValue.json(config),
            # For the removal ledger (removal_ledger): the file as it was before this removal.
            **({"sha256_before": before.get(spec.metadata["release_file"]) or "absent"} if not erasure.empty else {}),
        })
