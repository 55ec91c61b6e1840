"""Graders are data: a discriminated union on `type`, so a suite file is portable.

Every check returns a `Grade`. A grade's `kind` says *why* it failed: `format` (the answer
could not be parsed into the expected shape), `content` (parsed, but wrong), or `unscored`
(a judge reply we could not read). Unscored grades never count as model failures.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FailureKind = Literal["format", "content", "unscored"]


class Grade(BaseModel):
    model_config = ConfigDict(frozen=True)

    passed: bool
    score: float
    reason: str
    kind: FailureKind | None = None

    @property
    def scored(self) -> bool:
        return self.kind != "unscored"


def _pass(reason: str, score: float = 1.0) -> Grade:
    return Grade(passed=True, score=score, reason=reason)


def _fail(kind: FailureKind, reason: str, score: float = 0.0) -> Grade:
    return Grade(passed=False, score=score, reason=reason, kind=kind)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ExactGrader(_Spec):
    type: Literal["exact"]
    value: str
    case_sensitive: bool = False


class ContainsGrader(_Spec):
    type: Literal["contains"]
    values: list[str] = Field(min_length=1)
    mode: Literal["any", "all"] = "any"
    case_sensitive: bool = False

    @field_validator("values")
    @classmethod
    def _no_empty_values(cls, values: list[str]) -> list[str]:
        if any(not normalise(v) for v in values):
            # "..." normalises to "" and would match every answer.
            raise ValueError("values must contain text, not only whitespace or punctuation")
        return values


class RegexGrader(_Spec):
    type: Literal["regex"]
    pattern: str
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return pattern


class JsonSchemaGrader(_Spec):
    type: Literal["json_schema"]
    json_schema: dict[str, Any] = Field(alias="schema")

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"invalid JSON Schema: {exc.message}") from exc
        return schema


class NumericGrader(_Spec):
    type: Literal["numeric"]
    value: float
    tolerance: float = Field(default=0.0, ge=0)

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value


class JudgeGrader(_Spec):
    type: Literal["judge"]
    rubric: str | None = None
    reference: str | None = None

    @model_validator(mode="after")
    def _needs_something_to_judge_by(self) -> JudgeGrader:
        if not (self.rubric or self.reference):
            raise ValueError("a judge grader needs a rubric, a reference, or both")
        return self


class AllGrader(_Spec):
    type: Literal["all"]
    checks: list[Grader] = Field(min_length=1)


class AnyGrader(_Spec):
    type: Literal["any"]
    checks: list[Grader] = Field(min_length=1)


Grader = Annotated[
    ExactGrader
    | ContainsGrader
    | RegexGrader
    | JsonSchemaGrader
    | NumericGrader
    | JudgeGrader
    | AllGrader
    | AnyGrader,
    Field(discriminator="type"),
]
AllGrader.model_rebuild()
AnyGrader.model_rebuild()

_WS = re.compile(r"\s+")
_EDGE_PUNCT = " \t\n.,;:!?\"'`"


def normalise(text: str, case_sensitive: bool = False) -> str:
    """Unicode-normalise, collapse whitespace and trim edge punctuation ("Paris." == "paris")."""
    text = unicodedata.normalize("NFKC", text)
    text = _WS.sub(" ", text).strip(_EDGE_PUNCT)
    return text if case_sensitive else text.casefold()


_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)


def parse_json_answer(answer: str) -> tuple[bool, Any]:
    """The whole answer as JSON, or the contents of a fenced code block."""
    candidates = [answer.strip()] + [m.group(1).strip() for m in _FENCE.finditer(answer)]
    for candidate in candidates:
        try:
            return True, json.loads(candidate)
        except ValueError:
            continue
    return False, None


# A sign only where no digit precedes it: "10-12 days" is a range, not 10 and -12.
_NUMBER = re.compile(
    r"(?<![\d.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|(?<!\d)[-+]?\.\d+"
)


def last_number(answer: str) -> float | None:
    """The last number in the answer: models state the result after their working."""
    matches = _NUMBER.findall(answer)
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
            return _pass("matches exactly")
        return _fail("content", f"expected exactly {spec.value!r}")
    if isinstance(spec, ContainsGrader):
        text = normalise(answer, spec.case_sensitive)
        found = [v for v in spec.values if normalise(v, spec.case_sensitive) in text]
        need = 1 if spec.mode == "any" else len(spec.values)
        score = len(found) / len(spec.values) if spec.mode == "all" else float(bool(found))
        if len(found) >= need:
            return _pass(f"contains {found[0]!r}" if spec.mode == "any" else "contains all")
        missing = [v for v in spec.values if v not in found]
        return _fail("content", f"missing {', '.join(repr(m) for m in missing[:3])}", score)
    if isinstance(spec, RegexGrader):
        flags = re.IGNORECASE if spec.ignore_case else 0
        if re.search(spec.pattern, answer, flags):
            return _pass("matches the pattern")
        return _fail("format", f"does not match /{spec.pattern}/")
    if isinstance(spec, JsonSchemaGrader):
        ok, value = parse_json_answer(answer)
        if not ok:
            return _fail("format", "answer is not JSON")
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(spec.json_schema).iter_errors(value)
        )
        if error is None:
            return _pass("valid JSON matching the schema")
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return _fail("format", f"schema violation at {where}: {error.message}"[:200])
    if isinstance(spec, NumericGrader):
        number = last_number(answer)
        if number is None:
            return _fail("format", "no number in the answer")
        if within_tolerance(number, spec):
            return _pass(f"{number:g} is within {spec.tolerance:g} of {spec.value:g}")
        return _fail("content", f"{number:g} is not within {spec.tolerance:g} of {spec.value:g}")
    if isinstance(spec, JudgeGrader):
        reply = next(replies, None)
        if reply is None:
            return _fail("unscored", "no judge reply")
        return parse_judge_reply(reply)
    return _combine(spec, [_grade(check, answer, replies) for check in spec.checks])


def _combine(spec: AllGrader | AnyGrader, grades: list[Grade]) -> Grade:
    failed = [g for g in grades if g.scored and not g.passed]
    unscored = [g for g in grades if not g.scored]
    if isinstance(spec, AllGrader):
        score = sum(g.score for g in grades) / len(grades)
        if failed:
            return _fail(failed[0].kind or "content", failed[0].reason, score)
        if unscored:
            return _fail("unscored", unscored[0].reason, score)
        return _pass("all checks pass", score)
    passed = [g for g in grades if g.passed]
    score = max(g.score for g in grades)
    if passed:
        return _pass(passed[0].reason, score)
    if unscored:
        return _fail("unscored", unscored[0].reason, score)
    return _fail(failed[0].kind or "content", failed[0].reason, score)


JUDGE_SYSTEM_PROMPT = (
    "You grade an answer to a task. Reply with one JSON object and nothing else: "
    '{"passed": true|false, "score": <0..1>, "reason": "<one short sentence>"}.'
)


def judge_messages(spec: JudgeGrader, case_input: str, answer: str) -> list[dict[str, str]]:
    parts = [f"Task:\n{case_input}", f"Answer to grade:\n{answer}"]
    if spec.reference:
        parts.append(f"Reference answer:\n{spec.reference}")
    if spec.rubric:
        parts.append(f"Rubric:\n{spec.rubric}")
    return [
        {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def parse_judge_reply(reply: str) -> Grade:
    """Read a judge's verdict; anything unreadable is `unscored`, never a silent failure."""
    ok, value = parse_json_answer(reply)
    if not ok:
        match = re.search(r"\{.*\}", reply, re.DOTALL)
        ok, value = parse_json_answer(match.group(0)) if match else (False, None)
    if ok and isinstance(value, dict) and isinstance(value.get("passed"), bool):
        passed: bool = value["passed"]
        raw_score = value.get("score")
        score = float(raw_score) if isinstance(raw_score, int | float) else float(passed)
        score = min(1.0, max(0.0, score))
        reason = str(value.get("reason") or ("judge passed" if passed else "judge failed"))[:200]
        return _pass(reason, score) if passed else _fail("content", reason, score)
    verdict = reply.strip().upper()
    if verdict in {"PASS", "PASSED"}:
        return _pass("judge passed")
    if verdict in {"FAIL", "FAILED"}:
        return _fail("content", "judge failed")
    return _fail("unscored", f"unreadable judge reply: {reply.strip()[:80]!r}")


