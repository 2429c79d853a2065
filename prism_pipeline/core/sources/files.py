"""Where every source file lives and which settings are observed: the table behind the source
assets (``sources/assets.py``), the sensors and the CLI's stamp. No Dagster import."""

from __future__ import annotations

from prism_pipeline.core.flags.manual_review import REVIEW_FILENAME
from prism_pipeline.core.removal.requests import REQUESTS_FILENAME
from prism_pipeline.prism.inputs.parse import CONVERSATIONS, SURVEY, UTTERANCES
from prism_pipeline.prism.sampling.census import CENSUS_DIRNAME

RAW, REFERENCE, STATE = "raw", "reference", "state"

# asset key -> (folder, name, group, description)
SOURCE_FILES = {
    "survey_jsonl": (RAW, SURVEY.file_name, "raw_files", "The published survey.jsonl (SPEC §1.3). Required."),
    "conversations_jsonl": (RAW, CONVERSATIONS.file_name, "raw_files",
                            "The published conversations.jsonl (SPEC §1.4). Required."),
    "utterances_jsonl": (RAW, UTTERANCES.file_name, "raw_files",
                         "A published utterances.jsonl (SPEC §1.5), compared with the derived table. Optional."),
    "metadata_jsonl": (RAW, "metadata.jsonl", "raw_files",
                       "A published metadata.jsonl (SPEC §1.6): its frozen moderation results. Optional."),
    "census_tables": (REFERENCE, CENSUS_DIRNAME, "reference_files",
                      "ONS 2021 and ACS 2022 census tables with MANIFEST.csv (SPEC §4.1, §6); version over every file."),
    "pii_manual_review_csv": (REFERENCE, REVIEW_FILENAME, "reference_files",
                              "The versioned manual PII review (SPEC §2.3), hashes only."),
    "removal_requests_csv": (STATE, REQUESTS_FILENAME, "reference_files",
                             "Removal requests (SPEC §7.7), salted hashes only, in the private state dir."),
}
# asset key -> (settings resource, description)
SETTINGS = {
    "input_config": ("input_settings", "InputSettings: how conversation texts are taken (strict_texts)."),
    "sampling_config": ("sampling_settings", "SamplingSettings: seeds, N and modes of the samples (SPEC §3, §4)."),
    "flag_config": ("flag_settings", "FlagSettings fields that change results: moderation backend, threshold, "
                                     "model, frozen results (not workers, chunks or shards)."),
}


def source_path(prism_paths, key: str):
    """The file (or folder) behind a source asset."""
    where, name, _, _ = SOURCE_FILES[key]
    return folder(prism_paths, where) / name


def folder(prism_paths, where: str):
    return {RAW: prism_paths.raw, REFERENCE: prism_paths.reference, STATE: prism_paths.state}[where]
