"""Grading: graders as data (specs), checks, bounded patterns and schemas, the judge, and
whether the facts cover the expected answer."""

from app.diagnosis.grading.checks import grade, judge_nodes, last_number, within_tolerance
from app.diagnosis.grading.coverage import expected_literals, facts_cover_answer
from app.diagnosis.grading.judge import JUDGE_SYSTEM_PROMPT, judge_messages, parse_judge_reply
from app.diagnosis.grading.schemas import parse_json_answer
from app.diagnosis.grading.specs import (
    AllGrader,
    AnyGrader,
    ContainsGrader,
    ExactGrader,
    FailureKind,
    Grade,
    Grader,
    JsonSchemaGrader,
    JudgeGrader,
    NumericGrader,
    RegexGrader,
    normalise,
)

__all__ = [
    "JUDGE_SYSTEM_PROMPT",
    "AllGrader",
    "AnyGrader",
    "ContainsGrader",
    "ExactGrader",
    "FailureKind",
    "Grade",
    "Grader",
    "JsonSchemaGrader",
    "JudgeGrader",
    "NumericGrader",
    "RegexGrader",
    "expected_literals",
    "facts_cover_answer",
    "grade",
    "judge_messages",
    "judge_nodes",
    "last_number",
    "normalise",
    "parse_json_answer",
    "parse_judge_reply",
    "within_tolerance",
]
