"""The release files, written together and atomically by the engine (``core/release/publish.py``).

One multi-asset, not six independent ones, because the files form one release: they are staged
under temporary names and renamed only when all are complete, with the dataset card
(``README.md``) built from them; none is written if an upstream blocking check failed. A removal
carries ``messages.jsonl``, ``thoughts.jsonl`` and ``metadata.jsonl`` forward without the removed
participants' lines (each line depends on its own participant's rows only) and rebuilds
``ThoughtTrace.jsonl``, ``users.jsonl`` and ``stats.json``.
"""

import sys

import dagster as dg
import pandas as pd

from prism_pipeline.core.flags.moderation.base import FLAT_COLUMNS
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
from prism_pipeline.core.resources import DatasetPaths, InputSettings, LazyTable
from prism_pipeline.core.validation import table_schema
from prism_pipeline.thoughttrace import layout, schemas
from prism_pipeline.thoughttrace.dataset import DATASET, RELEASE_FILES
from prism_pipeline.thoughttrace.release import build
from prism_pipeline.thoughttrace.tables import derive

GROUP = "release"
PREFIX = list(DATASET.key_prefix)
VERSION = code_version(sys.modules[__name__], build, derive, publish, writer, card)


def _key(name: str) -> list[str]:
    return DATASET.key(name)


# The nested moderation_flag keys, as the engine's flags flatten them (moderation_flag.<key>).
_MODERATION = tuple(c.removeprefix("moderation_flag.") for c in FLAT_COLUMNS)
_STATS_FROM = {"users": ("users", "user_id"), "conversations": ("conversations", "conversation_id"),
               "messages": ("messages", "message_id"), "turns": ("messages", "type"),
               "thoughts": ("thoughts", "thought_index"), "thoughts_by_label": ("thoughts", "label"),
               "models": ("conversations", "model_name")}
LINEAGE = {
    layout.RAW_FILE: column_lineage(layout.CONVERSATION_KEYS, _key("conversations"), overrides={
        "id": (_key("conversations"), "conversation_id"), "survey_answers": (_key("survey_answers"), "age"),
        "messages": (_key("messages"), "content")}),
    "messages.jsonl": column_lineage(layout.MESSAGES_COLUMNS, _key("messages")),
    "thoughts.jsonl": column_lineage(layout.THOUGHTS_COLUMNS, _key("thoughts")),
    "users.jsonl": column_lineage(layout.USERS_COLUMNS, _key("users")),
    "metadata.jsonl": column_lineage(layout.METADATA_COLUMNS, _key("metadata_table"), {"moderation_flag": _MODERATION}),
    "stats.json": column_lineage(layout.STATS_KEYS, _key("users"), overrides={
        key: (_key(asset), column) for key, (asset, column) in _STATS_FROM.items()}),
}


def _spec(name: str, file: str, description: str, deps: list[str], model=None) -> dg.AssetSpec:
    metadata = {"release_file": file, "dagster/column_lineage": LINEAGE[file]}
    if model is not None:
        metadata["dagster/column_schema"] = table_schema(model)
    # Every release file also reads the erasure: when it applied a removal, the release is
    # carried forward without the removed participants' lines instead of rebuilt.
    return dg.AssetSpec(_key(name), group_name=GROUP, owners=list(DATASET.owners), kinds={"jsonl"},
                        code_version=VERSION, description=description,
                        deps=[dg.AssetKey(_key(d)) for d in (*deps, "erasure")], metadata=metadata)


RELEASE_SPECS = [
    _spec("thoughttrace_release", layout.RAW_FILE,
          "Released ThoughtTrace.jsonl: the input records in the published key order, message texts normalised, "
          "removed participants gone.", ["conversations", "survey_answers", "messages", "thoughts"]),
    _spec("messages_release", "messages.jsonl", "Released messages.jsonl: one line per message.", ["messages"],
          schemas.MessagesSchema),
    _spec("thoughts_release", "thoughts.jsonl", "Released thoughts.jsonl: one line per reason or reaction.",
          ["thoughts"], schemas.ThoughtsSchema),
    _spec("users_release", "users.jsonl", "Released users.jsonl: one line per participant.", ["users"],
          schemas.UsersSchema),
    _spec("metadata_release", "metadata.jsonl", "Released metadata.jsonl: one line per text with its flags, in "
          "canonical order.", ["metadata_table"], schemas.MetadataSchema),
    _spec("stats_release", "stats.json", "Released stats.json: users, conversations, messages, turns (user messages), "
          "thoughts, thoughts by label, models.", ["conversations", "messages", "thoughts", "users"]),
]
assert [s.metadata["release_file"] for s in RELEASE_SPECS] == list(RELEASE_FILES)

