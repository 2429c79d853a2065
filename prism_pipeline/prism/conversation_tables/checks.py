"""Checks on the derived conversation tables: the chosen-response audit (yielded by the
interactions asset) and the comparison with a published utterances.jsonl (a check of its own:
it reads the published table too)."""

import dagster as dg
import pandas as pd

from prism_pipeline.prism.conversation_tables.compare import compare_utterances


def one_chosen_response(interactions: pd.DataFrame) -> dg.AssetCheckResult:
    """Interactions whose number of chosen responses is not 1 (a warning; the interactions asset
    yields it)."""
    counts = interactions["n_chosen"].value_counts().sort_index()
    off = int((interactions["n_chosen"] != 1).sum())
    surplus = int(interactions["n_chosen"].sum() - len(interactions))
    return dg.AssetCheckResult(
        asset_key="interactions", check_name="one_chosen_response",
        passed=off == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=None if off == 0 else f"{off} interactions do not have exactly one chosen response",
        metadata={"interactions_not_one_chosen": off, "net_surplus_chosen": surplus,
                  "by_chosen_count": dg.MetadataValue.json({str(k): int(v) for k, v in counts.items()})},
    )


@dg.asset_check(asset="utterances", additional_ins={"utterances_input": dg.AssetIn()},
                description="When the raw dir holds a published utterances.jsonl, the derived table must equal "
                            "it row for row (ids, order and values).")
def utterances_match_published(utterances: pd.DataFrame, utterances_input: pd.DataFrame) -> dg.AssetCheckResult:
    if utterances_input.empty:
        return dg.AssetCheckResult(passed=True, description="no published utterances.jsonl in the raw dir",
                                   metadata={"compared": False})
    diff = compare_utterances(utterances, utterances_input)
    return dg.AssetCheckResult(
        passed=diff.total == 0,
        description=diff.describe(),
        metadata={"compared": True, "row_count_derived": len(utterances), "row_count_published": len(utterances_input),
                  "differences_by_column": dg.MetadataValue.json(diff.by_column)},
    )
