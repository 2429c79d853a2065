"""Checks on the release: published flags, where the inputs carry them, against the recomputation."""

import dagster as dg
import pandas as pd

from prism_pipeline.prism.release.build import published_flag_differences
from prism_pipeline.prism.sampling.balanced import user_flags_of_tables


@dg.asset_check(
    asset="survey_release",
    additional_ins={n: dg.AssetIn(n) for n in ("survey_input", "conversations_input", "balanced_subset",
                                               "uk_rep_sample", "us_rep_sample")},
    description="Where the raw survey.jsonl carries published included_in_* flags, count the participants whose "
                "published flag differs from the recomputed one (SPEC §3.5, §4.5: an exact match is expected). "
                "A warning: the recomputed flags are the ones released.",
)
def published_survey_flags_match(survey_input: pd.DataFrame, conversations_input: pd.DataFrame,
                                 balanced_subset: pd.DataFrame, uk_rep_sample: pd.DataFrame,
                                 us_rep_sample: pd.DataFrame) -> dg.AssetCheckResult:
    recomputed = {
        "included_in_balanced_subset": user_flags_of_tables(survey_input, conversations_input, balanced_subset),
        "included_in_UK_REP": uk_rep_sample["included_in_UK_REP"],
        "included_in_US_REP": us_rep_sample["included_in_US_REP"],
    }
    return _compare(survey_input, recomputed)


@dg.asset_check(
    asset="conversations_release",
    additional_ins={n: dg.AssetIn(n) for n in ("conversations_input", "balanced_subset")},
    description="Where the raw conversations.jsonl carries published included_in_balanced_subset, count the "
                "conversations whose published flag differs from the recomputed one. A warning.",
)
def published_conversation_flags_match(conversations_input: pd.DataFrame,
                                        balanced_subset: pd.DataFrame) -> dg.AssetCheckResult:
    return _compare(conversations_input,
                    {"included_in_balanced_subset": balanced_subset["included_in_balanced_subset"]})


def _compare(published: pd.DataFrame, recomputed: dict[str, pd.Series]) -> dg.AssetCheckResult:
    metadata, differing = {}, 0
    for flag, values in recomputed.items():
        if flag not in published.columns:
            continue
        diff = published_flag_differences(published[flag], values)
        metadata[flag] = dg.MetadataValue.json(diff)
        differing += diff["published_true_recomputed_false"] + diff["published_false_recomputed_true"]
    if not metadata:
        return dg.AssetCheckResult(passed=True, description="inputs carry no published flags",
                                   metadata={"compared": False})
    return dg.AssetCheckResult(passed=differing == 0, severity=dg.AssetCheckSeverity.WARN,
                               description=f"{differing} published flag values differ from the recomputation",
                               metadata={"compared": True, "differences": differing, **metadata})
