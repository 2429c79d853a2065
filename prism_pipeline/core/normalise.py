"""Text normalisation as the PRISM reference did it (SPEC §1.2 ``process_text``), for any dataset's
conversation texts: a null text, a text that is empty after trimming, or the literal ``"None"``
becomes the sentinel ``"EMPTY STRING"``; any other text is trimmed (Python's ``str.strip``: every
Unicode whitespace character, including U+2028/U+2029 and NBSP). Vectorised; no Dagster import.
"""

from __future__ import annotations

import pandas as pd

EMPTY_STRING = "EMPTY STRING"  # the sentinel for an empty prompt or response (SPEC §1.2)


def process_text_and_mask(texts: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(normalised texts, mask of the texts that had none: null, empty or "None")."""
    trimmed = texts.astype("str").str.strip()
    empty = texts.isna() | trimmed.eq("") | trimmed.eq("None")
    return trimmed.mask(empty, EMPTY_STRING).astype("str"), empty


def process_text(texts: pd.Series) -> pd.Series:
    """SPEC §1.2 ``process_text``, vectorised: trim; null, empty or ``"None"`` → ``"EMPTY STRING"``.
    A text equal to ``"None"`` only after trimming is treated as ``"None"`` too."""
    return process_text_and_mask(texts)[0]
