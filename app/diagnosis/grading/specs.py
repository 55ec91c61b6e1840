"""Graders are data: a discriminated union on `type`, so a suite file is portable.

Every check returns a `Grade`. A grade's `kind` says *why* it failed: `format` (the answer
could not be parsed into the expected shape), `content` (parsed, but wrong), or `unscored`
(a judge reply we could not read, or a grader that could not run). Unscored grades never count
as model failures.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.diagnosis.grading.patterns import compile_error
from app.diagnosis.grading.schemas import schema_problem

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


def passing(reason: str, score: float = 1.0) -> Grade:
    return Grade(passed=True, score=score, reason=reason)


def failing(kind: FailureKind, reason: str, score: float = 0.0) -> Grade:
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
        if error := compile_error(pattern):
            raise ValueError(f"invalid regular expression: {error}")
        return pattern


class JsonSchemaGrader(_Spec):
    type: Literal["json_schema"]
    json_schema: dict[str, Any] = Field(alias="schema")

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        if problem := schema_problem(schema):
            raise ValueError(problem)
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
