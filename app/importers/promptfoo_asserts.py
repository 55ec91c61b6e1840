"""promptfoo assertions as rung graders.

`equals` → exact (case-sensitive; a JSON value → json_schema with that `const`), `contains` /
`icontains` / `contains-any` / `contains-all` / `icontains-any` / `icontains-all` → contains,
`regex` → regex, `starts-with` → an anchored regex, `is-json` → json_schema (its schema, or
any JSON), `llm-rubric` / `g-eval` / `model-graded-closedqa` → judge with a rubric,
`factuality` / `model-graded-factuality` → judge with a reference, `assert-set` → all. Every
other type is dropped with the reason rung cannot grade it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from app.importers.common import as_text, at, fail, grader_problem, text_list

# promptfoo's assertion types (BaseAssertionTypesSchema), to read a CSV `__expected` cell.
BASE_TYPES = [
    "answer-relevance",
    "bleu",
    "classifier",
    "contains",
    "contains-all",
    "contains-any",
    "contains-html",
    "contains-json",
    "contains-sql",
    "contains-xml",
    "context-faithfulness",
    "context-recall",
    "context-relevance",
    "conversation-relevance",
    "cost",
    "equals",
    "factuality",
    "finish-reason",
    "g-eval",
    "gleu",
    "guardrails",
    "icontains",
    "icontains-all",
    "icontains-any",
    "is-html",
    "is-json",
    "is-refusal",
    "is-sql",
    "is-valid-function-call",
    "is-valid-openai-function-call",
    "is-valid-openai-tools-call",
    "is-xml",
    "javascript",
    "latency",
    "levenshtein",
    "llm-rubric",
    "pi",
    "meteor",
    "model-graded-closedqa",
    "model-graded-factuality",
    "moderation",
    "perplexity",
    "perplexity-score",
    "python",
    "regex",
    "rouge-n",
    "ruby",
    "similar",
    "similar:cosine",
    "similar:dot",
    "similar:euclidean",
    "starts-with",
    "tool-call-f1",
    "trace-error-spans",
    "trace-span-count",
    "trace-span-duration",
    "webhook",
    "word-count",
]
_BY_LENGTH = "|".join(re.escape(t) for t in sorted(BASE_TYPES, key=len, reverse=True))
_ASSERTION = re.compile(rf"^(not-)?({_BY_LENGTH})(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$")
_LISTS = ("contains-all", "contains-any", "icontains-all", "icontains-any")

_WHY = {
    ("javascript", "python", "ruby", "webhook"): "runs your code, which rung does not run",
    (
        "similar",
        "similar:cosine",
        "similar:dot",
        "similar:euclidean",
        "levenshtein",
        "rouge-n",
        "bleu",
        "gleu",
        "meteor",
        "f-score",
    ): "a similarity score against a threshold (embeddings or n-grams): rung's graders pass "
    "or fail on the answer's content",
    (
        "cost",
        "latency",
        "perplexity",
        "perplexity-score",
        "finish-reason",
        "trace-error-spans",
        "trace-span-count",
        "trace-span-duration",
    ): "measures the call (cost, latency, tokens, traces), not the answer",
    (
        "context-faithfulness",
        "context-recall",
        "context-relevance",
        "answer-relevance",
        "conversation-relevance",
    ): "grades a RAG pipeline's retrieved context or an answer's relevance: rung's with-facts "
    "arm is its own test of the facts",
    ("classifier", "moderation", "guardrails", "is-refusal", "pi"): "needs a classifier or "
    "a moderation model",
    (
        "is-valid-function-call",
        "is-valid-openai-function-call",
        "is-valid-openai-tools-call",
        "tool-call-f1",
    ): "checks tool or function calls: rung grades text answers",
    ("select-best", "max-score", "human"): "compares outputs across prompts, or asks a person",
    ("is-sql", "contains-sql", "is-xml", "contains-xml", "is-html", "contains-html"): "rung "
    "has no SQL, XML or HTML grader",
    ("contains-json",): "accepts JSON anywhere in the answer; rung's json_schema needs the "
    "whole answer (or a fenced code block) to be JSON",
}
REASONS = {kind: why for kinds, why in _WHY.items() for kind in kinds}

Render = Callable[[Any], Any]  # substitutes the test's vars into an assertion's value
Schema = Callable[[str, str], Any]  # (file:// reference, where) -> the parsed schema, or None


def assertion_from_string(expected: str) -> dict[str, Any]:
    """A CSV `__expected` cell as promptfoo reads it: `type: value`, or a bare `equals` value."""
    for prefix, kind in (
        ("javascript:", "javascript"),
        ("fn:", "javascript"),
        ("eval:", "javascript"),
        ("grade:", "llm-rubric"),
        ("llm-rubric:", "llm-rubric"),
        ("python:", "python"),
    ):
        if expected.startswith(prefix):
            return {"type": kind, "value": expected[len(prefix) :].strip()}
    if expected.startswith("file://") and re.search(r"\.(py|js|ts)(:|$)", expected):
        return {"type": "python" if ".py" in expected else "javascript", "value": expected}
    found = _ASSERTION.match(expected)
    if found is None:
        return {"type": "equals", "value": expected}
    negated, kind, _threshold, value = found.groups()
    kind = f"not-{kind}" if negated else kind
    value = (value or "").strip()
    if kind.removeprefix("not-") in _LISTS:
        return {"type": kind, "value": [v.strip() for v in value.split(",")]}
    return {"type": kind, "value": value or None}


def to_grader(
    assertion: Any, loc: str, render: Render, schema: Schema
) -> tuple[dict[str, Any] | None, str]:
    """(the grader, what it became) or (None, why it is dropped). Malformed: ImportFailed."""
    if not isinstance(assertion, dict):
        fail(loc, "an assertion must be an object with a type")
    kind = assertion.get("type")
    if not isinstance(kind, str) or not kind:
        fail(at(loc, "type"), "missing: every assertion has a type")
    if kind.startswith("not-"):
        return None, f"{kind}: rung has no negated graders"
    if assertion.get("transform") or assertion.get("contextTransform"):
        return None, f"{kind} grades a transformed output; rung grades the answer as it is"
    if kind == "assert-set":
        return _assert_set(assertion, loc, render, schema)
    grader = _grader(kind, render(assertion.get("value")), at(loc, "value"), schema)
    if isinstance(grader, str):
        return None, f"{kind}: {grader}"
    problem = grader_problem(grader)
    if problem:
        return None, f"{kind}: rung cannot use it: {problem}"
    return grader, f"{kind} -> {grader['type']}"


def _assert_set(
    assertion: dict[str, Any], loc: str, render: Render, schema: Schema
) -> tuple[dict[str, Any] | None, str]:
    if assertion.get("threshold") is not None:
        return None, "assert-set with a threshold (a minimum score) has no rung equivalent"
    children = assertion.get("assert")
    if not isinstance(children, list) or not children:
        fail(at(loc, "assert"), "an assert-set needs a list of assertions")
    checks = []
    for index, child in enumerate(children):
        grader, why = to_grader(child, at(at(loc, "assert"), index), render, schema)
        if grader is None:
            return None, f"assert-set: its assert[{index}] is dropped ({why})"
        checks.append(grader)
    return {"type": "all", "checks": checks}, "assert-set -> all"


def _grader(kind: str, value: Any, loc: str, schema: Schema) -> dict[str, Any] | str:
    """The grader for one assertion type, or why there is none."""
    if kind == "equals":
        if isinstance(value, dict | list):
            return {"type": "json_schema", "schema": {"const": value}}
        text = as_text(value)
        if text is None:
            return "has no value"
        return {"type": "exact", "value": text, "case_sensitive": True}
    if kind in ("contains", "icontains", *_LISTS):
        values = text_list(value, "," if kind in _LISTS else None)
        if not values:
            return "has no value"
        mode = "all" if kind.endswith("-all") else "any"
        return {
            "type": "contains",
            "values": values,
            "mode": mode,
            "case_sensitive": not kind.startswith("i"),
        }
    if kind in ("regex", "starts-with"):
        text = as_text(value)
        if not text:
            return "has no value"
        pattern = text if kind == "regex" else "^" + re.escape(text)
        return {"type": "regex", "pattern": pattern}
    if kind == "is-json":
        found = _schema(value, loc, schema)
        return found if isinstance(found, str) else {"type": "json_schema", "schema": found}
    if kind in ("llm-rubric", "g-eval", "model-graded-closedqa"):
        rubric = "\n".join(text_list(value))
        return {"type": "judge", "rubric": rubric} if rubric else "has no rubric"
    if kind in ("factuality", "model-graded-factuality"):
        reference = as_text(value)
        return {"type": "judge", "reference": reference} if reference else "has no reference"
    return REASONS.get(kind, "rung has no grader that checks this")


def _schema(value: Any, loc: str, schema: Schema) -> dict[str, Any] | str:
    """is-json's schema: none (any JSON will do), inline, JSON or YAML text, or a file."""
    if value is None or value == "":
        return {}
    if isinstance(value, str) and value.startswith("file://"):
        value = schema(value, loc)
        if value is None:
            return "its schema file could not be read"
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)  # JSON is YAML too
        except yaml.YAMLError:
            return "its schema is neither JSON nor YAML"
    return value if isinstance(value, dict) else "its schema is not an object"
