"""Readers for the published PRISM JSONL files (SPEC §1.3–§1.6).

Each reader turns one file into flat pandas frames (nested objects become ``parent.key``
columns) indexed by the 1-based source ``line``, so every later error can name the file and
line. The reader rejects what a frame cannot represent faithfully: malformed JSON, a line that
is not an object, missing or unknown keys, and values of the wrong JSON type. The JSON type
and nullability of every column come from ``prism_pipeline.prism.schemas`` (one source of truth);
ranges and categories are checked there too, by the blocking schema asset checks.

Errors name file, line, field and value, except for free text and participant ids, whose
values are withheld (SPEC privacy rule: file and line are enough to find the row).

No Dagster import: pure functions, reused by the assets, the CLI and the benchmarks.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from prism_pipeline.prism import codebook as cb
from prism_pipeline.prism import schemas

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


_FLAGS = ("included_in_US_REP", "included_in_UK_REP", "included_in_balanced_subset")
SURVEY = Layout("survey.jsonl", cb.SURVEY_COLUMNS, cb.SURVEY_NESTED, schemas.SurveySchema,
                optional=frozenset(_FLAGS))
CONVERSATIONS = Layout("conversations.jsonl", cb.CONVERSATION_COLUMNS, cb.CONVERSATION_NESTED,
                       schemas.ConversationsSchema, optional=frozenset(_FLAGS),
                       list_column="conversation_history", null_before_normalisation=frozenset({"opening_prompt"}))
# History item keys read even when null, as Layout.null_before_normalisation.
HISTORY_NULL_BEFORE_NORMALISATION = frozenset({"content"})
UTTERANCES = Layout("utterances.jsonl", cb.UTTERANCE_COLUMNS, {}, schemas.UtterancesSchema,
                    optional=frozenset(_FLAGS))
HISTORY_COLUMNS = ("conversation_id",) + cb.HISTORY_MODEL_KEYS
REQUIRED_FILES = (SURVEY.file_name, CONVERSATIONS.file_name)
OPTIONAL_FILES = (UTTERANCES.file_name, "metadata.jsonl")  # published files used when present


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


def _typed_frame(file: str, data: dict[str, list], lines: list[int], rules: Mapping[str, ColumnRule],
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


def check_raw_dir(raw: Path) -> list[str]:
    """One message per setup mistake in a raw dir (missing folder or required file, a file that
    :func:`check_file` rejects); empty when the run can start."""
    raw = Path(raw)
    where = "pass --raw DIR or set PRISM_RAW_DIR to the folder holding the published PRISM files"
    if not raw.is_dir():
        return [f"the raw folder {raw} does not exist: {where}"]
    missing = [name for name in REQUIRED_FILES if not (raw / name).exists()]
    if missing:
        return [f"the raw folder {raw} has no {' and no '.join(missing)}: {where}"]
    problems = []
    for name in REQUIRED_FILES + tuple(n for n in OPTIONAL_FILES if (raw / n).exists()):
        try:
            check_file(raw / name)
        except InputError as err:
            problems.append(str(err))
    return problems


def _check_keys(file: str, line: int, obj: Mapping, expected: tuple[str, ...], optional=frozenset(),
                prefix: str = "") -> None:
    keys = obj.keys()
    missing = [k for k in expected if k not in keys and k not in optional]
    if missing:
        raise InputError(file, line, prefix + missing[0], "required field is missing")
    unknown = [k for k in keys if k not in expected]
    if unknown:
        raise InputError(file, line, prefix + str(unknown[0]), "unknown field (not in the published layout)")


def _flatten(file: str, line: int, obj: Mapping, layout: Layout, columns: dict[str, list]) -> None:
    _check_keys(file, line, obj, layout.columns, layout.optional)
    for col in layout.columns:
        if col == layout.list_column:
            continue
        value = obj.get(col)
        if col in layout.nested:
            keys = layout.nested[col]
            if not isinstance(value, dict):
                raise InputError(file, line, col, f"expected an object, got {type(value).__name__}")
            _check_keys(file, line, value, keys, prefix=f"{col}.")
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
    frame = _typed_frame(path.name, {c: columns[c] for c in present}, lines, rules, index)
    return frame, records


def read_survey(path: Path) -> pd.DataFrame:
    """``survey.jsonl`` → flat frame (SPEC §1.3), indexed by line."""
    frame, _ = read_table(path, SURVEY)
    return frame


def read_utterances(path: Path) -> pd.DataFrame:
    """A published ``utterances.jsonl`` (SPEC §1.5), for comparison with the derived table."""
    frame, _ = read_table(path, UTTERANCES)
    return frame


def read_conversations(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``conversations.jsonl`` → (conversations, conversation_history).

    conversations: flat frame indexed by line, without ``conversation_history``.
    conversation_history: one row per history item (SPEC §1.4), indexed by (line, item), with
    columns ``conversation_id`` and the model-item keys (null on user items).
    """
    frame, records = read_table(path, CONVERSATIONS)
    file = Path(path).name
    data: dict[str, list] = {c: [] for c in HISTORY_COLUMNS}
    lines: list[int] = []
    items: list[int] = []
    for line, obj in records:
        history = obj.get("conversation_history")
        if not isinstance(history, list) or not history:
            raise InputError(file, line, "conversation_history", "expected a non-empty list of items")
        for i, item in enumerate(history):
            prefix = f"conversation_history[{i}]."
            if not isinstance(item, dict):
                raise InputError(file, line, prefix[:-1], f"expected an object, got {type(item).__name__}")
            role = item.get("role")
            if role not in cb.ROLES:
                raise InputError(file, line, prefix + "role", f"not one of {list(cb.ROLES)}", role,
                                 show_value=isinstance(role, (str, type(None))) and len(str(role)) < 40)
            keys = cb.HISTORY_USER_KEYS if role == "user" else cb.HISTORY_MODEL_KEYS
            _check_keys(file, line, item, keys, prefix=prefix)
            data["conversation_id"].append(obj["conversation_id"])
            for key in cb.HISTORY_MODEL_KEYS:
                data[key].append(item.get(key))
            lines.append(line)
            items.append(i)
    rules = column_rules(schemas.ConversationHistorySchema, list(HISTORY_COLUMNS), HISTORY_NULL_BEFORE_NORMALISATION)
    index = pd.MultiIndex.from_arrays([lines, items], names=["line", "item"])
    history = _typed_frame(file, data, lines, rules, index,
                           field_name=lambda name, pos: f"conversation_history[{items[pos]}].{name}")
    return frame, history


def history_locator(column: str, index_value) -> tuple[int | None, str]:
    """``validation.Locator`` of the history table: Pandera reports a MultiIndex position as
    the string "(line, item)"."""
    if isinstance(index_value, str) and index_value.startswith("("):
        index_value = ast.literal_eval(index_value)
    if isinstance(index_value, tuple):
        return history_field(column, index_value)
    return None, f"conversation_history[*].{column}"


def history_field(column: str, index_value) -> tuple[int, str]:
    """(line, field label) for a failure in the history table, whose index is (line, item)."""
    line, item = index_value
    return int(line), f"conversation_history[{int(item)}].{column}"
