"""Where a promptfoo config's tests come from: inline, `file://` CSV, JSON, JSONL or YAML files,
or the file itself when it is a tests file; a CSV row is read the way promptfoo reads it.

Files are read by the caller (the CLI, next to the config) and handed over as attachments;
where only one file arrives (the API) a reference is reported with how to send it instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from app.importers.common import Attachments, SuiteBuilder, at, fail, in_file
from app.importers.models import ImportOptions
from app.importers.promptfoo_asserts import assertion_from_string
from app.importers.records import csv_rows, jsonl_records, parse_yaml

_CODE = (".js", ".cjs", ".mjs", ".ts", ".py")
_RUN_SETTINGS = [
    "evaluateOptions",
    "outputPath",
    "sharing",
    "env",
    "commandLineOptions",
    "derivedMetrics",
    "extensions",
    "nunjucksFilters",
    "writeLatestResults",
    "tags",
    "metadata",
    "redteam",
    "tracing",
]
_HOW = {
    "tests": "send that file itself (format=promptfoo, with tests_format=csv or jsonl; a JSON "
    "or YAML list of tests as it is), put the tests inline in the config, or run `rung import "
    "promptfoo` where the files are (it follows file:// references) and POST the suite it "
    "writes to /v1/suites",
    "prompt": "pass the template itself as prompt, or put the prompt inline in the config",
    "file": "put its content inline in the config, or run `rung import promptfoo` where the "
    "files are and POST the suite it writes to /v1/suites",
}


@dataclass
class RawTest:
    loc: str
    data: dict[str, Any]
    assert_locs: list[str] | None = None  # where each assertion is, when not at assert[i]


class Files:
    """The file:// references this import may follow, and how to say why one was not."""

    def __init__(self, attachments: Attachments, builder: SuiteBuilder) -> None:
        self.attachments = attachments
        self.builder = builder

    def text(self, ref: str, loc: str, kind: str = "file", case: bool = False) -> str | None:
        if ref in self.attachments.texts:
            return self.attachments.texts[ref]
        if self.attachments.followable:
            why = f"{ref} could not be read: {self.attachments.problems.get(ref, 'not found')}"
        else:
            why = f"{ref} names another file, which the API cannot follow (it receives one "
            why += f"file): {_HOW[kind]}"
        (self.builder.drop_case if case else self.builder.drop)(loc, why)
        return None


def references(text: str, options: ImportOptions) -> list[str]:
    """The file:// references a config (or tests file) names, for a caller that can read them."""
    if options.tests_format == "csv":
        _, rows = csv_rows(text)
        values: list[Any] = [v for _, row in rows for v in row.values()]
    elif options.tests_format == "jsonl":
        values = [record for _, record in jsonl_records(text)]
    else:
        values = [parse_yaml(text)]
    found: dict[str, None] = {}
    while values:
        value = values.pop()
        if isinstance(value, dict):
            values.extend(value.values())
        elif isinstance(value, list):
            values.extend(value)
        elif isinstance(value, str) and value.startswith("file://"):
            path = value.removeprefix("file://").split("#", 1)[0]
            if not path.split(":", 1)[0].endswith(_CODE) and "*" not in path:
                found[value] = None
    return list(found)


def config_tests(config: dict[str, Any], files: Files, builder: SuiteBuilder) -> list[RawTest]:
    for key in config:
        if key == "providers":
            builder.ignore(key, "rung runs the model a run names")
        elif key == "scenarios":
            builder.ignore(key, "scenarios multiply tests by config variants: not imported")
        elif key in _RUN_SETTINGS:
            builder.ignore(key, "a promptfoo run setting")
        elif key not in ("description", "prompts", "tests", "defaultTest"):
            builder.ignore(key, "not used by rung")
    raw = config.get("tests")
    if raw is None:
        fail("tests", "the config has no tests")
    items = raw if isinstance(raw, list) else [raw]
    tests: list[RawTest] = []
    for index, item in enumerate(items):
        loc = f"tests[{index}]" if isinstance(raw, list) else "tests"
        if isinstance(item, dict) and "path" in item and "vars" not in item:
            item = item["path"]  # a generator with its config
        if isinstance(item, dict):
            tests.append(RawTest(loc, item))
        elif isinstance(item, str):
            tests.extend(_referenced_tests(item, loc, files, builder))
        else:
            fail(loc, "a test must be an object with vars and assert, or a file:// reference")
    return tests


def _referenced_tests(ref: str, loc: str, files: Files, builder: SuiteBuilder) -> list[RawTest]:
    if not ref.startswith("file://"):
        builder.drop_case(
            loc, f"{ref}: tests fetched from elsewhere are not followed; export them to CSV or JSON"
        )
        return []
    path = ref.removeprefix("file://")
    suffix = PurePosixPath(path.split(":", 1)[0]).suffix.lower()
    if suffix in _CODE:
        builder.drop_case(
            loc,
            f"{ref} generates tests by running code, which rung does not "
            "run: write them to a JSON file and import that",
        )
        return []
    if any(c in path for c in "*?[") or suffix in (".xlsx", ".xls"):
        builder.drop_case(
            loc, f"{ref}: globs and Excel files are not followed; name each CSV, JSON or YAML file"
        )
        return []
    text = files.text(ref, loc, "tests", case=True)
    if text is None:
        return []
    kind = {".csv": "csv", ".jsonl": "jsonl"}.get(suffix, "yaml")
    return in_file(path, lambda: file_tests(text, kind, path, builder))


def file_tests(text: str, kind: str, base: str, builder: SuiteBuilder) -> list[RawTest]:
    where = (lambda loc: f"{base} {loc}") if base else (lambda loc: loc)
    if kind == "csv":
        return [_csv_test(where(loc), row, builder) for loc, row in csv_rows(text)[1]]
    if kind == "jsonl":
        return [RawTest(where(loc), record) for loc, record in jsonl_records(text)]
    data = parse_yaml(text)
    if isinstance(data, dict):
        return [RawTest(base or "test", data)]
    if not isinstance(data, list):
        fail("", "a tests file holds a list of tests")
    return [RawTest(f"{base}[{i}]" if base else f"tests[{i}]", t) for i, t in enumerate(data)]


def _csv_test(loc: str, row: dict[str, str], builder: SuiteBuilder) -> RawTest:
    """One CSV row as promptfoo reads it: columns are vars, `__` columns are special."""
    test: dict[str, Any] = {"vars": {}, "assert": [], "options": {}, "metadata": {}}
    locs: list[str] = []
    for key, value in row.items():
        if key.startswith("__expected"):
            if value.strip():
                test["assert"].append(assertion_from_string(value))
                locs.append(at(loc, key))
        elif key == "__description":
            test["description"] = value
        elif key in ("__prefix", "__suffix"):
            test["options"][key[2:]] = value
        elif key.startswith("__metadata:"):
            name = key.removeprefix("__metadata:")
            if name.endswith("[]"):  # an array: comma-separated, `\,` for a literal comma
                items = re.split(r"(?<!\\),", value)
                test["metadata"][name[:-2]] = [i.replace("\\,", ",").strip() for i in items]
            else:
                test["metadata"][name] = value
        elif key.startswith("__"):
            builder.ignore(key, "a promptfoo scoring setting (metric, threshold, config)")
        else:
            test["vars"][key] = value
    return RawTest(loc, test, locs)
