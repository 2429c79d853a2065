"""The release files, written together and atomically (SPEC §1.3–§1.6, §7.2).

One multi-asset, not four independent ones, because the files form one release: they are
written to temporary names and renamed only when all are complete, and no file is written at
all if any upstream blocking check failed. So a consumer never sees a survey from one run and
utterances from another.
"""

import hashlib
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pandas as pd

from prism_pipeline import codebook as cb
from prism_pipeline import schemas
from prism_pipeline.hashing import code_version, sha256_file
from prism_pipeline.metadata_flags.resources import FlagSettings
from prism_pipeline.release import build, writer
from prism_pipeline.release.writer import Staged, commit, discard, stage, without_users, write_release
from prism_pipeline.resources import LazyTable, PrismPaths
from prism_pipeline.sampling.balanced import user_flags_of_tables
from prism_pipeline.sampling.resources import SamplingSettings
from prism_pipeline.validation import table_schema

GROUP = "release"
OWNERS = ["team:prism-data"]
VERSION = code_version(sys.modules[__name__], build, writer)  # a rule change marks the release unsynced


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


def _carry(out_dir: Path, name: str, recorded: tuple[str, int] | None, gone: set[str]
           ) -> tuple[str | None, Staged | None]:
    """One release file before a removal: its sha256 (for the ledger; None when absent) and,
    when it is exactly what this asset last wrote (``recorded``: sha256 and rows, else None),
    the file staged without the lines of the ``gone`` participants. One thread per file, so
    one file's read, hashes and write overlap another's (they release the GIL)."""
    path = out_dir / name
    if not path.exists():
        return None, None
    if recorded is None:
        return sha256_file(path), None
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if sha != recorded[0]:
        return sha, None
    return sha, stage(out_dir, name, without_users(data, recorded[1], gone))


def _survey_user_ids(data: bytes) -> list[str]:
    """user_id of every line of a survey.jsonl this asset wrote (its first key, SPEC §1.3)."""
    ids = [m.decode("utf-8") for m in _SURVEY_USER.findall(data)]
    if len(ids) != data.count(b"\n"):
        raise ValueError("survey.jsonl: a line does not start with its user_id")
    return ids


_SURVEY_USER = re.compile(rb'^\{"user_id": "([^"\\]*)"', re.M)
CARRIED_FILES = ("conversations.jsonl", "utterances.jsonl", "metadata.jsonl")
# What those files are built from: if any was materialised after the release was written, the
# release is rebuilt, never carried forward.
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

    written, before, mode = None, {}, "rebuilt"
    if erasure.empty:
        records = survey_records()
    else:
        # A removal: the release before it is read once, a thread per file, while the survey is
        # built. Its sha256 goes to the ledger; if it is what this asset last wrote and nothing
        # it is built from changed since, the survey is rebuilt (its REP flags may change) and
        # the other files are carried forward without the lines of the participants no longer
        # in the survey (removal/redact.py), else everything is rebuilt.
        recorded = _recorded_release(context.instance)
        survey_path = out / "survey.jsonl"
        previous = survey_path.read_bytes() if survey_path.exists() else None
        before["survey.jsonl"] = hashlib.sha256(previous).hexdigest() if previous is not None else None
        if recorded is not None and before["survey.jsonl"] != recorded["survey.jsonl"][0]:
            recorded = None
        gone = set(_survey_user_ids(previous)) - set(survey_input["user_id"]) if recorded else set()
        staged: list[Staged | None] = []
        carrying = {}
        try:
            with ThreadPoolExecutor(max_workers=len(CARRIED_FILES)) as pool:
                carrying = {f: pool.submit(_carry, out, f, recorded[f] if recorded else None, gone)
                            for f in CARRIED_FILES}
                records = survey_records()
                if recorded is not None:
                    staged.append(stage(out, "survey.jsonl", records))
        except BaseException:  # every thread has ended here (the pool waits for them)
            discard(staged + [f.result()[1] for f in carrying.values() if f.exception() is None])
            raise
        for f, future in carrying.items():
            if future.exception() is None:
                before[f], carried = future.result()
                staged.append(carried)
        errors = [future.exception() for future in carrying.values() if future.exception() is not None]
        if errors:
            discard(staged)
            raise errors[0]
        if recorded is not None and None not in staged:
            mode = "carried forward without removed participants"
            written = commit(staged)
        else:
            discard(staged)
    if written is None:
        files = build.release_records(records, build.conversations_release(conversations_input, balanced_subset),
                                      conversation_history.load(),
                                      build.utterances_release(utterances.load(), balanced_subset),
                                      metadata_table.load())
        written = write_release(out, files)
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
