"""Sampling configuration: seeds, N and modes live in Dagster config, not in code (SPEC §7.6)."""

from typing import Literal

import dagster as dg


class SamplingSettings(dg.ConfigurableResource):
    """Seeds and modes for the balanced subset and the census samples (SPEC §3, §4, §7.7).

    ``rep_mode``: ``reference`` reproduces the published selection (fresh RandomState(seed) per
    cell over file order); ``stable`` ranks by a keyed hash of (seed, user_id) so a removal
    changes at most one other selection in the removed person's cell.
    ``us_census_mode``: ``reference`` rebuilds the reference's US table including its Hispanic
    double counting (SPEC §7.5), which the reference selection depends on.
    """

    balanced_seed: int = 0
    rep_seed: int = 42
    rep_n: int = 300
    rep_mode: Literal["reference", "stable"] = "reference"
    us_census_mode: Literal["reference"] = "reference"
