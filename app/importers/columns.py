"""A plain CSV (or tab-separated) file with a column mapping.

`input_col` → input (default `input`), `facts_col` → facts (default `facts`; several columns
may be named, and each cell is split on `facts_sep`, default `|`), `expected_col` → expected
(default `expected`, graded by `match`, default contains), `id_col` → id (default `id` when the
file has one). Every other column is reported as not used.
"""

from __future__ import annotations

from app.importers.common import (
    ImportResult,
    SuiteBuilder,
    expected_grader,
    fail,
    judge_warning,
    text_list,
)
from app.importers.models import ImportOptions
from app.importers.records import csv_rows

DEFAULT_SEP = "|"


def parse(text: str, options: ImportOptions, name: str) -> ImportResult:
    header, rows = csv_rows(text)
    input_col = _column(header, options.input_col, "input", "input_col")
    facts_cols = [_column(header, c, c, "facts_col") for c in options.facts_col or ["facts"]]
    expected_col = _column(header, options.expected_col, "expected", "expected_col")
    id_col = options.id_col or ("id" if "id" in header else None)
    if id_col is not None:
        _column(header, id_col, id_col, "id_col")
    sep = options.facts_sep if options.facts_sep is not None else DEFAULT_SEP
    match = options.match or "contains"
    used = {input_col, expected_col, id_col, *facts_cols}
    builder = SuiteBuilder("csv")
    judge_warning(builder, match)
    for column in header:
        if column not in used:
            builder.ignore(column, "not mapped to a rung field", records=len(rows))
    for number, (loc, row) in enumerate(rows, start=1):
        builder.report.read += 1
        text = row[input_col].strip()
        facts = [fact for column in facts_cols for fact in text_list(row[column], sep)]
        expected = row[expected_col].strip()
        missing = [
            what
            for what, value in (("input", text), ("facts", facts), ("expected", expected))
            if not value
        ]
        if missing:
            builder.drop_case(loc, f"empty {' and '.join(missing)}")
            continue
        builder.map(input_col, "input")
        for column in facts_cols:
            builder.map(column, "facts")
        builder.map(expected_col, f"expected ({match})")
        case_id = row[id_col].strip() if id_col else ""
        builder.add(
            loc,
            case_id=case_id or f"row-{number}",
            input=text,
            facts=facts,
            expected=expected_grader([expected], match),
        )
    return builder.build(name)


def _column(header: list[str], given: str | None, default: str, option: str) -> str:
    column = given or default
    if column not in header:
        flag = "--" + option.replace("_", "-")
        hint = "" if given else f" (name it with {option}, {flag} in the CLI)"
        fail(option, f"no column {column!r} in the header{hint}; columns: {', '.join(header)}")
    return column
