"""Records out of a file's text: JSON, JSON Lines, CSV and YAML, each error located in the file."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

import yaml

from app.diagnosis.suite import NUL_MESSAGE
from app.importers.common import fail

RecordKind = Literal["json", "jsonl", "csv"]
Record = tuple[str, Any]  # (where it is in the file, the parsed record)

# libyaml's safe loader when PyYAML was built with it: four times faster than pure Python.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# YAML aliases let a small file stand for a huge tree; nothing legitimate comes near this.
MAX_VALUES = 1_000_000


def check_text(text: str) -> None:
    if not text.strip():
        fail("", "the file is empty")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        fail(f"line {line}", NUL_MESSAGE)


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"line {exc.lineno}", f"not valid JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        fail("", "the JSON is nested too deeply")


def parse_yaml(text: str) -> Any:
    """YAML (JSON, the common case for a generated file, is read as JSON first: it is faster)."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            pass  # YAML flow style, or an error YAML's parser locates
        else:
            _bounded(data)
            return data
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506  (a safe loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark is not None else ""
        fail(where, f"not valid YAML: {exc.problem or exc}")
    except (yaml.YAMLError, RecursionError) as exc:
        fail("", f"not valid YAML: {exc}")
    _bounded(data)
    return data


def _bounded(data: Any) -> None:
    """Refuse a tree with more than MAX_VALUES values, counting aliased subtrees each time."""
    seen = 0
    stack = [data]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            fail("", f"the file expands to more than {MAX_VALUES} values (YAML aliases?)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def jsonl_records(text: str) -> list[Record]:
    """One JSON value a line; blank lines are skipped. Split on newlines only: JSON strings may
    hold U+2028 and friends unescaped."""
    out: list[Record] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            fail(f"line {number}", f"not valid JSON: {exc.msg} (column {exc.colno})")
        except RecursionError:
            fail(f"line {number}", "the JSON is nested too deeply")
    return out


def csv_rows(text: str) -> tuple[list[str], list[tuple[str, dict[str, str]]]]:
    """(the header, each row by column name, located by the line it starts on)."""
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader)]
    except (StopIteration, csv.Error) as exc:
        fail("line 1", f"not a CSV header: {exc}")
    for index, name in enumerate(header):
        if name in header[:index]:
            fail("line 1", f"column {name!r} appears twice in the header")
    rows: list[tuple[str, dict[str, str]]] = []
    start = reader.line_num + 1
    try:
        for row in reader:
            loc = f"line {start}"
            start = reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                fail(loc, f"has {len(row)} fields; the header has {len(header)}")
            cells = row + [""] * (len(header) - len(row))
            rows.append((loc, dict(zip(header, cells, strict=True))))
    except csv.Error as exc:
        fail(f"line {reader.line_num}", f"not valid CSV: {exc}")
    return header, rows


def sniff(text: str) -> RecordKind:
    """JSON (a whole value), JSON Lines, or CSV, from how the text starts."""
    head = text.lstrip()[:1]
    if head == "[":
        return "json"
    if head == "{":  # one object over several lines is JSON; one a line is JSON Lines
        if sum(1 for line in text.split("\n") if line.strip()) == 1:
            return "jsonl"
        try:
            json.loads(text)
        except ValueError:
            return "jsonl"
        return "json"
    return "csv"


def read_records(text: str, kind: RecordKind | None = None, name: str = "records") -> list[Record]:
    """Records from a JSON array (located as name[i]; one JSON object is one record at ""),
    JSON Lines, or CSV rows (located by line)."""
    kind = kind or sniff(text)
    if kind == "csv":
        return list(csv_rows(text)[1])
    if kind == "jsonl":
        return jsonl_records(text)
    data = parse_json(text)
    if isinstance(data, list):
        return [(f"{name}[{i}]", item) for i, item in enumerate(data)]
    return [("", data)]
