"""PRISM's metadata table: its ids, then the engine's flag columns (SPEC §1.6, §2.2–§2.4).

No Dagster import.
"""

from __future__ import annotations

import pandas as pd

from prism_pipeline.core.flags.table import metadata_flags
from prism_pipeline.prism import codebook as cb

ID_COLUMNS = list(cb.METADATA_COLUMNS[:5])  # column_id and the four ids


def metadata_frame(text_instances: pd.DataFrame, flags: pd.DataFrame, review: pd.DataFrame) -> pd.DataFrame:
    """The release-shaped metadata table: codebook.METADATA_COLUMNS with ``moderation_flag``
    flattened, one row per text instance in canonical order."""
    ids = text_instances[ID_COLUMNS].reset_index(drop=True)
    return pd.concat([ids, metadata_flags(text_instances, flags, review, cb.TEXT_KINDS)], axis=1)
