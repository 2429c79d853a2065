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
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from prism_pipeline.core.schemas import ROW_RULE_COLUMNS, sensitive_columns, typed_if_empty

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
                        locate: Locator = _line_locator, optional: bool = False,
                        **named) -> dg.AssetCheckResult:
    """Validate ``frame`` lazily and turn Pandera's failure cases into a check result.

    ``where`` is the file (``survey.jsonl``) or table name used in messages; ``locate`` maps a
    failure's (column, index value) to (line, field). ``optional``: a frame without columns
    stands for an optional input file that is absent, and passes. A zero-row frame is typed
    first (``schemas.typed_if_empty``), since pandas gives its columns no dtype. ``named``: the
    result's ``asset_key`` and ``check_name`` when an asset yields it.
    """
    if optional and frame.columns.empty:
        return dg.AssetCheckResult(passed=True, description=f"optional input not used: {where}",
                                   metadata={"rows": 0, "failures": 0}, **named)
    frame = typed_if_empty(model, frame)
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        return _failed_result(err.failure_cases, frame, model, where, locate, **named)
    return dg.AssetCheckResult(passed=True, metadata={"rows": len(frame), "failures": 0}, **named)


def row_rule_columns(model: type[pa.DataFrameModel]) -> dict[str, tuple[str, ...]]:
    """Each row rule's name → the columns it reads (``schemas.row_rule``)."""
    return {c.name: tuple((c.statistics or {})[ROW_RULE_COLUMNS]) for c in model.to_schema().checks
            if ROW_RULE_COLUMNS in (c.statistics or {})}


def _failure_lines(cases: pd.DataFrame, model, hidden: set[str], where: str,
                   locate: Locator) -> tuple[list[str], pd.DataFrame]:
    """(the first MAX_LISTED messages, one row per failure: rule, column label).

    A column rule fails per cell and names its column. Pandera reports a row rule's failure
    once per column of the frame; here it becomes one failure per row, naming only the
    columns the rule reads, with the values of those that are not free text or ids."""
    rules = row_rule_columns(model)
    is_row = (cases["schema_context"] == "DataFrameSchema") & cases["check"].astype(str).isin(list(rules))
    row_cases = cases.loc[is_row].assign(key=lambda c: c["index"].astype(str))
    rows = row_cases.drop_duplicates(["check", "key"])
    lines = []
    for case in cases.loc[~is_row].head(MAX_LISTED).itertuples(index=False):
        column = case.column if isinstance(case.column, str) else None
        line, field = locate(column or "row", case.index)
        if column is None or case.schema_context == "DataFrameSchema":
            field = column or f"row rule '{case.check}'"
        raw = case.failure_case.item() if hasattr(case.failure_case, "item") else case.failure_case
        value = "" if column in hidden else f" (value {raw!r})"
        lines.append(f"{_position(where, line)}, field '{field}': fails {case.check}{value}")
    for case in rows.head(MAX_LISTED - len(lines)).itertuples(index=False):
        columns = rules[str(case.check)]
        line = locate(columns[0], case.index)[0]
        fields = ", ".join(f"'{locate(c, case.index)[1]}'" for c in columns)
        values = row_cases.loc[(row_cases["check"] == case.check) & (row_cases["key"] == case.key)]
        value_of = {v.column: _item(v.failure_case) for v in values.itertuples(index=False)}
        shown = [f"{c}={value_of[c]!r}" for c in columns if c in value_of and c not in hidden]
        detail = f" (values {', '.join(shown)})" if shown else ""
        lines.append(f"{_position(where, line)}, fields {fields}: fails row rule {case.check}{detail}")
    failures = pd.concat([
        pd.DataFrame({"rule": cases.loc[~is_row, "check"].astype(str),
                      "column": cases.loc[~is_row, "column"].astype(str)}),
        pd.DataFrame({"rule": rows["check"].astype(str), "column": [", ".join(rules[str(c)]) for c in rows["check"]]}),
    ], ignore_index=True)
    return lines, failures


def _position(where: str, line: int | None) -> str:
    return f"{where} line {line}" if line is not None else where


def _item(value):
    return value.item() if hasattr(value, "item") else value


