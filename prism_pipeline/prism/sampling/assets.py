"""Balanced subset, census cells and the UK/US census samples as assets (SPEC §3, §4).

Thin wrappers: the rules are in ``balanced.py`` (SPEC §3), ``census.py`` (§4.1), ``rep.py``
(§4.2–§4.3, §7.7) and ``weights.py``; ``qa.py`` makes the tables and charts shown in the UI.
Metadata carries counts, shares and charts only, never participant ids.
"""

import base64
import hashlib
import json
import sys
from importlib.metadata import version

import dagster as dg
import pandas as pd

from prism_pipeline.core.atomic import atomic_write_text
from prism_pipeline.core.hashing import code_version, sha256_file
from prism_pipeline.core.removal import ledger
from prism_pipeline.core.removal.ledger import LEDGER_FILENAME
from prism_pipeline.core.resources import DatasetPaths
from prism_pipeline.core.validation import SchemaCheck
from prism_pipeline.prism import schemas
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline.prism.sampling import balanced, census, qa, rep, weights
from prism_pipeline.prism.sampling.resources import SamplingSettings

GROUP = "sampling"
OWNERS = list(DATASET.owners)
# Parsed from sha256-pinned reference files: a failure means the files or the parser changed,
# and every REP flag would be wrong.
CENSUS_CHECK = SchemaCheck("census_cells", schemas.CensusCellsSchema, "census_cells", blocking=True)
BALANCED_CHECK = SchemaCheck("balanced_subset", schemas.BalancedSubsetSchema, "balanced_subset")
REP_CHECKS = {c: SchemaCheck(f"{c.lower()}_rep_sample", m, f"{c.lower()}_rep_sample")
              for c, m in (("UK", schemas.UkRepSampleSchema), ("US", schemas.UsRepSampleSchema))}
WEIGHTS_CHECK = SchemaCheck("census_weights", schemas.CensusWeightsSchema, "census_weights")
VERSION = code_version(sys.modules[__name__], balanced, census, rep, weights, qa)  # a rule change marks these unsynced


