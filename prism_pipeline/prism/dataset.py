"""PRISM as the engine sees it (``core/dataset.py``): files, text kinds, stored tables, release.

Registered as the ``prism`` entry point of ``prism_pipeline.datasets`` (``pyproject.toml``); the
default dataset of the CLI. Plain data: importing it loads no Dagster and no pandas.
"""

from __future__ import annotations

from prism_pipeline.core.dataset import RAW, REFERENCE, STATE, Card, Dataset, SourceFile, TextKinds
from prism_pipeline.core.locations import REPO_ROOT

# The codebook's text blocks (SPEC §2.1; codebook.py takes them from here) and release files.
TEXT_KINDS = TextKinds(
    column="column_id",
    all=("system_string", "self_description", "open_feedback", "user_prompt", "model_response"),
    human=("system_string", "self_description", "open_feedback", "user_prompt"),
)
RELEASE_FILES = ("survey.jsonl", "conversations.jsonl", "utterances.jsonl", "metadata.jsonl")

DATASET = Dataset(
    name="prism",
    title="PRISM",
    env_prefix="PRISM",
    definitions_module="prism_pipeline.prism.definitions",
    default_dirs={"raw": REPO_ROOT / "data" / "raw", "output": REPO_ROOT / "data" / "release",
                  "state": REPO_ROOT / "data" / "state", "reference": REPO_ROOT / "data" / "reference"},
    source_files=(
        SourceFile("survey_jsonl", RAW, "survey.jsonl", "raw_files",
                   "The published survey.jsonl (SPEC §1.3). Required.", required=True),
        SourceFile("conversations_jsonl", RAW, "conversations.jsonl", "raw_files",
                   "The published conversations.jsonl (SPEC §1.4). Required.", required=True),
        SourceFile("utterances_jsonl", RAW, "utterances.jsonl", "raw_files",
                   "A published utterances.jsonl (SPEC §1.5), compared with the derived table. Optional."),
        SourceFile("metadata_jsonl", RAW, "metadata.jsonl", "raw_files",
                   "A published metadata.jsonl (SPEC §1.6): its frozen moderation results. Optional."),
        SourceFile("census_tables", REFERENCE, "census", "reference_files",
                   "ONS 2021 and ACS 2022 census tables with MANIFEST.csv (SPEC §4.1, §6); version over every file."),
        SourceFile("pii_manual_review_csv", REFERENCE, "pii_manual_review.csv", "reference_files",
                   "The versioned manual PII review (SPEC §2.3), hashes only."),
        SourceFile("removal_requests_csv", STATE, "removal_requests.csv", "reference_files",
                   "Removal requests (SPEC §7.7), salted hashes only, in the private state dir."),
    ),
    text_kinds=TEXT_KINDS,
    release_files=RELEASE_FILES,
    release_assets={"survey_release": "survey.jsonl", "conversations_release": "conversations.jsonl",
                    "utterances_release": "utterances.jsonl", "metadata_release": "metadata.jsonl"},
    # Order matters: the survey and the conversations come first because later tables are matched
    # through them; then the texts, so the hashes of texts only removed participants had are known
    # early (the erasure purges the flag cache meanwhile).
    stored_tables=(
        ("survey_input", "user_id"),
        ("conversations_input", "user_id"),
        ("text_instances", "user_id"),
        ("text_flags", "aligned:text_instances"),  # one row per text instance, same order
        ("conversation_history", "conversation_id"),
        ("utterances_input", "user_id"),
        ("balanced_subset", "conversation_id"),
        ("utterances", "user_id"),
        ("interactions", "user_id"),
        ("metadata_table", "user_id"),
        ("published_moderation", "user_id"),
        ("uk_rep_sample", "user_id"),
        ("us_rep_sample", "user_id"),
        ("census_weights", "user_id"),
        ("pii_manual_review", "text_sha256"),  # reviews of texts only removed participants had
        ("pii_review_evidence", "text_sha256"),  # the filth behind flags of texts only they had
    ),
    users_table="survey_input",
    conversations_table="conversations_input",
    release_rows={"survey_input": "survey.jsonl", "conversations_input": "conversations.jsonl",
                  "utterances": "utterances.jsonl", "metadata_table": "metadata.jsonl"},
    # user_id, conversation_id, utterance_id, interaction_id and the wide table's utterance_id_a...
    id_columns=r"(user|conversation|utterance|interaction)_id(_[a-z])?",
    # The removal run: the requests, the erasure (which redacts every stored table), the two
    # things that are not separable by participant (the REP draws and the census weights) and
    # the release; everything else is redacted in place, not recomputed.
    removal_run_assets=("removal_requests", "erasure", "uk_rep_sample", "us_rep_sample", "census_weights",
                        "survey_release", "conversations_release", "utterances_release", "metadata_release",
                        "removal_ledger"),
    leaf_assets=("interactions", "census_weights", "utterances_input", "pii_review_evidence"),
    read_user_ids="prism_pipeline.prism.inputs.footprint:read_user_ids",
    raw_footprint="prism_pipeline.prism.inputs.footprint:removed_footprint",
    after_erasure="prism_pipeline.prism.inputs.footprint:forget_registry_ids",
    generate="prism_pipeline_synthetic.generator:generate",
    settings={"sampling_config": ("sampling_settings", "SamplingSettings: seeds, N and modes of the samples "
                                                       "(SPEC §3, §4).")},
    extra_env={"flag_shards": "PRISM_FLAG_SHARDS"},
    card=Card(
        pretty_name="The PRISM Alignment Dataset",
        summary="PRISM maps the characteristics and stated preferences of 1,500 participants from a detailed "
                "survey onto their real-time conversations with 21 LLMs and their fine-grained ratings of the "
                "responses (8,011 conversations, 68,371 scored responses).",
        licence="cc-by-4.0",
        licence_notes=("Human-written texts (survey answers, prompts, feedback): CC-BY-4.0.",
                       "Model responses: CC-BY-NC-4.0; use must abide by the original model providers' licences."),
        homepage="https://huggingface.co/datasets/HannahRoseKirk/prism-alignment",
        citation="Kirk et al., The PRISM Alignment Project (2024), https://github.com/HannahKirk/prism-alignment",
    ),
)
