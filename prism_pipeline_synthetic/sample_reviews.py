"""The committed synthetic sample's PII review rows (``data/reference/pii_manual_review.csv``).

Not part of the pipeline: the sample in ``data/raw`` is generated, so its flagged human texts
get rows that apply the reference's outcome, marked as such (module comment below).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from prism_pipeline.core.flags.manual_review import (
    REVIEW_FILENAME,
    load_review,
    new_review_rows,
    orphan_reviews,
    pending_reviews,
    write_review,
)
from prism_pipeline.core.flags.pii import ScrubadubDetector
from prism_pipeline.core.hashing import hash_texts
from prism_pipeline.core.locations import REPO_ROOT
from prism_pipeline.prism.codebook import TEXT_KINDS as KINDS
from prism_pipeline.prism.conversation_tables.derive import derive_utterances
from prism_pipeline.prism.inputs.parse import read_conversations, read_survey
from prism_pipeline.prism.metadata.text_instances import build_text_instances

DEFAULT_REVIEW_PATH = REPO_ROOT / "data" / "reference" / REVIEW_FILENAME


# ---------------------------------------------------------------------------------------
# The committed synthetic sample (data/raw/): its flagged human texts carry the reference's
# outcome (SPEC §2.3: none was real PII) so a sample run shows the released shape. These rows
# are marked reviewer "synthetic-sample"; they are not a human review, and they match no real
# text (the key is the text hash). After regenerating data/raw/, re-sync with
#   .venv/bin/python -c "from prism_pipeline_synthetic.sample_reviews import *; \
#       print(sync_synthetic_sample('data/raw', DEFAULT_REVIEW_PATH, '2026-11-22'))"
# ---------------------------------------------------------------------------------------
SYNTHETIC_REVIEWER = "synthetic-sample"
SYNTHETIC_NOTE = "synthetic sample; reference outcome applied (SPEC 2.3), not a human review"


def sample_flags(raw_dir: str | Path) -> pd.DataFrame:
    """Human text instances of a release directory with their hash and ``pii_flag``."""
    raw_dir = Path(raw_dir)
    conversations, history = read_conversations(raw_dir / "conversations.jsonl")
    instances = build_text_instances(read_survey(raw_dir / "survey.jsonl"), conversations,
                                     derive_utterances(conversations, history))
    human = instances.loc[instances["column_id"].isin(KINDS.human)].copy()
    human["text_sha256"] = hash_texts(human["text"])
    human["pii_flag"] = [r["pii_flag"] for r in ScrubadubDetector().detect(human["text"].tolist())]
    return human.drop(columns="text")


def sync_synthetic_sample(raw_dir: str | Path, path: str | Path, reviewed_on: str) -> dict[str, int]:
    """Make the review table cover the sample's flagged human texts: add synthetic rows for
    pending keys, drop synthetic rows that match nothing. Human reviews are never touched."""
    flags = sample_flags(raw_dir)
    review = load_review(path, KINDS)
    stale = orphan_reviews(flags, review, KINDS)
    stale = stale.loc[stale["reviewer"] == SYNTHETIC_REVIEWER]
    kept = review.drop(index=stale.index)
    added = new_review_rows(pending_reviews(flags, kept, KINDS), False, reviewed_on, SYNTHETIC_REVIEWER, KINDS,
                            SYNTHETIC_NOTE)
    write_review(pd.concat([kept, added], ignore_index=True), path, KINDS)
    return {"added": len(added), "removed": len(stale)}

