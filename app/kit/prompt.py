"""A candidate system prompt drafted from how the cases failed with the facts in front of them.

Format failures (the answer could not be read as the grader's shape) get an explicit output
format with an example: a passing case's answer when the run has one, else what the grader
spells out (a JSON Schema's pinned values or its required keys, a regex). Content failures with
the facts get an instruction to answer from the given facts, and to say so when they do not hold
the answer. The draft keeps the suite's own system prompt first and adds only those sections,
as plain paragraphs: it is meant to be read and edited, then run as `candidate_prompt`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from app.diagnosis.grading import (
    AllGrader,
    AnyGrader,
    Grader,
    JsonSchemaGrader,
    NumericGrader,
    RegexGrader,
    parse_json_answer,
)
from app.kit.evidence import CaseEvidence, RunEvidence
from app.kit.targets import schema_example, schema_shape

MAX_PATTERNS = 3  # regex formats spelled out; more would bury the instruction


@dataclass(frozen=True)
class PromptDraft:
    text: str
    format_cases: list[str]
    content_cases: list[str]
    examples: list[str] = field(default_factory=list)  # where each example came from


def leaves(spec: Grader) -> Iterator[Grader]:
    if isinstance(spec, AllGrader | AnyGrader):
        for check in spec.checks:
            yield from leaves(check)
    else:
        yield spec


def _quote(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return "“" + (flat if len(flat) <= limit else flat[: limit - 1] + "…") + "”"


def _passing(cases: list[CaseEvidence], kind: type) -> Iterator[tuple[CaseEvidence, str]]:
    for item in cases:
        if any(isinstance(leaf, kind) for leaf in leaves(item.case.expected)):
            for sample in item.passing_answers():
                yield item, sample.answer or ""


def _json_section(ev: RunEvidence, failing: list[CaseEvidence], notes: list[str]) -> str:
    every = all(
        any(isinstance(leaf, JsonSchemaGrader) for leaf in leaves(c.case.expected))
        for c in ev.cases
    )
    head = (
        "reply with a single JSON object and nothing else"
        if every
        else "when a question asks for JSON, reply with the JSON object alone"
    )
    text = (
        f"Output format: {head}: no words before or after it and no code fence, exactly the "
        "keys the question names, numbers as JSON numbers and text as JSON strings."
    )
    for item, answer in _passing(list(ev.cases), JsonSchemaGrader):
        ok, value = parse_json_answer(answer)
        if ok:
            notes.append(f"JSON example: the passing answer of case {item.case.id!r}")
            shown = json.dumps(value, ensure_ascii=False)
            return f"{text}\nFor example, to {_quote(item.case.input)} a correct reply is:\n{shown}"
    schemas = [
        (item, leaf.json_schema)
        for item in failing
        for leaf in leaves(item.case.expected)
        if isinstance(leaf, JsonSchemaGrader)
    ]
    for item, schema in schemas:
        if example := schema_example(schema):
            notes.append(f"JSON example: the values pinned by the grader of case {item.case.id!r}")
            return (
                f"{text}\nFor example, to {_quote(item.case.input)} a correct reply is:\n{example}"
            )
    for item, schema in schemas:
        if shape := schema_shape(schema):
            notes.append(f"JSON shape: the required keys of the grader of case {item.case.id!r}")
            return (
                f"{text}\nFor example, to {_quote(item.case.input)} the reply has this shape "
                f"(each <...> replaced by its value):\n{shape}"
            )
    return text


def _regex_section(ev: RunEvidence, failing: list[CaseEvidence], notes: list[str]) -> str:
    patterns: dict[str, CaseEvidence] = {}
    for item in failing:
        for leaf in leaves(item.case.expected):
            if isinstance(leaf, RegexGrader):
                patterns.setdefault(leaf.pattern, item)
    paragraphs = []
    for pattern, item in list(patterns.items())[:MAX_PATTERNS]:
        line = (
            f"Output format: to questions like {_quote(item.case.input)}, the reply must "
            f"match the regular expression /{pattern}/."
        )
        for other, answer in _passing(list(ev.cases), RegexGrader):
            if any(
                isinstance(g, RegexGrader) and g.pattern == pattern
                for g in leaves(other.case.expected)
            ):
                notes.append(f"regex example: the passing answer of case {other.case.id!r}")
                line += f" For example: {_quote(answer, 300)}"
                break
        paragraphs.append(line)
    return "\n\n".join(paragraphs)


def _numeric_section(ev: RunEvidence, notes: list[str]) -> str:
    text = (
        "Output format: when a question asks for a quantity, give it as a number in digits "
        "and make that number the last one in your reply."
    )
    for item, answer in _passing(list(ev.cases), NumericGrader):
        notes.append(f"number example: the passing answer of case {item.case.id!r}")
        return f"{text} For example, to {_quote(item.case.input)}: {_quote(answer, 300)}"
    return text


FACTS_SECTION = (
    "Answer from the relevant facts provided with the question: they are correct and current, "
    "and they take precedence over anything you remember. If the facts do not contain the "
    "answer, say that they do not, instead of guessing."
)


def _format_family(item: CaseEvidence, kind: type) -> bool:
    return any(isinstance(leaf, kind) for leaf in leaves(item.case.expected))


def draft_prompt(ev: RunEvidence) -> PromptDraft | None:
    """The draft, or None when nothing failed with the facts (no prompt to fix)."""
    format_cases = [c for c in ev.cases if "format" in c.failure_kinds_with_facts()]
    content_cases = [c for c in ev.cases if "content" in c.failure_kinds_with_facts()]
    if not format_cases and not content_cases:
        return None
    notes: list[str] = []
    sections = []
    json_failing = [c for c in format_cases if _format_family(c, JsonSchemaGrader)]
    if json_failing:
        sections.append(_json_section(ev, json_failing, notes))
    regex_failing = [c for c in format_cases if _format_family(c, RegexGrader)]
    if regex_failing:
        sections.append(_regex_section(ev, regex_failing, notes))
    if any(_format_family(c, NumericGrader) for c in format_cases):
        sections.append(_numeric_section(ev, notes))
    if content_cases:
        sections.append(FACTS_SECTION)
    base = ev.system_prompt.strip()
    text = "\n\n".join([base, *sections] if base else sections)
    return PromptDraft(
        text=text,
        format_cases=[c.case.id for c in format_cases],
        content_cases=[c.case.id for c in content_cases],
        examples=notes,
    )
