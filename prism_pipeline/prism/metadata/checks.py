"""The metadata table's row rule (SPEC §1.6, §2, §8.6), yielded by the metadata_table asset."""

import dagster as dg
import pandas as pd


def one_row_per_text_instance(metadata_table: pd.DataFrame, text_instances: pd.DataFrame) -> dg.AssetCheckResult:
    """Exactly one metadata row per text instance, with the same keys in the same order."""
    keys = ["column_id", "user_id", "conversation_id", "interaction_id", "utterance_id"]
    same_len = len(metadata_table) == len(text_instances)
    same_keys = same_len and metadata_table[keys].reset_index(drop=True).equals(
        text_instances[keys].reset_index(drop=True))
    duplicated = int(metadata_table[keys].duplicated().sum())
    return dg.AssetCheckResult(
        asset_key="metadata_table", check_name="one_row_per_text_instance",
        passed=bool(same_keys and duplicated == 0),
        metadata={"metadata_rows": len(metadata_table), "text_instances": len(text_instances),
                  "duplicated_keys": duplicated},
    )
