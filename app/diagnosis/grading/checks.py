"""Grading one answer against its grader: every check returns a Grade."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence

from app.diagnosis.grading import patterns
from app.diagnosis.grading.judge import parse_judge_reply
from app.diagnosis.grading.schemas import first_violation, parse_json_answer
from app.diagnosis.grading.specs import (
    AllGrader,
    AnyGrader,
    ContainsGrader,
    ExactGrader,
    Grade,
    Grader,
    JsonSchemaGrader,
    JudgeGrader,
    NumericGrader,
    RegexGrader,
    failing,
    normalise,
    passing,
)

# A sign only where no digit precedes it: "10-12 days" is a range, not 10 and -12.
NUMBER = re.compile(
    r"(?<![\d.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|(?<!\d)[-+]?\.\d+"
)


def last_number(answer: str) -> float | None:
    """The last number in the answer: models state the result after their working."""
    matches = NUMBER.findall(answer)
    if not matches:
        return None
    try:
        return float(matches[-1].replace(",", ""))
    except ValueError:
        return None


def within_tolerance(number: float, spec: NumericGrader) -> bool:
    """Inclusive, and forgiving of float rounding: 3.13 is within 0.01 of 3.14."""
    diff = abs(number - spec.value)
    return diff <= spec.tolerance or math.isclose(diff, spec.tolerance, rel_tol=1e-9)


def judge_nodes(spec: Grader) -> Iterator[JudgeGrader]:
    """Judge graders inside a spec, in the order `grade` consumes their replies."""
    if isinstance(spec, JudgeGrader):
        yield spec
    elif isinstance(spec, AllGrader | AnyGrader):
        for check in spec.checks:
            yield from judge_nodes(check)


def grade(spec: Grader, answer: str, judge_replies: Sequence[str] = ()) -> Grade:
    """Grade one answer. Judge graders take their replies, in `judge_nodes` order."""
    replies = iter(judge_replies)
    return _grade(spec, answer, replies)


def _grade(spec: Grader, answer: str, replies: Iterator[str]) -> Grade:
    if isinstance(spec, ExactGrader):
        want = normalise(spec.value, spec.case_sensitive)
        if normalise(answer, spec.case_sensitive) == want:
            return passing("matches exactly")
        return failing("content", f"expected exactly {spec.value!r}")
    if isinstance(spec, ContainsGrader):
        text = normalise(answer, spec.case_sensitive)
        found = [v for v in spec.values if normalise(v, spec.case_sensitive) in text]
        need = 1 if spec.mode == "any" else len(spec.values)
        score = len(found) / len(spec.values) if spec.mode == "all" else float(bool(found))
        if len(found) >= need:
            return passing(f"contains {found[0]!r}" if spec.mode == "any" else "contains all")
        missing = [v for v in spec.values if v not in found]
        return failing("content", f"missing {', '.join(repr(m) for m in missing[:3])}", score)
    if isinstance(spec, RegexGrader):
        try:
            matched = patterns.search(spec.pattern, answer, spec.ignore_case)
        except patterns.PatternTimeout as exc:
            return failing("unscored", str(exc))
        if matched:
            return passing("matches the pattern")
        return failing("format", f"does not match /{spec.pattern}/")
    if isinstance(spec, JsonSchemaGrader):
        ok, value = parse_json_answer(answer)
        if not ok:
            return failing("format", "answer is not JSON")
        try:
            error = first_violation(spec.json_schema, value)
        except patterns.PatternTimeout as exc:
            return failing("unscored", str(exc))
        if error is None:
            return passing("valid JSON matching the schema")
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return failing("format", f"schema violation at {where}: {error.message}"[:200])
    if isinstance(spec, NumericGrader):
        number = last_number(answer)
        if number is None:
            return failing("format", "no number in the answer")
        if within_tolerance(number, spec):
            return passing(f"{number:g} is within {spec.tolerance:g} of {spec.value:g}")
        return failing("content", f"{number:g} is not within {spec.tolerance:g} of {spec.value:g}")
    if isinstance(spec, JudgeGrader):
        reply = next(replies, None)
        if reply is None:
            return failing("unscored", "no judge reply")
        return parse_judge_reply(reply)
    return _combine(spec, [_grade(check, answer, replies) for check in spec.checks])


def _combine(spec: AllGrader | AnyGrader, grades: list[Grade]) -> Grade:
    failed = [g for g in grades if g.scored and not g.passed]
    unscored = [g for g in grades if not g.scored]
    if isinstance(spec, AllGrader):
        score = sum(g.score for g in grades) / len(grades)
        if failed:
            return failing(failed[0].kind or "content", failed[0].reason, score)
        if unscored:
            return failing("unscored", unscored[0].reason, score)
        return passing("all checks pass", score)
    passed = [g for g in grades if g.passed]
    score = max(g.score for g in grades)
    if passed:
        return passing(passed[0].reason, score)
    if unscored:
        return failing("unscored", unscored[0].reason, score)
    return failing(failed[0].kind or "content", failed[0].reason, score)
