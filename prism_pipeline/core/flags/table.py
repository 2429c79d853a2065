"""The flags table of a dataset's text instances, and the flag columns of its metadata table
(SPEC §2.2-§2.4). No Dagster import.
"""

from __future__ import annotations

import pandas as pd

from prism_pipeline.core.dataset import TextKinds
from prism_pipeline.core.flags import manual_review
from prism_pipeline.core.flags.moderation.base import results_to_frame

_RESULT_KEYS = ("flagged", "categories", "category_scores", "backend", "model")


def assemble_flags(basic: pd.DataFrame, moderated: pd.DataFrame, frozen: pd.Series) -> pd.DataFrame:
    """Per text instance: text_sha256, language_flag, pii_flag and the flattened moderation
    columns with their provenance (``moderation_backend``, ``moderation_model``).

    ``basic``: ``run_detectors`` output for language + PII over every text; ``moderated``: the
    backend's output for the texts without a frozen result; ``frozen``: the frozen result (or
    None) per text. All share the text instances' index.
    """
    results = frozen.copy()
    if len(moderated):  # empty when the published (frozen) results cover every text
        backend_rows = moderated[list(_RESULT_KEYS)]
        fresh = [dict(zip(_RESULT_KEYS, row)) for row in zip(*(backend_rows[k].tolist() for k in _RESULT_KEYS))]
        results.loc[moderated.index] = pd.Series(fresh, index=moderated.index, dtype=object)
    if results.isna().any():
        raise LookupError(f"{int(results.isna().sum())} texts have no moderation result")
    moderation = results_to_frame(results.tolist()).set_axis(basic.index)
    out = pd.DataFrame({
        "text_sha256": basic["text_sha256"],
        "language_flag": basic["language_flag"].astype("str"),
        "pii_flag": basic["pii_flag"].astype(bool),
    }, index=basic.index)
    return pd.concat([out, moderation], axis=1)


def metadata_flags(text_instances: pd.DataFrame, flags: pd.DataFrame, review: pd.DataFrame,
                   kinds: TextKinds) -> pd.DataFrame:
    """The flag columns of a metadata table, one row per text instance (RangeIndex):
    ``pii_flag``, ``pii_manual_flag`` (the review's verdict for reviewed human PII hits, else
    null), ``language_flag``, ``en_flag`` (``language_flag == "en"``) and the flattened
    ``moderation_flag.*`` columns. A dataset's metadata table puts its ids before them, in its
    own column order."""
    flags = flags.reset_index(drop=True)
    keyed = pd.DataFrame({kinds.column: text_instances[kinds.column].reset_index(drop=True),
                          "text_sha256": flags["text_sha256"], "pii_flag": flags["pii_flag"]})
    out = pd.DataFrame({"pii_flag": flags["pii_flag"].astype(bool)})
    out["pii_manual_flag"] = manual_review.pii_manual_flag(keyed, review, kinds)
    out["language_flag"] = flags["language_flag"].astype("str")
    out["en_flag"] = out["language_flag"].eq("en").fillna(False).astype(bool)
    moderation = [c for c in flags.columns if c.startswith("moderation_flag.")]
    out[moderation] = flags[moderation]
    return out


def review_backlog(text_instances: pd.DataFrame, flags: pd.DataFrame, review: pd.DataFrame,
                   kinds: TextKinds) -> dict[str, int]:
    """The manual review's backlog counts (``manual_review.review_summary``); ``text_instances``:
    any table row-aligned with the flags that carries the kind column."""
    keyed = pd.DataFrame({kinds.column: text_instances[kinds.column].to_numpy(),
                          "text_sha256": flags["text_sha256"].to_numpy(), "pii_flag": flags["pii_flag"].to_numpy()})
    return manual_review.review_summary(keyed, review, kinds)


def flag_rates(table: pd.DataFrame, kinds: TextKinds) -> dict:
    """Counts and rates for run metadata, overall and by author (SPEC §1.8); no text, no ids."""
    human = table[kinds.column].isin(kinds.human)

    def rates(mask: pd.Series) -> dict:
        part = table.loc[mask]
        n = max(len(part), 1)
        return {"rows": int(len(part)),
                "pii_flag": round(float(part["pii_flag"].sum()) / n, 5),
                "en_flag": round(float(part["en_flag"].sum()) / n, 5),
                "moderation_flagged": round(float(part["moderation_flag.flagged"].sum()) / n, 5)}
    out = {
        "rates_overall": rates(pd.Series(True, index=table.index)),
        "rates_human": rates(human),
        "rates_model": rates(~human),
        "languages": int(table["language_flag"].nunique()),
        "pii_flag_true": int(table["pii_flag"].sum()),
    }
    if "pii_manual_flag" in table.columns:
        out["pii_manual_flag_set"] = int(table["pii_manual_flag"].notna().sum())
    return out