def expected_literals(spec: Grader) -> list[str] | None:
    """Literal answers a grader expects, or None where there is no literal (regex, judge...)."""
    if isinstance(spec, ExactGrader):
        return [spec.value]
    if isinstance(spec, ContainsGrader):
        return list(spec.values)
    if isinstance(spec, NumericGrader):
        return [f"{spec.value:g}"]
    return None


def facts_cover_answer(spec: Grader, facts: Sequence[str]) -> bool | None:
    """Do the injected facts contain the expected answer? None where it can't be checked.

    A `behavior` label is only trustworthy if the facts were sufficient; this flags cases
    where the open-book arm could not have passed by reading alone.
    """
    if isinstance(spec, AllGrader | AnyGrader):
        results = [facts_cover_answer(check, facts) for check in spec.checks]
        known = [r for r in results if r is not None]
        if not known:
            return None
        return all(known) if isinstance(spec, AllGrader) else any(known)
    literals = expected_literals(spec)
    if literals is None:
        return None
    text = normalise(" ".join(facts))
    if isinstance(spec, NumericGrader):
        numbers = [float(n.replace(",", "")) for n in _NUMBER.findall(" ".join(facts))]
        return any(within_tolerance(n, spec) for n in numbers)
    found = [normalise(lit) in text for lit in literals]
    if isinstance(spec, ContainsGrader) and spec.mode == "any":
        return any(found)
    return all(found)
