"""Grading one answer against its grader: every check returns a Grade."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence

from app.diagnosis.grading import echoes, patterns
from app.diagnosis.grading.context import GradingContext
from app.diagnosis.grading.judge import parse_judge_reply
from app.diagnosis.grading.literals import find_value
from app.diagnosis.grading.schemas import classify_violation, parse_json_answer
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
from app.diagnosis.grading.text import NUMBER, Span


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


def grade(
    spec: Grader,
    answer: str,
    judge_replies: Sequence[str] = (),
    *,
    question: str = "",
    facts: Sequence[str] = (),
) -> Grade:
    """Grade one answer. Judge graders take their replies, in `judge_nodes` order.

    Given the case's question and facts, literal checks (contains, numeric) do not credit an
    echo of the prompt, a denial, or a value stated beside a conflicting one of its kind.
    """
    replies = iter(judge_replies)
    context = GradingContext(question, tuple(facts)) if question or facts else None
    return _grade(spec, answer, replies, context)


def _grade(
    spec: Grader, answer: str, replies: Iterator[str], context: GradingContext | None
) -> Grade:
    if isinstance(spec, ExactGrader):
        want = normalise(spec.value, spec.case_sensitive)
        if normalise(answer, spec.case_sensitive) == want:
            return passing("matches exactly")
        return failing("content", f"expected exactly {spec.value!r}")
    if isinstance(spec, ContainsGrader):
        return _contains(spec, answer, context)
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
            violation = classify_violation(spec.json_schema, value)
        except patterns.PatternTimeout as exc:
            return failing("unscored", str(exc))
        if violation is None:
            return passing("valid JSON matching the schema")
        error, wrong_value = violation
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        if wrong_value:  # the right shape holding the wrong answer: content, not format
            want = json.dumps(error.validator_value)
            want = want if error.validator == "const" else f"one of {want}"
            got = json.dumps(error.instance)
            return failing("content", f"wrong value at {where}: {got}, expected {want}"[:200])
        return failing("format", f"schema violation at {where}: {error.message}"[:200])
    if isinstance(spec, NumericGrader):
        number, echo = _stated_number(answer, context)
        if number is None:
            if echo is not None:
                return failing("content", echo)
            return failing("format", "no number in the answer")
        if within_tolerance(number, spec):
            return passing(f"{number:g} is within {spec.tolerance:g} of {spec.value:g}")
        return failing("content", f"{number:g} is not within {spec.tolerance:g} of {spec.value:g}")
    if isinstance(spec, JudgeGrader):
        reply = next(replies, None)
        if reply is None:
            return failing("unscored", "no judge reply")
        return parse_judge_reply(reply)
    return _combine(spec, [_grade(check, answer, replies, context) for check in spec.checks])


def _contains(spec: ContainsGrader, answer: str, context: GradingContext | None) -> Grade:
    text = normalise(answer, spec.case_sensitive)
    findings = {v: find_value(v, text, context, spec.case_sensitive) for v in spec.values}
    found = [v for v in spec.values if findings[v].found]
    need = 1 if spec.mode == "any" else len(spec.values)
    score = len(found) / len(spec.values) if spec.mode == "all" else float(bool(found))
    if len(found) >= need:
        return passing(f"contains {found[0]!r}" if spec.mode == "any" else "contains all")
    missing = [v for v in spec.values if v not in found]
    why_not = next((findings[v].why_not for v in missing if findings[v].why_not), None)
    return failing(
        "content", why_not or f"missing {', '.join(repr(m) for m in missing[:3])}", score
    )


def _stated_number(answer: str, context: GradingContext | None) -> tuple[float | None, str | None]:
    """The last number the answer states, skipping numbers that only echo the prompt (pasted
    facts, a repeated question); when every number is an echo, why there is none."""
    if context is None:
        return last_number(answer), None
    text = normalise(answer)
    pasted = echoes.pasted_facts(text, tuple(normalise(f) for f in context.facts))
    repeated = echoes.question_copies(text, normalise(context.question))
    matches = list(NUMBER.finditer(text))
    echo: str | None = None
    for match in reversed(matches):
        span = Span(match.start(), match.end())
        if echoes.echoed_by(span, 1, pasted):
            echo = echo or "the answer's numbers are only in the injected facts it pastes back"
        elif echoes.echoed_by(span, 1, repeated, echoes.MIN_WORDS_AROUND):
            echo = echo or "the answer's numbers only repeat the question"
        else:
            try:
                return float(match.group(0).replace(",", "")), None
            except ValueError:
                continue
    return None, echo


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
