"""What a removal takes away, read from the raw files (SPEC §7.7).

The removal run learns a participant's ids and text hashes from the stored tables while it
redacts them (``removal/redact.py``); this module reads them from the unfiltered raw files
instead, for the cases where the stored state cannot tell: the leak check run on its own or in
``full_release`` (every request), and an erasure with nothing stored yet. In memory only, never
stored: the ids and text hashes here are exactly what the leak scan looks for.

No Dagster import.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from prism_pipeline.core.atomic import fsync_dir
from prism_pipeline.core.flags import manual_review
from prism_pipeline.core.flags.cache import FlagCache
from prism_pipeline.core.flags.runner import hash_texts
from prism_pipeline.core.removal.requests import removed_mask, user_hash
from prism_pipeline.prism import codebook
from prism_pipeline.prism.conversation_tables.derive import scored_mask
from prism_pipeline.prism.conversation_tables.ids import interaction_ids, utterance_ids
from prism_pipeline.prism.inputs import parse

RELEASE_FILES = codebook.RELEASE_FILES


@dataclass
class Footprint:
    """The removed participants' ids, the hashes of texts only they had, and row counts per
    request and release file."""

    ids: set[str] = field(default_factory=set)
    removed_only_hashes: set[str] = field(default_factory=set)
    rows_by_request: dict[str, dict[str, int]] = field(default_factory=dict)


def _texts(survey: pd.DataFrame, conversations: pd.DataFrame, history: pd.DataFrame) -> pd.Series:
    return pd.concat([survey["system_string"], survey["self_description"], conversations["open_feedback"],
                      history["content"]], ignore_index=True)


def removed_footprint(raw_dir: Path, requests: pd.DataFrame, salt: bytes) -> Footprint:
    """Read the raw survey and conversations and describe what the requests remove."""
    if requests.empty:
        return Footprint()
    survey = parse.read_survey(raw_dir / parse.SURVEY.file_name).reset_index(drop=True)
    conversations, history = parse.read_conversations(raw_dir / parse.CONVERSATIONS.file_name)
    conversations, history = conversations.reset_index(drop=True), history.reset_index(drop=True)

    gone_users = removed_mask(survey["user_id"], requests, salt)
    gone_conv = removed_mask(conversations["user_id"], requests, salt)
    gone_items = history["conversation_id"].isin(conversations.loc[gone_conv, "conversation_id"])
    scored = scored_mask(history)
    # Reference ids of the removed rows (what a release built before the removal carried).
    ut = pd.Series(utterance_ids(int(scored.sum())), index=history.index[scored])
    it = interaction_ids(history.loc[scored, "conversation_id"], history.loc[scored, "turn"])
    gone_scored = gone_items[scored]
    ids = (set(survey.loc[gone_users, "user_id"]) | set(conversations.loc[gone_conv, "conversation_id"])
           | set(ut[gone_scored.to_numpy()]) | set(it[gone_scored.to_numpy()]))

    removed_texts = _texts(survey[gone_users], conversations[gone_conv], history[gone_items])
    kept_texts = _texts(survey[~gone_users], conversations[~gone_conv], history[~gone_items])
    removed_only = set(hash_texts(removed_texts).dropna()) - set(hash_texts(kept_texts).dropna())

    owner = user_hash(survey["user_id"], salt)
    request_of = dict(zip(requests["user_hash"], requests["request_id"]))
    rows: dict[str, dict[str, int]] = {}
    conv_owner = user_hash(conversations["user_id"], salt)
    item_conv = history["conversation_id"].map(pd.Series(conv_owner.to_numpy(), index=conversations["conversation_id"]))
    for h in owner[gone_users]:
        n_conv = int((conv_owner == h).sum())
        mine = (item_conv == h) & scored
        n_utt = int(mine.sum())
        n_int = int(history.loc[mine, ["conversation_id", "turn"]].drop_duplicates().shape[0])
        rows[request_of[h]] = {"survey.jsonl": 1, "conversations.jsonl": n_conv, "utterances.jsonl": n_utt,
                               "metadata.jsonl": 2 + n_conv + n_int + n_utt}
    return Footprint(ids=ids, removed_only_hashes=removed_only, rows_by_request=rows)


def purge_reviews(review_path: Path, hashes: set[str]) -> int:
    """Drop manual-review rows of texts only removed participants had (atomic rewrite)."""
    if not hashes or not review_path.exists():
        return 0
    review = manual_review.load_review(review_path)
    hit = review["text_sha256"].isin(hashes)
    if not hit.any():
        return 0
    tmp = review_path.with_name(f".{review_path.name}.tmp-{os.getpid()}")
    manual_review.write_review(review.loc[~hit].reset_index(drop=True), tmp)
    os.replace(tmp, review_path)
    return int(hit.sum())


def purge_flag_cache(path: Path, hashes: set[str]) -> int:
    """Delete every flag-cache entry of these text hashes so that no byte of them is left in
    the cache's files (SPEC §7.7); returns rows deleted. The deletion zeroes the deleted cells
    (``secure_delete``), but a b-tree rebalance can leave a moved copy of a cell in some page's
    free space, so the file is then rebuilt from the live rows (:func:`compact_sqlite`).
    Measured alternative: scanning the file and rebuilding only on a hit costs as much on the
    120 MB PRISM cache (the scan competes with the redaction for the GIL), for a weaker rule."""
    if not hashes or not path.exists():
        return 0
    with FlagCache(path) as cache:
        deleted = cache.delete_hashes(hashes)
    if deleted:
        compact_sqlite(path)
    return deleted


def compact_sqlite(path: Path) -> None:
    """Make deleted rows unrecoverable from the file: write a compact copy of the live rows
    (``VACUUM INTO``, no freed page, no journal or WAL of the old pages) and rename it over the
    original. Twice as fast as an in-place ``VACUUM`` of a WAL database, which writes every page
    to the WAL and then again to the file (0.3 s against 0.7 s for the 120 MB PRISM flag cache).
    Closing the only connection checkpoints and deletes the ``-wal``/``-shm`` files first; the
    database must not be open elsewhere meanwhile (the removal run is the only writer)."""
    if not path.exists():
        return
    tmp = path.with_name(f".{path.name}.compact-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(path, timeout=60)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM INTO ?", (str(tmp),))
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    conn.close()
    try:
        os.chmod(tmp, path.stat().st_mode & 0o777)  # the copy keeps the original's permissions
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


# Footprints of the removals applied in this process, by run id. The erasure step hands the
# removed ids and text hashes to the leak check of the same run in memory, because they are
# exactly what the check looks for and so may never be written anywhere (not to the state dir,
# not to the event log). The removal job runs in one process (in_process_executor); a check run
# on its own, or in another process, recomputes them from the raw files instead.
RUN_FOOTPRINTS: dict[str, Footprint] = {}
