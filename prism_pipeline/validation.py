"""Pandera models inside Dagster: blocking schema checks and the Columns tab.

PUDL's pattern: the DataFrameModels in ``schemas.py`` are the only place a column's rule is
written; here they become (a) blocking asset checks, so a violation shows as a failed check in
the UI and stops everything downstream (the release is never written from bad data), and
(b) ``dagster/column_schema`` metadata.

Failure messages name file, line and field; values are shown only for non-sensitive columns
(categories, numbers), never for free text or participant ids.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from prism_pipeline.schemas import sensitive_columns, typed_if_empty

MAX_LISTED = 20


def table_schema(model: type[pa.DataFrameModel]) -> dg.TableSchema:
    """``dagster/column_schema`` from a DataFrameModel (regex fields shown as patterns)."""
    columns = []
    for name, col in model.to_schema().columns.items():
        checks = "; ".join(_describe_check(c) for c in col.checks)
        description = " — ".join(x for x in (col.description, checks) if x) or None
        columns.append(dg.TableColumn(
            name=name,
            type=str(col.dtype),
            description=description,
            constraints=dg.TableColumnConstraints(nullable=bool(col.nullable), unique=bool(col.unique)),
        ))
    return dg.TableSchema(columns=columns)


def _describe_check(check) -> str:
    stats = check.statistics or {}
    if "allowed_values" in stats:
        values = list(stats["allowed_values"])
        return f"one of {values}" if len(values) <= 12 else f"one of {len(values)} codebook values"
    if stats:
        return f"{check.name}({', '.join(f'{k}={v}' for k, v in stats.items())})"
    return check.name or ""


Locator = Callable[[str, object], tuple[int | None, str]]


def _line_locator(column: str, index_value) -> tuple[int | None, str]:
    return (None if index_value is None or pd.isna(index_value) else int(index_value)), column


def schema_check_result(model: type[pa.DataFrameModel], frame: pd.DataFrame, where: str,
                        locate: Locator = _line_locator, optional: bool = False) -> dg.AssetCheckResult:
    """Validate ``frame`` lazily and turn Pandera's failure cases into a check result.

    ``where`` is the file (``survey.jsonl``) or table name used in messages; ``locate`` maps a
    failure's (column, index value) to (line, field). ``optional``: a frame without columns
    stands for an optional input file that is absent, and passes. A zero-row frame is typed
    first (``schemas.typed_if_empty``), since pandas gives its columns no dtype.
    """
    if optional and frame.columns.empty:
        return dg.AssetCheckResult(passed=True, description=f"optional input not used: {where}",
                                   metadata={"rows": 0, "failures": 0})
    frame = typed_if_empty(model, frame)
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        return _failed_result(err.failure_cases, frame, model, where, locate)
    return dg.AssetCheckResult(passed=True, metadata={"rows": len(frame), "failures": 0})


def _failed_result(cases: pd.DataFrame, frame: pd.DataFrame, model, where: str,
                   locate: Locator) -> dg.AssetCheckResult:
    hidden = sensitive_columns(model, frame.columns)
    lines = []
    for case in cases.head(MAX_LISTED).itertuples(index=False):  # at most MAX_LISTED failures
        column = case.column if isinstance(case.column, str) else None
        check = str(case.check)
        if column is None or case.schema_context == "DataFrameSchema":
            line, field = locate(column or "row", case.index)
            field = column or f"row rule '{check}'"
        else:
            line, field = locate(column, case.index)
        position = f"{where} line {line}" if line is not None else where
        raw = case.failure_case.item() if hasattr(case.failure_case, "item") else case.failure_case
        value = "" if column in hidden else f" (value {raw!r})"
        lines.append(f"{position}, field '{field}': fails {check}{value}")
    by_rule = (cases.assign(column=cases["column"].astype(str), check=cases["check"].astype(str))
               .groupby(["column", "check"]).size().rename("failures").reset_index())
    summary = "\n".join(f"- {r.column}: {r.check} × {r.failures}" for r in by_rule.itertuples())
    more = f"\n… and {len(cases) - MAX_LISTED} more" if len(cases) > MAX_LISTED else ""
    description = "\n".join(lines) + more
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "failures": len(cases),
            "failures_by_rule": dg.MetadataValue.md(summary or "-"),
            "first_failures": dg.MetadataValue.md("\n".join(f"- {x}" for x in lines)),
        },
    )


def violations_result(violations: pd.DataFrame, severity=dg.AssetCheckSeverity.ERROR,
                      extra_metadata: dict | None = None) -> dg.AssetCheckResult:
    """Check result for the cross-table rules of ``inputs.integrity`` (file, line, field, problem)."""
    metadata = {"violations": len(violations), **(extra_metadata or {})}
    if violations.empty:
        return dg.AssetCheckResult(passed=True, metadata=metadata)
    listed = [f"{r.file} line {r.line}, field '{r.field}': {r.problem}"
              for r in violations.head(MAX_LISTED).itertuples(index=False)]
    more = f"\n… and {len(violations) - MAX_LISTED} more" if len(violations) > MAX_LISTED else ""
    return dg.AssetCheckResult(passed=False, severity=severity, description="\n".join(listed) + more,
                               metadata=metadata)
