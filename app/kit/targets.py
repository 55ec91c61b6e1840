"""The answer a grader itself spells out, for fine-tuning targets and prompt examples.

A target is only taken when the grader gives a literal one (exact, a single `contains` value, a
number, a JSON Schema whose values are pinned by `const`), and only if the grader passes it:
a target the case's own grader would fail is never written.
"""

from __future__ import annotations

import json
from typing import Any

from app.diagnosis.grading import (
    AllGrader,
    AnyGrader,
    ContainsGrader,
    ExactGrader,
    Grader,
    JsonSchemaGrader,
    JudgeGrader,
    NumericGrader,
    RegexGrader,
    grade,
)

_MISSING = object()


def pinned_value(schema: Any) -> Any:
    """The one JSON value a schema allows, where `const` (or a one-value `enum`) pins it; an
    object is pinned when every required property is. `_MISSING` when the schema leaves a
    choice."""
    if not isinstance(schema, dict):
        return _MISSING
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and len(enum) == 1:
        return enum[0]
    properties = schema.get("properties")
    required = schema.get("required")
    if isinstance(properties, dict) and isinstance(required, list) and required:
        value: dict[str, Any] = {}
        for key in required:
            pinned = pinned_value(properties.get(key))
            if pinned is _MISSING:
                return _MISSING
            value[key] = pinned
        return value
    return _MISSING


def schema_example(schema: dict[str, Any]) -> str | None:
    """The pinned value of a schema as compact JSON, if it validates against the schema."""
    value = pinned_value(schema)
    if value is _MISSING:
        return None
    text = json.dumps(value, ensure_ascii=False)
    grader = JsonSchemaGrader.model_validate({"type": "json_schema", "schema": schema})
    return text if grade(grader, text).passed else None


def schema_shape(schema: dict[str, Any]) -> str | None:
    """The required keys of an object schema with their types, as a shape to fill in:
    `{"opens": <string>, "closes": <string>}`. None when there are no required keys."""
    required = schema.get("required")
    if not isinstance(required, list) or not required:
        return None
    properties = schema.get("properties") or {}
    parts = []
    for key in required:
        sub = properties.get(key) if isinstance(properties, dict) else None
        kind = sub.get("type") if isinstance(sub, dict) else None
        if isinstance(sub, dict) and "const" in sub and kind is None:
            kind = type_name(sub["const"])
        parts.append(f"{json.dumps(key)}: <{kind if isinstance(kind, str) else 'value'}>")
    return "{" + ", ".join(parts) + "}"


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _candidate(spec: Grader) -> str | None:
    if isinstance(spec, ExactGrader):
        return spec.value
    if isinstance(spec, ContainsGrader):
        return spec.values[0] if len(spec.values) == 1 else None
    if isinstance(spec, NumericGrader):
        return f"{spec.value:g}"
    if isinstance(spec, JsonSchemaGrader):
        return schema_example(spec.json_schema)
    return None


def _candidates(spec: Grader) -> list[str]:
    if isinstance(spec, AllGrader | AnyGrader):
        return [text for check in spec.checks for text in _candidates(check)]
    text = _candidate(spec)
    return [] if text is None else [text]


def literal_target(spec: Grader) -> str | None:
    """The grader's own answer, checked by the grader; None where it gives none."""
    for text in _candidates(spec):
        if text.strip() and grade(spec, text).passed:
            return text
    return None


def why_no_target(spec: Grader) -> str:
    """In words, why a grader gives no literal answer (for the labelling file)."""
    if isinstance(spec, RegexGrader):
        return f"a regex grader (/{spec.pattern}/) accepts many answers; write one"
    if isinstance(spec, JudgeGrader):
        return "a judge grader has no literal answer; write one (the reference, if any, helps)"
    if isinstance(spec, ContainsGrader):
        return f"a contains grader with {len(spec.values)} values ({spec.mode} of them); write one"
    if isinstance(spec, JsonSchemaGrader):
        return "the JSON Schema does not pin every required value with const; write one"
    if isinstance(spec, AllGrader | AnyGrader):
        return f"no check inside the {spec.type} grader gives an answer the whole grader passes"
    return "the grader gives no literal answer"


def judge_reference(spec: Grader) -> str | None:
    """A judge's reference answer, offered as a suggestion to whoever labels the case."""
    if isinstance(spec, JudgeGrader):
        return spec.reference
    if isinstance(spec, AllGrader | AnyGrader):
        return next((r for c in spec.checks if (r := judge_reference(c))), None)
    return None