# A removal carries these forward without the removed participants' lines; what they are built
# from: if any was materialised after the release was written, the release is rebuilt instead.
CARRY = publish.Carry(carried=("messages.jsonl", "thoughts.jsonl", "metadata.jsonl"), users_file="users.jsonl")
CARRIED_FROM = ("messages", "thoughts", "metadata_table")
# What the dataset card says was checked (inputs/assets.py, tables/assets.py, metadata/assets.py,
# schemas.py; the engine's flag and removal checks).
CHECKED = [
    "every line of ThoughtTrace.jsonl against the published layout (keys, JSON types, one thought list per "
    "message), by line and field (prism_pipeline/thoughttrace/inputs/parse.py)",
    "ids user{N}_task{K}_conversation{M} and unique; messages alternate user/assistant from user; reasons only on "
    "user messages and reactions only on assistant ones; labels from the 7 reason and 5 reaction vocabularies; "
    "ISO 8601 times, created_at <= updated_at; survey answers are strings (frequency 1-5, age digits) and the "
    "same on all of a user's conversations (Pandera models, prism_pipeline/thoughttrace/schemas.py)",
    "message texts normalised as PRISM's (trimmed; empty or 'None' -> 'EMPTY STRING'); thoughts, task texts and "
    "survey answers kept as written",
    "derived tables (users, text instances, metadata) against their models; one metadata row per text",
    "after every removal, a scan of the release, the private state and the run history for the removed "
    "participants' ids and text hashes",
]


@dg.multi_asset(
    specs=RELEASE_SPECS,
    ins={**{name: dg.AssetIn(_key(name)) for name in ("conversations", "survey_answers", "users", "erasure")},
         # The text tables are read only when a file is rebuilt from them.
         **{name: dg.AssetIn(_key(name), input_manager_key="lazy_state")
            for name in ("messages", "thoughts", "metadata_table")}},
    can_subset=False,
)
def release_files(context: dg.AssetExecutionContext, paths: DatasetPaths, input_settings: InputSettings,
                  flag_settings: FlagSettings, conversations: pd.DataFrame, survey_answers: pd.DataFrame,
                  users: pd.DataFrame, messages: LazyTable, thoughts: LazyTable, metadata_table: LazyTable,
                  erasure: pd.DataFrame):
    tables: dict[str, pd.DataFrame] = {}

    def table(name: str, lazy: LazyTable) -> pd.DataFrame:
        if name not in tables:
            tables[name] = lazy.load()
        return tables[name]

    def fresh() -> dict:
        msgs, ths = table("messages", messages), table("thoughts", thoughts)
        return build.fresh_records(conversations, survey_answers, msgs, ths, users,
                                   derive.stats(conversations, msgs, ths, users))

    def rebuild(records: dict) -> dict:
        return build.release_records(records, table("messages", messages), table("thoughts", thoughts),
                                     table("metadata_table", metadata_table))

    removing = not erasure.empty
    published = publish.publish_release(
        paths.output, RELEASE_FILES, fresh, rebuild, removing=removing,
        recorded=recorded_release(context.instance, DATASET, CARRIED_FROM) if removing else None,
        kept_user_ids=set(users["user_id"]), carry=CARRY,
        before_commit=no_removal_arrived(DATASET, paths.state),
        card=card_writer(context.instance, DATASET, paths.state, CHECKED))
    context.log.info(f"release {published.mode} in {paths.output}")
    config = {"inputs": input_settings.model_dump(), "flags": flag_settings.model_dump()}
    yield from release_results(DATASET, published, removing, {"config": dg.MetadataValue.json(config)})
