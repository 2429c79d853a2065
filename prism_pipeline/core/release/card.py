"""The dataset card: a ``README.md`` beside every release, in the Hugging Face dataset-card form.

A YAML header (licence, pretty name, one config per release file) and a body built from the
release itself: rows, bytes and sha256 of each file, the licences of the human and the model
texts, the data version (sha256) of every raw and reference file the release was built from,
what the pipeline checked and how many texts it flagged, and how many participants were
removed at their request since the first release, never who. Deterministic: the same release
gives the same bytes (no dates: the ledger and the audit report keep those).

No Dagster import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from prism_pipeline.core.dataset import Dataset
from prism_pipeline.core.release.writer import WrittenFile

METADATA_FILE = "metadata.jsonl"
# Byte patterns of one metadata.jsonl line's flags, as the writer encodes them; inside a JSON
# string a quote is always escaped, so free text cannot fake them.
FLAG_PATTERNS = {"pii_flag": b'"pii_flag": true', "not_english": b'"en_flag": false',
                 "moderation_flagged": b'"flagged": true'}


def flag_counts(metadata_path: Path) -> dict[str, int]:
    """Texts flagged in a written metadata.jsonl: PII, not English, moderation."""
    data = Path(metadata_path).read_bytes()
    return {name: data.count(pattern) for name, pattern in FLAG_PATTERNS.items()}


def _config_name(file: str) -> str:
    return file.rsplit(".", 1)[0].lower()


def dataset_card(dataset: Dataset, written: Mapping[str, WrittenFile], sources: Mapping[str, str | None],
                 removed_participants: int, checked: list[str], flags: Mapping[str, int] | None) -> str:
    """The card's text. ``written``: the release files as staged; ``sources``: source asset key
    -> data version (sha256, "absent", or None when never observed); ``checked``: one line per
    kind of check the pipeline ran; ``flags``: :func:`flag_counts` of the metadata file."""
    card = dataset.card
    files = [f for f in dataset.release_files if f in written]
    lines = ["---", f"pretty_name: {json.dumps(card.pretty_name)}", f"license: {card.licence}", "configs:"]
    for file in files:
        lines += [f"- config_name: {_config_name(file)}", f"  data_files: {json.dumps(file)}"]
    lines += ["---", "", f"# {card.pretty_name}", "", card.summary, "",
              f"Rebuilt, checked and flagged by prism-pipeline (dataset `{dataset.name}`) from the published files. "
              f"Homepage: {card.homepage}", ""]
    lines += ["## Files", "", "| file | rows | bytes | sha256 |", "|---|---|---|---|"]
    lines += [f"| {f} | {written[f].rows:,} | {written[f].bytes:,} | `{written[f].sha256}` |" for f in files]
    lines += ["", "## Licences", ""] + [f"- {note}" for note in card.licence_notes]
    lines += ["", "## Built from", "", "Data version (sha256) of every raw and reference file this release was "
              "built from:", "", "| source | file | data version |", "|---|---|---|"]
    for source in dataset.source_files:
        version = sources.get(source.key)
        shown = f"`{version}`" if version and version != "absent" else (version or "not observed")
        lines.append(f"| {source.key} | {source.folder}/{source.name} | {shown} |")
    lines += ["", "## What the pipeline checked and flagged", ""] + [f"- {line}" for line in checked]
    if flags is not None:
        lines += ["", "| flag | texts |", "|---|---|",
                  f"| PII found by scrubadub (pii_flag) | {flags['pii_flag']:,} |",
                  f"| not English by langid (en_flag false) | {flags['not_english']:,} |",
                  f"| moderation flagged (moderation_flag.flagged) | {flags['moderation_flagged']:,} |"]
    lines += ["", "## Removals", "",
              f"{removed_participants} participant{'s' if removed_participants != 1 else ''} removed at their "
              "request since the first release. Their rows are gone from every file; nobody else's ids changed. "
              "Who asked is never recorded here.", ""]
    if card.citation:
        lines += ["## Citation", "", card.citation, ""]
    return "\n".join(lines)
