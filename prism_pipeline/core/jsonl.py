"""Reading JSON Lines files into typed frames, with every error located (file, line, field).

A reader turns one file into a flat pandas frame (nested objects become ``parent.key``
columns) indexed by the 1-based source ``line``, so every later error can name the file and
line. It rejects what a frame cannot represent faithfully: bytes that are not UTF-8, a BOM, a
truncated last line, malformed JSON, a line that is not an object, missing or unknown keys, and
values of the wrong JSON type. Each column's JSON type and nullability come from the dataset's
Pandera model (one source of truth); ranges and categories are checked there too, by the
blocking schema asset checks.

Errors name file, line, field and value, except for free text and participant ids, whose
values are withheld (file and line are enough to find the row).

No Dagster import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pandera.pandas as pa

if TYPE_CHECKING:
    from prism_pipeline.core.dataset import Dataset

WITHHELD = "withheld: free text or participant id"


class InputError(ValueError):
    """A bad input value, located by file, line and field."""

    def __init__(self, file: str, line: int | None, field: str | None, problem: str,
                 value: Any = None, show_value: bool = False):
        self.file, self.line, self.field, self.problem = file, line, field, problem
        where = file if line is None else f"{file} line {line}"
        if field is not None:
            where += f", field '{field}'"
        detail = f" (value {value!r})" if show_value else ""
        super().__init__(f"{where}: {problem}{detail}")


@dataclass(frozen=True)
class Layout:
    """The published key layout of one file: top-level key order and nested key orders."""

    file_name: str
    columns: tuple[str, ...]
    nested: Mapping[str, tuple[str, ...]]
    model: type[pa.DataFrameModel]
    optional: frozenset[str] = frozenset()
    list_column: str | None = None  # conversation_history: parsed into its own table
    # Read even when null: the text normalisation step (inputs/normalise.py) maps null to
    # "EMPTY STRING", and the schema, which requires a value, judges what it leaves.
    null_before_normalisation: frozenset[str] = frozenset()

    @property
    def flat_columns(self) -> list[str]:
        out: list[str] = []
        for col in self.columns:
            if col == self.list_column:
                continue
            if col in self.nested:
                out.extend(f"{col}.{key}" for key in self.nested[col])
            else:
                out.append(col)
        return out


# ---------------------------------------------------------------------------------------
# Column rules taken from the Pandera models
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnRule:
    kind: str  # "str" | "int" | "bool" | "float"
    nullable: bool
    sensitive: bool
    pandas_dtype: str


_KIND_OF_DTYPE = {
    "str": ("str", "str"),
    "string[python]": ("str", "str"),
    "string": ("str", "str"),
    "int64": ("int", "int64"),
    "Int64": ("int", "Int64"),
    "bool": ("bool", "bool"),
    "boolean": ("bool", "boolean"),
    "float64": ("float", "float64"),
}


def column_rules(model: type[pa.DataFrameModel], columns: list[str],
                 nullable: frozenset[str] = frozenset()) -> dict[str, ColumnRule]:
    """Map each concrete column to its JSON type rule from the model (exact or regex field);
    columns in ``nullable`` accept null whatever the model says."""
    schema = model.to_schema()
    rules: dict[str, ColumnRule] = {}
    for name in columns:
        col = schema.columns.get(name)
        if col is None:
            col = next((c for key, c in schema.columns.items() if c.regex and re.match(key, name)), None)
        if col is None:
            raise KeyError(f"{model.__name__} has no rule for column {name!r}")
        kind, dtype = _KIND_OF_DTYPE[str(col.dtype)]
        sensitive = bool((col.metadata or {}).get("sensitive"))
        rules[name] = ColumnRule(kind, bool(col.nullable) or name in nullable, sensitive, dtype)
    return rules


_PY_TYPES = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "float": (int, float),
}


def typed_frame(file: str, data: dict[str, list], lines: list[int], rules: Mapping[str, ColumnRule],
                 index: pd.Index, field_name=None) -> pd.DataFrame:
    """Check each column's JSON types (vectorised per column) and build typed pandas columns."""
    out = {}
    for name, values in data.items():
        rule = rules[name]
        raw = pd.Series(values, dtype=object)
        types = raw.map(type)
        allowed = set(_PY_TYPES[rule.kind])
        ok = types.isin(allowed)
        if rule.kind in ("int", "float"):
            ok &= types != bool  # noqa: E721 (a Series of types, compared elementwise); bool is an int subclass in Python; JSON true is not a number
        if rule.nullable:
            ok |= raw.isna()
        if not ok.all():
            pos = int((~ok).to_numpy().argmax())
            value = raw.iloc[pos]
            label = field_name(name, pos) if field_name else name
            problem = ("missing value (null) where the codebook requires one" if value is None
                       else f"expected {rule.kind}, got {type(value).__name__}")
            raise InputError(file, lines[pos], label, problem, value, show_value=not rule.sensitive)
        if rule.kind == "str":
            out[name] = pd.Series(values, dtype="str", index=index)
        elif rule.pandas_dtype == "float64":
            out[name] = pd.Series(raw.to_numpy(), index=index).astype("float64")
        else:
            out[name] = pd.Series(pd.array(values, dtype=rule.pandas_dtype), index=index)
    return pd.DataFrame(out, index=index)


# ---------------------------------------------------------------------------------------
# JSONL reading
# ---------------------------------------------------------------------------------------
_BOM = b"\xef\xbb\xbf"
_TRUNCATED = ("the last line is incomplete (the file ends inside a record): the file looks truncated; copy or "
              "download it again")
_BLANK = "the file holds only blank lines: expected one JSON object per line"


