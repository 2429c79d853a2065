"""Checks on the metadata layer (SPEC §1.6, §2, §8.6)."""

import dagster as dg
import pandas as pd


@dg.asset_check(asset="metadata_table", blocking=True, additional_ins={"text_instances": dg.AssetIn()},
                description="Exactly one metadata row per text instance, with the same keys in the same order.")
def one_row_per_text_instance(metadata_table: pd.DataFrame, text_instances: pd.DataFrame) -> dg.AssetCheckResult:
    keys = ["column_id", "user_id", "conversation_id", "interaction_id", "utterance_id"]
    same_len = len(metadata_table) == len(text_instances)
    same_keys = same_len and metadata_table[keys].reset_index(drop=True).equals(
        text_instances[keys].reset_index(drop=True))
    duplicated = int(metadata_table[keys].duplicated().sum())
    return dg.AssetCheckResult(
        passed=bool(same_keys and duplicated == 0),
        metadata={"metadata_rows": len(metadata_table), "text_instances": len(text_instances),
                  "duplicated_keys": duplicated},
    )
