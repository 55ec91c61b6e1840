"""`rung import FORMAT FILE`: another tool's eval set as a rung suite file, with a report of what
was mapped, what was dropped and why.

Unlike the API, which receives one file, the command follows a promptfoo config's `file://`
references: it reads them next to the config, as promptfoo does, and hands them to the importer.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from app.cli.output import console, err_console, print_problems
from app.cli.suites import INVALID
from app.diagnosis.suite import located_errors, parse_suite_text
from app.importers import (
    FORMATS,
    Attachments,
    Format,
    ImportFailed,
    ImportOptions,
    ImportReport,
    import_text,
    references,
)

_TESTS_FORMAT = {".csv": "csv", ".jsonl": "jsonl"}


def _help(field: str) -> str:
    return ImportOptions.model_fields[field].description or field


def import_(
    format: Annotated[str, typer.Argument(metavar="FORMAT", help=" | ".join(FORMATS))],
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The file to import")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the suite here (.json: JSON, else YAML); default: standard output",
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write the import report here, as JSON")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The suite's name (default: the file's)")] = None,
    match: Annotated[str | None, typer.Option(help=_help("match"))] = None,
    facts_field: Annotated[str | None, typer.Option(help=_help("facts_field"))] = None,
    facts_sep: Annotated[str | None, typer.Option(help=_help("facts_sep"))] = None,
    use_retrieved: Annotated[
        bool, typer.Option("--use-retrieved", help=_help("use_retrieved"))
    ] = False,
    input_col: Annotated[str | None, typer.Option(help=_help("input_col"))] = None,
    facts_col: Annotated[
        list[str] | None, typer.Option(help=_help("facts_col") + " (repeatable)")
    ] = None,
    expected_col: Annotated[str | None, typer.Option(help=_help("expected_col"))] = None,
    id_col: Annotated[str | None, typer.Option(help=_help("id_col"))] = None,
    facts_var: Annotated[str | None, typer.Option(help=_help("facts_var"))] = None,
    prompt: Annotated[str | None, typer.Option(help=_help("prompt"))] = None,
) -> None:
    """Turn another tool's eval set into a rung suite (exit code 2 when nothing can be imported)."""
    if format not in FORMATS:
        print_problems(f"unknown format {format!r}", [f"formats: {', '.join(FORMATS)}"])
        raise typer.Exit(INVALID)
    fmt: Format = format  # narrowed by the check above
    given: dict[str, Any] = {
        "name": name,
        "match": match,
        "facts_field": facts_field,
        "facts_sep": facts_sep,
        "use_retrieved": use_retrieved or None,
        "input_col": input_col,
        "facts_col": facts_col or None,
        "expected_col": expected_col,
        "id_col": id_col,
        "facts_var": facts_var,
        "prompt": prompt,
    }
    if fmt == "promptfoo" and file.suffix.lower() in _TESTS_FORMAT:
        given["tests_format"] = _TESTS_FORMAT[file.suffix.lower()]
    try:
        options = ImportOptions.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        print_problems("invalid options:", located_errors(exc.errors()))
        raise typer.Exit(INVALID) from None
    text = _read(file)
    try:
        attachments = _attachments(fmt, text, file.parent, options)
        result = import_text(fmt, text, options, name=file.stem, attachments=attachments)
    except ImportFailed as exc:
        print_problems(f"{file}: nothing imported as {fmt}:", exc.errors)
        raise typer.Exit(INVALID) from None
    data = result.suite.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["name"] = result.suite.name
    written = _dump(data, json_out=out is not None and out.suffix.lower() == ".json")
    parse_suite_text(written, "yaml")  # what is written reads back as a valid suite
    if report is not None:
        _write(report, result.report.model_dump_json(indent=2) + "\n")
    if out is None:
        print(written, end="")
        _print_report(result.report, file, "standard output", err_console)
    else:
        _write(out, written)
        _print_report(result.report, file, str(out), console)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print_problems(f"cannot read {path}:", [str(exc)])
        raise typer.Exit(INVALID) from None


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        print_problems(f"cannot write {path}:", [exc.strerror or str(exc)])
        raise typer.Exit(INVALID) from None


def _attachments(fmt: Format, text: str, base: Path, options: ImportOptions) -> Attachments:
    """Every file:// reference, read from the config's folder (nested tests files too)."""
    texts: dict[str, str] = {}
    problems: dict[str, str] = {}
    queue = deque(references(fmt, text, options))
    while queue:
        ref = queue.popleft()
        if ref in texts or ref in problems:
            continue
        path = base / ref.removeprefix("file://").split("#", 1)[0]
        try:
            texts[ref] = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            problems[ref] = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            continue
        kind = _TESTS_FORMAT.get(path.suffix.lower())
        if kind or path.suffix.lower() in (".json", ".yaml", ".yml"):
            nested = ImportOptions.model_validate({"tests_format": kind} if kind else {})
            with contextlib.suppress(ImportFailed):  # the importer locates what is wrong there
                queue.extend(references(fmt, texts[ref], nested))
    return Attachments(texts=texts, problems=problems, followable=True)


class _Dumper(yaml.SafeDumper):
    """Multi-line texts (prompts, facts) as literal blocks, which read like the original."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _dump(data: dict[str, Any], json_out: bool) -> str:
    if json_out:
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _cases(n: int) -> str:
    return f"{n} case" if n == 1 else f"{n} cases"


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def _print_report(report: ImportReport, source: Path, target: str, out: Any) -> None:
    out.print(
        f"{source} ({report.format}): {_cases(report.imported)} imported from {report.read} "
        f"read, written to {target}",
        markup=False,
    )
    sections = [
        ("mapped", [f"{m.source} -> {m.target} ({_cases(m.cases)})" for m in report.mapped]),
        ("dropped cases", [f"{n.loc}: {n.msg}" for n in report.dropped_cases]),
        ("dropped from cases", [f"{n.loc}: {n.msg}" for n in report.dropped]),
        (
            "not used",
            [f"{f.field} (in {_records(f.records)}): {f.reason}" for f in report.ignored_fields],
        ),
        ("warnings", [f"{n.loc}: {n.msg}" if n.loc else n.msg for n in report.warnings]),
    ]
    for title, lines in sections:
        if lines:
            out.print(f"{title} ({len(lines)}):", markup=False)
            for line in lines:
                out.print(f"  {line}", markup=False, soft_wrap=True)