def _png_md(png: bytes, title: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")


def _chart(context: dg.AssetExecutionContext, table: pd.DataFrame, title: str) -> dict[str, dg.MetadataValue]:
    """The census-vs-sample chart of ``table`` with the table's digest. The PNG is a pure
    function of the table (and matplotlib's version), so when both equal those of the asset's
    last materialisation its chart is reused: a removal changes at most one country's cells,
    and drawing a chart costs ~0.25 s of a removal run's budget."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes()
                            + version("matplotlib").encode()).hexdigest()
    last = context.instance.get_latest_materialization_event(context.asset_key)
    meta = last.asset_materialization.metadata if last is not None else {}
    cells = meta.get("cells_sha256")
    if cells is not None and cells.value == digest and "census_vs_sample_chart" in meta:
        chart = meta["census_vs_sample_chart"]
    else:
        chart = _png_md(qa.rep_share_chart(table), title)
    return {"census_vs_sample_chart": chart, "cells_sha256": digest}


def _conversations(conversations_input: pd.DataFrame) -> pd.DataFrame:
    return conversations_input.reset_index(drop=True)


@dg.asset(
    group_name=GROUP, owners=OWNERS, kinds={"pandas", "csv"}, code_version=VERSION,
    deps=["census_tables", "sampling_config"],
    description="Census cells (SPEC §4.1, §6): adults per country × age band × census ethnicity × sex and their "
                "share of the national adult total, parsed from the ONS 2021 and ACS 2022 files in "
                "data/reference/census after checking their sha256 against MANIFEST.csv.",
    check_specs=[CENSUS_CHECK.spec()],
    metadata={"dagster/column_schema": CENSUS_CHECK.column_schema()},
)
def census_cells(paths: DatasetPaths, sampling_settings: SamplingSettings):
    cells = census.load_census_cells(paths.reference / census.CENSUS_DIRNAME, us_mode=sampling_settings.us_census_mode)
    totals = cells.groupby("country")["population"].sum()
    yield from CENSUS_CHECK.emit(dg.Output(cells, metadata={
        "dagster/row_count": len(cells),
        "adult_total_UK": int(totals.get("UK", 0)),
        "adult_total_US": int(totals.get("US", 0)),
        "us_census_mode": sampling_settings.us_census_mode,
        "preview": dg.MetadataValue.md(cells.head(12).to_markdown(index=False)),
    }))


@dg.asset(
    group_name=GROUP, owners=OWNERS, kinds={"pandas"}, code_version=VERSION, deps=["sampling_config"],
    description="included_in_balanced_subset per conversation (SPEC §3.1): users with all three conversation "
                "types; per (user, type) m conversations drawn by a fresh RandomState(seed) over file order.",
    check_specs=[BALANCED_CHECK.spec()],
    metadata={"dagster/column_schema": BALANCED_CHECK.column_schema()},
)
def balanced_subset(conversations_input: pd.DataFrame,
                    sampling_settings: SamplingSettings):
    conversations = _conversations(conversations_input)
    flags = balanced.balanced_conversation_flags(conversations, seed=sampling_settings.balanced_seed)
    table = qa.balanced_type_table(conversations, flags)
    out = pd.DataFrame({"conversation_id": conversations["conversation_id"],
                        "included_in_balanced_subset": flags.to_numpy()})
    kept_users = conversations.loc[flags.to_numpy(), "user_id"].nunique()
    yield from BALANCED_CHECK.emit(dg.Output(out, metadata={
        "dagster/row_count": len(out),
        "conversations_in_subset": int(flags.sum()),
        "users_in_subset": int(kept_users),
        "seed": sampling_settings.balanced_seed,
        "per_type": dg.MetadataValue.md(table.to_markdown(index=False)),
        "per_type_chart": _png_md(qa.balanced_type_chart(table), "balanced subset per type"),
    }))




def _rep_asset(country: str):
    name = f"{country.lower()}_rep_sample"
    flag = f"included_in_{country}_REP"

    @dg.asset(
        name=name, group_name=GROUP, owners=OWNERS, kinds={"pandas"}, code_version=VERSION,
        deps=["sampling_config"],
        description=f"{flag} (SPEC §4.2-§4.3; the rule is in sampling/rep.py): pool = balanced, study_locale "
                    f"'{country.lower()}', binary gender, a census cell; quota floor(share × N) + 1 per cell; "
                    "reference mode draws RandomState(seed) per cell over file order, stable mode ranks by a "
                    "keyed hash of (seed, user_id). Metadata: per-cell census vs sample table and chart.",
        check_specs=[REP_CHECKS[country].spec()],
        metadata={"dagster/column_schema": REP_CHECKS[country].column_schema()},
    )
    def _asset(context: dg.AssetExecutionContext, survey_input: pd.DataFrame, conversations_input: pd.DataFrame,
               balanced_subset: pd.DataFrame, census_cells: pd.DataFrame, sampling_settings: SamplingSettings,
               paths: DatasetPaths, erasure: pd.DataFrame):
        survey = survey_input.reset_index(drop=True)
        user_flags = balanced.user_flags_of_tables(survey_input, conversations_input, balanced_subset)
        s = sampling_settings
        draw = rep.draw_rep(survey, user_flags, census_cells, country, n=s.rep_n, mode=s.rep_mode, seed=s.rep_seed)
        flags, frozen = draw.flags, False
        if s.rep_mode == "reference":
            flags, frozen = _reference_after_removals(paths, country, s, survey["user_id"], draw.flags,
                                                      has_removals=_has_removals(paths, erasure))
        selected = draw.pool["user_id"].isin(survey.loc[flags.to_numpy(), "user_id"])
        table = qa.rep_cell_table(draw.quotas, draw.pool, selected)
        summary = qa.rep_summary(table)
        out = pd.DataFrame({"user_id": survey["user_id"], flag: flags.to_numpy()})
        yield from REP_CHECKS[country].emit(dg.Output(out, metadata={
            "dagster/row_count": len(out),
            "selected": int(draw.flags.sum()),
            "pool": len(draw.pool),
            "quota_total": int(draw.quotas["quota"].sum()),
            "mode": s.rep_mode, "seed": s.rep_seed, "N": s.rep_n,
            "selection_frozen_since_removals": frozen,
            "summary": dg.MetadataValue.md(summary.to_markdown(index=False)),
            "cells": dg.MetadataValue.md(table.round(3).to_markdown(index=False)),
            **_chart(context, table, f"{country} census vs sample"),
        }))

    return _asset


def _has_removals(paths: DatasetPaths, erasure: pd.DataFrame) -> bool:
    """A removal is applied in this run (the erasure's rows) or was applied before (the ledger)."""
    return not erasure.empty or bool(ledger.applied_request_ids(paths.state / LEDGER_FILENAME))


def _reference_after_removals(paths: DatasetPaths, country: str, settings: SamplingSettings,
                              user_ids: pd.Series, drawn: pd.Series, has_removals: bool) -> tuple[pd.Series, bool]:
    """Reference mode freezes the published selection once participants are removed (SPEC §7.7).

    The reference draw is positional within each cell, so redrawing after a removal would
    reshuffle other people's flags. Instead the last selection drawn before any removal is kept
    (``<state>/rep_selection_<country>.json``, keyed by the raw survey's sha256 and the settings)
    and a removed participant simply drops out: the sample shrinks, nobody else changes. The
    file is rewritten with the current members only, so it never keeps a removed id.
    """
    path = paths.state / f"rep_selection_{country}.json"
    key = {"raw_survey_sha256": sha256_file(paths.raw / "survey.jsonl"),
           "settings": {"n": settings.rep_n, "seed": settings.rep_seed, "census": settings.us_census_mode}}
    frozen = json.loads(path.read_text()) if path.exists() else None
    if has_removals and frozen is not None and frozen["key"] == key:
        flags, used = user_ids.isin(set(frozen["selected"])), True
    else:
        flags, used = drawn, False
    atomic_write_text(path, json.dumps({"key": key, "selected": sorted(user_ids[flags.to_numpy()].tolist())}))
    return pd.Series(flags.to_numpy(), index=drawn.index, name=drawn.name), used


uk_rep_sample = _rep_asset("UK")
us_rep_sample = _rep_asset("US")


@dg.asset(
    group_name=GROUP, owners=OWNERS, kinds={"pandas"}, code_version=VERSION,
    deps=["erasure"],  # pool shares change when a participant is removed: recomputed by removal_rerun
    description="Post-stratification cell weights (beyond the reference, SPEC §7.5): for every UK/US pool "
                "participant, census share of the cell / pool share of the cell, normalised to mean 1, so an "
                "analyst can weight the whole pool instead of discarding it.",
    check_specs=[WEIGHTS_CHECK.spec()],
    metadata={"dagster/column_schema": WEIGHTS_CHECK.column_schema()},
)
def census_weights(survey_input: pd.DataFrame, conversations_input: pd.DataFrame, balanced_subset: pd.DataFrame,
                   census_cells: pd.DataFrame):
    survey = survey_input.reset_index(drop=True)
    user_flags = balanced.user_flags_of_tables(survey_input, conversations_input, balanced_subset)
    pools = pd.concat([rep.census_pool(survey, user_flags, c) for c in ("UK", "US")], ignore_index=True)
    table = weights.census_weights(pools, census_cells)
    stats = table.groupby("country")["weight"].agg(["count", "min", "max"]).round(3)
    yield from WEIGHTS_CHECK.emit(dg.Output(table, metadata={
        "dagster/row_count": len(table),
        "weight_range_by_country": dg.MetadataValue.md(stats.to_markdown()),
    }))
