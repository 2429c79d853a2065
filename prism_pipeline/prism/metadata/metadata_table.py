"""Assemble the metadata table from the text instances and their flags (SPEC §1.6, §2.2–§2.4).

No Dagster import.
"""

from __future__ import annotations

import pandas as pd

from prism_pipeline.core.flags import manual_review
from prism_pipeline.core.flags.moderation.base import results_to_frame
from prism_pipeline.prism import codebook as cb

ID_COLUMNS = list(cb.METADATA_COLUMNS[:5])  # column_id and the four ids
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


def metadata_frame(text_instances: pd.DataFrame, flags: pd.DataFrame, review: pd.DataFrame) -> pd.DataFrame:
    """The release-shaped metadata table: codebook.METADATA_COLUMNS with ``moderation_flag``
    flattened, one row per text instance in canonical order."""
    keyed = pd.DataFrame({"column_id": text_instances["column_id"], "text_sha256": flags["text_sha256"],
                          "pii_flag": flags["pii_flag"]})
    out = text_instances[ID_COLUMNS].copy()
    out["pii_flag"] = flags["pii_flag"].astype(bool)
    out["pii_manual_flag"] = manual_review.pii_manual_flag(keyed, review).set_axis(out.index)
    out["language_flag"] = flags["language_flag"].astype("str")
    out["en_flag"] = out["language_flag"].eq("en").fillna(False).astype(bool)
    moderation = [c for c in flags.columns if c.startswith("moderation_flag.")]
    out[moderation] = flags[moderation]
    return out.reset_index(drop=True)


def flag_rates(table: pd.DataFrame) -> dict:
    """Counts and rates for run metadata, overall and by author (SPEC §1.8); no text, no ids."""
    human = table["column_id"] != "model_response"
    def rates(mask: pd.Series) -> dict:
        part = table.loc[mask]
        n = max(len(part), 1)
        return {"rows": int(len(part)),
                "pii_flag": round(float(part["pii_flag"].sum()) / n, 5),
                "en_flag": round(float(part["en_flag"].sum()) / n, 5),
                "moderation_flagged": round(float(part["moderation_flag.flagged"].sum()) / n, 5)}
    return {
        "rates_overall": rates(pd.Series(True, index=table.index)),
        "rates_human": rates(human),
        "rates_model": rates(~human),
        "languages": int(table["language_flag"].nunique()),
        "pii_flag_true": int(table["pii_flag"].sum()),
        "pii_manual_flag_set": int(table["pii_manual_flag"].notna().sum()),
    }


def review_backlog(table: pd.DataFrame, flags: pd.DataFrame, review: pd.DataFrame) -> dict[str, int]:
    keyed = pd.DataFrame({"column_id": table["column_id"].to_numpy(), "text_sha256": flags["text_sha256"].to_numpy(),
                          "pii_flag": flags["pii_flag"].to_numpy()})
    return manual_review.review_summary(keyed, review)

