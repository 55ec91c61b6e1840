"""JSON answers and JSON Schemas: parse an answer, check a schema up front, validate safely.

A schema is checked when the suite is validated, not when the first answer arrives: against the
metaschema, every `$ref` must resolve inside the schema (nothing is fetched), and every
`pattern` must compile. At grading time patterns run under the time limit of `patterns`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from app.diagnosis.grading import patterns

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


def _root(schema: dict[str, Any]) -> tuple[Resource[Any], Registry[Any]]:
    resource: Resource[Any] = Resource.from_contents(schema, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(uri=resource.id() or "", resource=resource)
    return resource, registry.crawl()


def _walk(resource: Resource[Any], resolver: Any) -> Iterator[str]:
    """A problem for every $ref that does not resolve and every pattern that does not compile,
    each looked up from the base URI of the subschema it is in."""
    contents = resource.contents
    if isinstance(contents, dict):
        for keyword in ("$ref", "$dynamicRef"):
            ref = contents.get(keyword)
            if isinstance(ref, str):
                try:
                    resolver.lookup(ref)
                except Unresolvable:
                    yield f"$ref {ref!r} does not resolve inside the schema (nothing is fetched)"
        pattern = contents.get("pattern")
        if isinstance(pattern, str) and (error := patterns.compile_error(pattern)):
            yield f"pattern {pattern!r} is not a valid regular expression: {error}"
        for name in contents.get("patternProperties") or {}:
            if isinstance(name, str) and (error := patterns.compile_error(name)):
                yield f"patternProperties {name!r} is not a valid regular expression: {error}"
    for sub in resource.subresources():
        yield from _walk(sub, resolver.in_subresource(sub))


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why this schema cannot grade answers, or None.

    Cached by the schema's text: every stored case is validated again when it is read, and a
    suite's cases usually share a handful of schemas (the check costs milliseconds each).
    """
    return _schema_problem(json.dumps(schema, sort_keys=True))


@lru_cache(maxsize=4096)
def _schema_problem(text: str) -> str | None:
    schema = json.loads(text)
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"invalid JSON Schema: {exc.message}"
    resource, registry = _root(schema)
    return next(_walk(resource, registry.resolver(base_uri=resource.id() or "")), None)


def _bounded_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not patterns.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _bounded_pattern_properties(
    validator: Any, pattern_properties: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            if patterns.search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


_SafeValidator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    {"pattern": _bounded_pattern, "patternProperties": _bounded_pattern_properties},
)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def is_wrong_value(error: jsonschema.ValidationError) -> bool:
    """A field that holds a value of the right type, but not the one the schema names.

    `const` and `enum` below the root name the expected answer itself: `{"refund_days": 12}`
    against `const: 45` is well-formed and wrong (content). A value of another type
    (`"45"` or `[45]`), a missing or extra key, or an enum at the root (the answer as a whole
    must be one of the listed forms) is a shape problem (format).
    """
    if error.validator not in ("const", "enum") or not error.absolute_path:
        return False
    named: Any = error.validator_value
    allowed = [named] if error.validator == "const" else list(named)
    return any(_json_type(a) == _json_type(error.instance) for a in allowed)


def classify_violation(
    schema: dict[str, Any], value: Any
) -> tuple[jsonschema.ValidationError, bool] | None:
    """The most relevant way `value` breaks `schema`, and whether it only holds wrong values
    (every error `is_wrong_value`); None when it is valid. Local references only."""
    _, registry = _root(schema)
    validator = _SafeValidator(schema, registry=registry)
    errors = list(validator.iter_errors(value))
    if not errors:
        return None
    shape = [e for e in errors if not is_wrong_value(e)]
    best: jsonschema.ValidationError = jsonschema.exceptions.best_match(shape or errors)
    return best, not shape
