"""ThoughtTrace as the engine sees it (``core/dataset.py``): files, text kinds, stored tables, release.

Registered as the ``thoughttrace`` entry point of ``prism_pipeline.datasets`` (``pyproject.toml``);
``prism-pipeline --dataset thoughttrace``. Plain data: importing it loads no Dagster and no pandas.

Its assets are keyed under ``thoughttrace/`` (``key_prefix``): PRISM's code location defines the
engine's assets (``erasure``, ``text_flags``, ``removal_requests_csv``, ...) under the same names,
and ``make ui`` serves both locations on one instance.
"""

from __future__ import annotations

from prism_pipeline.core.dataset import RAW, REFERENCE, STATE, Card, Dataset, SourceFile, TextKinds
from prism_pipeline.core.locations import REPO_ROOT
from prism_pipeline.thoughttrace.layout import RAW_FILE

# A text's kind (the metadata table's `text_kind`), in the canonical order of a conversation's
# texts; every kind but the models' answers is written by the participant (the PII review's scope).
TEXT_KINDS = TextKinds(
    column="text_kind",
    all=("user_message", "assistant_message", "reason", "reaction", "task_summary", "task_expectation"),
    human=("user_message", "reason", "reaction", "task_summary", "task_expectation"),
)
RELEASE_FILES = (RAW_FILE, "messages.jsonl", "thoughts.jsonl", "users.jsonl", "metadata.jsonl", "stats.json")
RELEASE_ASSETS = {"thoughttrace_release": RAW_FILE, "messages_release": "messages.jsonl",
                  "thoughts_release": "thoughts.jsonl", "users_release": "users.jsonl",
                  "metadata_release": "metadata.jsonl", "stats_release": "stats.json"}
DATA = REPO_ROOT / "data" / "thoughttrace"

DATASET = Dataset(
    name="thoughttrace",
    title="ThoughtTrace",
    env_prefix="THOUGHTTRACE",
    definitions_module="prism_pipeline.thoughttrace.definitions",
    default_dirs={"raw": DATA / "raw", "output": DATA / "release", "state": DATA / "state",
                  "reference": DATA / "reference"},
    source_files=(
        SourceFile("thoughttrace_jsonl", RAW, RAW_FILE, "raw_files",
                   "The published ThoughtTrace.jsonl: one conversation per line, with its messages, the users' "
                   "reasons and reactions, task texts and survey answers. Required.", required=True),
        SourceFile("pii_manual_review_csv", REFERENCE, "pii_manual_review.csv", "reference_files",
                   "The versioned manual PII review, hashes only."),
        SourceFile("removal_requests_csv", STATE, "removal_requests.csv", "reference_files",
                   "Removal requests, salted hashes only, in the private state dir."),
    ),
    text_kinds=TEXT_KINDS,
    release_files=RELEASE_FILES,
    release_assets=RELEASE_ASSETS,
    # Order matters: the conversations come first (they give each conversation_id its user_id);
    # then the texts, so the hashes of texts only removed participants had are known early.
    stored_tables=(
        ("conversations", "user_id"),
        ("survey_answers", "user_id"),
        ("users", "user_id"),
        ("messages", "user_id"),
        ("thoughts", "user_id"),
        ("text_instances", "user_id"),
        ("text_flags", "aligned:text_instances"),  # one row per text instance, same order
        ("metadata_table", "user_id"),
        ("pii_manual_review", "text_sha256"),  # reviews of texts only removed participants had
        ("pii_review_evidence", "text_sha256"),  # the filth behind flags of texts only they had
    ),
    # Every participant has a conversation: the conversations list them all.
    users_table="conversations",
    conversations_table="conversations",
    release_rows={"conversations": RAW_FILE, "messages": "messages.jsonl", "thoughts": "thoughts.jsonl",
                  "users": "users.jsonl", "metadata_table": "metadata.jsonl"},
    id_columns=r"(user|conversation)_id",
    # Every stored table is separable by participant (nothing is drawn or weighted across them):
    # the erasure redacts them all and the release is carried forward or rebuilt from them.
    removal_run_assets=("removal_requests", "erasure", *RELEASE_ASSETS, "removal_ledger"),
    leaf_assets=("pii_review_evidence",),
    read_user_ids="prism_pipeline.thoughttrace.inputs.footprint:read_user_ids",
    raw_footprint="prism_pipeline.thoughttrace.inputs.footprint:removed_footprint",
    generate="prism_pipeline_synthetic.thoughttrace:generate",
    extra_env={"flag_shards": "THOUGHTTRACE_FLAG_SHARDS"},
    key_prefix=("thoughttrace",),
    card=Card(
        pretty_name="ThoughtTrace",
        summary="ThoughtTrace pairs real multi-turn human-AI conversations with the users' self-reported thoughts: "
                "why they sent each prompt (reasons) and how they reacted to each response (reactions), written "
                "while they chatted and never shown to the model. Published release: 1,058 Prolific participants, "
                "2,155 conversations with 20 language models, 17,058 turns, 10,174 thought annotations.",
        licence="cc-by-4.0",
        licence_notes=(
            "The dataset (conversations, reasons, reactions, task texts, survey answers): CC-BY-4.0, as its Hugging "
            "Face card (SCAI-JHU/ThoughtTrace) states; the official repository's code and notebooks are Apache-2.0.",
            "Model responses: the card gives them no licence of their own, and none is known here. They were written "
            "by 20 commercial and open-weight models whose providers' terms may restrict some uses of their output "
            "(such as training competing models); check those terms before such use.",
        ),
        homepage="https://huggingface.co/datasets/SCAI-JHU/ThoughtTrace",
        citation="ThoughtTrace (arXiv 2605.20087), https://github.com/thoughttrace-project/ThoughtTrace",
    ),
)