def _read_lines(fh, name: str) -> Iterator[bytes]:
    """The file's lines as bytes; a read error (I/O error, a device) is named, not a traceback."""
    try:
        yield from fh
    except OSError as exc:
        raise InputError(name, None, None, f"cannot be read ({exc.strerror}): check the file and its disk") from None


def _lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(1-based line number, decoded line, ends with a newline) for each line of a file.

    Read as bytes and split at b"\n" only (a JSON string may hold U+2028 or a lone \r, which
    text mode or ``str.splitlines`` would split at), so every problem is named with its line:
    a file that cannot be read, is empty, starts with a byte-order mark or is not UTF-8."""
    path = Path(path)
    name = path.name
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise InputError(name, None, None, f"file not found in {path.parent}") from None
    except IsADirectoryError:
        raise InputError(name, None, None, "is a folder, not a file: point the raw dir at the folder holding "
                                           "the published JSONL files") from None
    except OSError as exc:
        raise InputError(name, None, None, f"cannot be read ({exc.strerror}): check its permissions") from None
    with fh:
        number = 0
        for number, raw in enumerate(_read_lines(fh, name), start=1):
            if number == 1 and raw.startswith(_BOM):
                raise InputError(name, 1, None, "the file starts with a UTF-8 byte-order mark (BOM): save it as "
                                                "UTF-8 without a BOM")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(name, number, None, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte "
                                                     f"{exc.start + 1} of the line): the file must be UTF-8; "
                                                     "convert it, e.g. with iconv -t UTF-8") from None
            yield number, text, raw.endswith(b"\n")
        if number == 0:
            raise InputError(name, None, None, "the file is empty: expected one JSON object per line; export or "
                                               "download it again")


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (1-based line number, object) for each non-blank line of a JSONL file."""
    name = Path(path).name
    seen = False
    for number, text, complete in _lines(path):
        if not text.strip():
            continue
        seen = True
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            if not complete:
                raise InputError(name, number, None, _TRUNCATED) from None
            # exc.msg and column only: the line itself may hold participant text.
            raise InputError(name, number, None, f"malformed JSON: {exc.msg} at column {exc.colno}") from None
        if not isinstance(obj, dict):
            raise InputError(name, number, None, f"expected a JSON object, got {type(obj).__name__}")
        yield number, obj
    if not seen:
        raise InputError(name, None, None, _BLANK)


def check_file(path: Path) -> None:
    """Raise :class:`InputError` for a file that cannot be read as UTF-8 JSON Lines at all
    (unreadable, empty, BOM, not UTF-8, truncated last line), without parsing every record:
    the CLI's check before a run, so a setup mistake is one line and not a failed run."""
    name = Path(path).name
    last = None
    blank = True
    for last in _lines(path):
        blank = blank and not last[1].strip()
    if blank:
        raise InputError(name, None, None, _BLANK)
    number, text, complete = last
    if not complete and text.strip():
        try:
            json.loads(text)
        except json.JSONDecodeError:
            raise InputError(name, number, None, _TRUNCATED) from None


def check_raw_dir(raw: Path, dataset: Dataset) -> list[str]:
    """One message per setup mistake in a dataset's raw dir (missing folder or required file, a
    file that :func:`check_file` rejects); empty when the run can start."""
    raw = Path(raw)
    required, optional = dataset.required_files, dataset.optional_files
    where = (f"pass --raw DIR or set {dataset.env_var('raw')} to the folder holding the published {dataset.title} "
             "files")
    if not raw.is_dir():
        return [f"the raw folder {raw} does not exist: {where}"]
    missing = [name for name in required if not (raw / name).exists()]
    if missing:
        return [f"the raw folder {raw} has no {' and no '.join(missing)}: {where}"]
    problems = []
    for name in required + tuple(n for n in optional if (raw / n).exists()):
        try:
            check_file(raw / name)
        except InputError as err:
            problems.append(str(err))
    return problems


def check_keys(file: str, line: int, obj: Mapping, expected: tuple[str, ...], optional=frozenset(),
                prefix: str = "") -> None:
    keys = obj.keys()
    missing = [k for k in expected if k not in keys and k not in optional]
    if missing:
        raise InputError(file, line, prefix + missing[0], "required field is missing")
    unknown = [k for k in keys if k not in expected]
    if unknown:
        raise InputError(file, line, prefix + str(unknown[0]), "unknown field (not in the published layout)")


def _flatten(file: str, line: int, obj: Mapping, layout: Layout, columns: dict[str, list]) -> None:
    check_keys(file, line, obj, layout.columns, layout.optional)
    for col in layout.columns:
        if col == layout.list_column:
            continue
        value = obj.get(col)
        if col in layout.nested:
            keys = layout.nested[col]
            if not isinstance(value, dict):
                raise InputError(file, line, col, f"expected an object, got {type(value).__name__}")
            check_keys(file, line, value, keys, prefix=f"{col}.")
            for key in keys:
                columns[f"{col}.{key}"].append(value[key])
        else:
            columns[col].append(value)


def read_table(path: Path, layout: Layout) -> tuple[pd.DataFrame, list[tuple[int, dict]]]:
    """Read one published file into a flat frame indexed by line. Returns the frame and the
    raw records (line, object), which ``read_conversations`` needs for the history."""
    path = Path(path)
    flat = layout.flat_columns
    columns: dict[str, list] = {c: [] for c in flat}
    records = list(iter_jsonl(path))
    for line, obj in records:
        _flatten(path.name, line, obj, layout, columns)
    lines = [line for line, _ in records]
    present = [c for c in flat if c not in layout.optional or any(obj.get(c) is not None for _, obj in records)]
    rules = column_rules(layout.model, present, layout.null_before_normalisation)
    index = pd.Index(lines, name="line", dtype="int64")
    frame = typed_frame(path.name, {c: columns[c] for c in present}, lines, rules, index)
    return frame, records