def _failed_result(cases: pd.DataFrame, frame: pd.DataFrame, model, where: str,
                   locate: Locator, **named) -> dg.AssetCheckResult:
    hidden = sensitive_columns(model, frame.columns)
    lines, failures = _failure_lines(cases, model, hidden, where, locate)
    by_rule = failures.groupby(["column", "rule"]).size().rename("failures").reset_index()
    summary = "\n".join(f"- {r.column}: {r.rule} × {r.failures}" for r in by_rule.itertuples())
    more = f"\n… and {len(failures) - len(lines)} more" if len(failures) > len(lines) else ""
    return dg.AssetCheckResult(
        **named,
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description="\n".join(lines) + more,
        metadata={
            "failures": len(failures),
            "failures_by_rule": dg.MetadataValue.md(summary or "-"),
            "first_failures": dg.MetadataValue.md("\n".join(f"- {x}" for x in lines)),
        },
    )


def violations_result(violations: pd.DataFrame, severity=dg.AssetCheckSeverity.ERROR,
                      extra_metadata: dict | None = None, asset: str | list[str] | None = None,
                      check_name: str | None = None) -> dg.AssetCheckResult:
    """Check result for cross-table rules (frames of file, line, field, problem, e.g. PRISM's
    ``inputs/integrity.py``); ``asset`` (a name or a key path) and ``check_name`` when an asset
    yields it."""
    metadata = {"violations": len(violations), **(extra_metadata or {})}
    named = {"asset_key": dg.AssetKey(asset), "check_name": check_name} if asset else {}
    if violations.empty:
        return dg.AssetCheckResult(passed=True, metadata=metadata, **named)
    listed = [f"{r.file} line {r.line}, field '{r.field}': {r.problem}"
              for r in violations.head(MAX_LISTED).itertuples(index=False)]
    more = f"\n… and {len(violations) - MAX_LISTED} more" if len(violations) > MAX_LISTED else ""
    return dg.AssetCheckResult(passed=False, severity=severity, description="\n".join(listed) + more,
                               metadata=metadata, **named)


@dataclass(frozen=True)
class SchemaCheck:
    """One asset's schema check: its Pandera model (the single source of its columns' rules),
    what failure messages name (a file, or the table), and how an index value maps to a line.

    The asset declares it (``check_specs=[check.spec()]``, ``metadata={"dagster/column_schema":
    check.column_schema()}``) and yields ``check.result(frame)`` after its output, so the table
    is validated in the step that made it, without reading it back from the state folder. A
    blocking check that fails stops everything downstream (the release is never written from
    bad data; the previous one stays); a non-blocking one shows as failed without stopping it.
    :meth:`definition` makes it a check of its own instead, for an asset that cannot yield
    checks (a graph-backed one)."""

    asset: str
    model: type[pa.DataFrameModel]
    where: str  # the file or table that failure messages name
    blocking: bool = False
    name: str | None = None  # default: <asset>_schema
    locate: Locator = _line_locator  # default: the frame's index is the source line
    optional: bool = False  # a frame without columns (an absent optional file) passes
    key_prefix: tuple[str, ...] = ()  # the asset's key prefix (``Dataset.key_prefix``)

    @property
    def check_name(self) -> str:
        return self.name or f"{self.asset}_schema"

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey([*self.key_prefix, self.asset])

    @property
    def description(self) -> str:
        summary = (self.model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        return f"schemas.{self.model.__name__}: {summary}" + (" Blocking." if self.blocking else "")

    def spec(self) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(self.check_name, asset=self.asset_key, blocking=self.blocking,
                                 description=self.description)

    def column_schema(self) -> dg.TableSchema:
        return table_schema(self.model)

    def result(self, frame: pd.DataFrame) -> dg.AssetCheckResult:
        return schema_check_result(self.model, frame, self.where, locate=self.locate, optional=self.optional,
                                   asset_key=self.asset_key, check_name=self.check_name)

    def emit(self, output: dg.Output):
        """Yield ``output``, then this check's result on its value (an asset's last lines)."""
        yield output
        yield self.result(output.value)

    def definition(self) -> dg.AssetChecksDefinition:
        @dg.asset_check(asset=self.asset_key, name=self.check_name, blocking=self.blocking,
                        description=self.description)
        def _check(frame: pd.DataFrame) -> dg.AssetCheckResult:
            return schema_check_result(self.model, frame, self.where, locate=self.locate, optional=self.optional)

        return _check
