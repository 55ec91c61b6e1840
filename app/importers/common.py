"""What every importer shares: located errors, value helpers, and the suite builder.

Importers are pure: text in, a `Suite` and an `ImportReport` out, no file or network I/O.
Input the other tool would reject itself (a record that is not JSON, an assertion without a
type) is an `ImportFailed` naming its place in the file. Input that is valid there but cannot
become a rung case (no facts, no expected answer) is dropped, and the report says where and why.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

from pydantic import TypeAdapter, ValidationError

from app.diagnosis.grading import Grader
from app.diagnosis.suite import (
    Case,
    FieldError,
    LocatedError,
    Suite,
    SuiteError,
    first_nul,
    located_errors,
)
from app.importers.models import (
    FieldMapping,
    Format,
    IgnoredField,
    ImportNote,
    ImportReport,
    MatchMode,
)

T = TypeVar("T")
_LINE = re.compile(r"(^|\s)line \d+$")
MAX_CASES = 50_000  # a bound on what one file may expand to (promptfoo multiplies list vars)


class ImportFailed(LocatedError):
    """The file cannot be imported: every problem located in the file (or the option at fault)."""


def fail(loc: str, msg: str) -> NoReturn:
    raise ImportFailed([FieldError(loc, msg)])


def in_file(path: str, read: Callable[[], T]) -> T:
    """`read()`, with any problem it raises located in the named file (a referenced one)."""
    try:
        return read()
    except ImportFailed as exc:
        errors = [FieldError(f"{path} {e.loc}".strip(), e.msg) for e in exc.errors]
        raise ImportFailed(errors) from None


@dataclass(frozen=True)
class Attachments:
    """Files a config names (promptfoo's `file://`), read by the caller: the importer reads none.

    `followable` is False where only one file arrives (the API): a reference cannot be followed.
    """

    texts: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    followable: bool = False


@dataclass(frozen=True)
class ImportResult:
    suite: Suite
    report: ImportReport


def at(loc: str, key: str | int) -> str:
    """A location inside another: tests[3].assert, tests[3].assert[0], line 7: vars."""
    if isinstance(key, int):
        return f"{loc}[{key}]"
    if not loc:
        return key
    if _LINE.search(loc):
        return f"{loc}: {key}"
    return f"{loc}.{key}"


def as_text(value: Any) -> str | None:
    """A scalar as text (the other tools stringify numbers too); None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def text_list(value: Any, sep: str | None = None) -> list[str]:
    """Facts from a list of texts, or one text split on `sep`; empty entries are left out."""
    if value is None:
        return []
    if isinstance(value, list):
        items = [as_text(v) or "" for v in value]
    else:
        text = as_text(value) or ""
        items = text.split(sep) if sep else [text]
    return [item.strip() for item in items if item.strip()]


def expected_grader(targets: Sequence[str], match: MatchMode) -> dict[str, Any]:
    """An expected answer (several mean: any of them) as a grader of the chosen kind."""
    if match == "contains":
        return {"type": "contains", "values": list(targets)}
    if match == "exact":
        checks = [{"type": "exact", "value": t} for t in targets]
        return checks[0] if len(checks) == 1 else {"type": "any", "checks": checks}
    reference = targets[0] if len(targets) == 1 else "Any one of: " + " | ".join(targets)
    return {"type": "judge", "reference": reference}


_GRADER: TypeAdapter[Any] = TypeAdapter(Grader)


def grader_problem(grader: dict[str, Any]) -> str | None:
    """Why rung would refuse this grader (a regex that does not compile...), or None."""
    try:
        _GRADER.validate_python(grader)
    except ValidationError as exc:
        return "; ".join(str(e) for e in located_errors(exc.errors()))
    return None


def judge_warning(builder: SuiteBuilder, match: MatchMode) -> None:
    if match == "judge":
        builder.warn(
            "match",
            "expected answers are graded by an LLM judge against the reference: a run needs "
            "judge_model (use match contains or exact when the references are short answers)",
        )


class SuiteBuilder:
    """Collects cases and everything the report says about them, then builds the suite."""

    def __init__(self, fmt: Format) -> None:
        self.report = ImportReport(format=fmt)
        self._cases: list[tuple[Case, str | None]] = []
        self._ids: set[str] = set()
        self._mapped: Counter[tuple[str, str]] = Counter()
        self._ignored: dict[str, tuple[int, str]] = {}
        self._tallies: dict[str, list[str]] = {}
        self._said: set[tuple[str, str, str]] = set()  # (kind, loc, msg) already in the report

    def _once(self, kind: str, loc: str, msg: str) -> bool:
        key = (kind, loc, msg)
        if key in self._said:
            return False
        self._said.add(key)
        return True

    def map(self, source: str, target: str) -> None:
        self._mapped[(source, target)] += 1

    def ignore(self, field_name: str, reason: str, records: int = 1) -> None:
        count, _ = self._ignored.get(field_name, (0, reason))
        self._ignored[field_name] = (count + records, reason)

    def drop_case(self, loc: str, reason: str) -> None:
        self.report.dropped_cases.append(ImportNote(loc=loc, msg=reason))

    def drop(self, loc: str, reason: str) -> None:
        """A part left out (an assertion...); said once, however many cases shared it."""
        if self._once("dropped", loc, reason):
            self.report.dropped.append(ImportNote(loc=loc, msg=reason))

    def warn(self, loc: str, msg: str) -> None:
        if self._once("warning", loc, msg):
            self.report.warnings.append(ImportNote(loc=loc, msg=msg))

    def tally(self, loc: str, msg: str) -> None:
        """A warning that may hold for many records: reported once, with how many."""
        self._tallies.setdefault(msg, []).append(loc)

    def add(
        self,
        loc: str,
        *,
        case_id: str,
        input: str,
        facts: list[str],
        expected: dict[str, Any],
        tags: Sequence[str] = (),
        system: str | None = None,
    ) -> bool:
        """Add a case, or drop it with the reason rung would refuse it."""
        if len(self._cases) >= MAX_CASES:
            fail(loc, f"the file holds more than {MAX_CASES} cases; split it")
        case_id = self._unique(loc, case_id[:200].strip() or "case")
        data = {"id": case_id, "input": input, "facts": facts, "expected": expected}
        data["tags"] = list(dict.fromkeys(t for t in tags if t))
        where = first_nul({**data, "system": system})
        if where is not None:
            self.drop_case(loc, f"{where} holds the NUL character (\\u0000)")
            return False
        try:
            case = Case.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(str(e) for e in located_errors(exc.errors()))
            self.drop_case(loc, f"not a valid rung case: {problems}")
            return False
        self._ids.add(case.id)
        self._cases.append((case, system or None))
        return True

    def _unique(self, loc: str, case_id: str) -> str:
        if case_id not in self._ids:
            return case_id
        n = 2
        while f"{case_id}-{n}" in self._ids:
            n += 1
        self.tally(loc, "case ids repeated in the file get a -2, -3... suffix")
        return f"{case_id}-{n}"

    def build(self, name: str, description: str = "") -> ImportResult:
        report = self.report
        report.mapped = [
            FieldMapping(source=s, target=t, cases=n) for (s, t), n in self._mapped.items()
        ]
        report.ignored_fields = [
            IgnoredField(field=f, records=n, reason=r) for f, (n, r) in self._ignored.items()
        ]
        for msg, locs in self._tallies.items():
            where = locs[0] if len(locs) == 1 else f"{locs[0]} and {len(locs) - 1} more"
            report.warnings.append(ImportNote(loc=where, msg=msg))
        if not self._cases:
            raise ImportFailed(
                [
                    FieldError("", f"no valid rung case in the file ({report.read} read)"),
                    *(FieldError(n.loc, n.msg) for n in report.dropped_cases[:50]),
                ]
            )
        system = self._system_prompt()
        cases = [self._with_system(case, own, system) for case, own in self._cases]
        try:
            suite = Suite.model_validate(
                {
                    "name": name.strip()[:200] or "imported",
                    "description": description,
                    "system_prompt": system,
                    "cases": cases,
                }
            )
        except SuiteError as exc:
            raise ImportFailed(exc.errors) from None
        except ValidationError as exc:
            raise ImportFailed(located_errors(exc.errors())) from None
        report.imported = len(suite.cases)
        return ImportResult(suite=suite, report=report)

    def _system_prompt(self) -> str:
        """A suite has one system prompt: the one most cases carry."""
        counts = Counter(own for _, own in self._cases)
        chosen, _ = counts.most_common(1)[0]
        other = sum(n for own, n in counts.items() if own != chosen and own is not None)
        without = counts[None] if chosen is not None else 0
        if other:
            self.warn(
                "system",
                f"{other} case(s) carry a system prompt other than the suite's (the one most "
                "cases carry): theirs is written at the start of their input",
            )
        if without:
            self.warn("system", f"{without} case(s) had no system prompt and get the suite's")
        return chosen or ""

    @staticmethod
    def _with_system(case: Case, own: str | None, system: str) -> Case:
        if own and own != system:
            return case.model_copy(update={"input": f"{own}\n\n{case.input}"})
        return case
