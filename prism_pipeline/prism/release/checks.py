"""Checks on the release (yielded by release_files): published flags, where the inputs carry them,
against the recomputation."""

import dagster as dg
import pandas as pd

from prism_pipeline.prism.release.build import published_flag_differences
from prism_pipeline.prism.sampling.balanced import user_flags_of_tables

SPECS = [
    dg.AssetCheckSpec("published_survey_flags_match", asset="survey_release",
                      description="Where the raw survey.jsonl carries published included_in_* flags, count the "
                                  "participants whose published flag differs from the recomputed one (SPEC §3.5, "
                                  "§4.5: an exact match is expected). A warning: the recomputed flags are the ones "
                                  "released."),
    dg.AssetCheckSpec("published_conversation_flags_match", asset="conversations_release",
                      description="Where the raw conversations.jsonl carries published included_in_balanced_subset, "
                                  "count the conversations whose published flag differs from the recomputed one. "
                                  "A warning."),
]


def published_survey_flags_match(survey_input: pd.DataFrame, conversations_input: pd.DataFrame,
                                 balanced_subset: pd.DataFrame, uk_rep_sample: pd.DataFrame,
                                 us_rep_sample: pd.DataFrame) -> dg.AssetCheckResult:
    recomputed = {
        "included_in_balanced_subset": user_flags_of_tables(survey_input, conversations_input, balanced_subset),
        "included_in_UK_REP": uk_rep_sample["included_in_UK_REP"],
        "included_in_US_REP": us_rep_sample["included_in_US_REP"],
    }
    return _compare(survey_input, recomputed, SPECS[0])


def published_conversation_flags_match(conversations_input: pd.DataFrame,
                                        balanced_subset: pd.DataFrame) -> dg.AssetCheckResult:
    return _compare(conversations_input,
                    {"included_in_balanced_subset": balanced_subset["included_in_balanced_subset"]}, SPECS[1])


def _compare(published: pd.DataFrame, recomputed: dict[str, pd.Series], spec) -> dg.AssetCheckResult:
    metadata, differing = {}, 0
    for flag, values in recomputed.items():
        if flag not in published.columns:
            continue
        diff = published_flag_differences(published[flag], values)
        metadata[flag] = dg.MetadataValue.json(diff)
        differing += diff["published_true_recomputed_false"] + diff["published_false_recomputed_true"]
    named = {"asset_key": spec.asset_key, "check_name": spec.name}
    if not metadata:
        return dg.AssetCheckResult(passed=True, description="inputs carry no published flags",
                                   metadata={"compared": False}, **named)
    return dg.AssetCheckResult(**named, passed=differing == 0, severity=dg.AssetCheckSeverity.WARN,
                               description=f"{differing} published flag values differ from the recomputation",
                               metadata={"compared": True, "differences": differing, **metadata})
