"""OpenAI evals samples: JSON Lines of `{"input": [chat messages], "ideal": ...}`.

`input` (chat messages, or a string) → input, a system message → the suite's system prompt,
few-shot examples (system messages named `example_user` / `example_assistant`) are written into
the input; `ideal` (a list means any of) → expected, graded like the `Includes` template
(contains) unless `match` says otherwise; facts from the field named with `facts_field`.
"""

from __future__ import annotations

from typing import Any

from app.importers.chat import Unusable, named_facts, read_input, require_facts_field
from app.importers.common import (
    ImportResult,
    SuiteBuilder,
    at,
    expected_grader,
    fail,
    judge_warning,
    text_list,
)
from app.importers.models import ImportOptions
from app.importers.records import read_records, sniff


def parse(text: str, options: ImportOptions, name: str) -> ImportResult:
    if sniff(text) == "csv":
        fail("", "not JSON Lines: OpenAI evals samples are one JSON object a line")
    records = read_records(text, name="samples")
    field = require_facts_field(options.facts_field, records, "OpenAI evals")
    builder = SuiteBuilder("openai-evals")
    match = options.match or "contains"
    judge_warning(builder, match)
    for number, (loc, record) in enumerate(records, start=1):
        builder.report.read += 1
        if not isinstance(record, dict):
            fail(loc, "a sample must be a JSON object")
        _sample(builder, loc or "sample", number, record, field, options)
    return builder.build(name)


def _sample(
    builder: SuiteBuilder,
    loc: str,
    number: int,
    record: dict[str, Any],
    field: str,
    options: ImportOptions,
) -> None:
    if record.get("input") in (None, "", []):
        fail(at(loc, "input"), "missing: every sample has an input")
    for key in record:
        if key not in ("input", "ideal", field, "metadata"):
            builder.ignore(key, "not used by rung (model-graded evals' extra keys, notes...)")
    try:
        conversation = read_input(record["input"], at(loc, "input"))
    except Unusable as exc:
        builder.drop_case(loc, str(exc))
        return
    facts = named_facts(builder, loc, record, field, options.facts_sep)
    if facts is None:
        return
    ideals = text_list(record.get("ideal"))
    if not ideals:
        builder.drop_case(loc, "no ideal: rung needs an expected answer")
        return
    match = options.match or "contains"
    if conversation.earlier_turns:
        builder.tally(loc, "few-shot examples and earlier turns are written into the input")
    builder.map("input", "input")
    if conversation.system:
        builder.map("input[system]", "system_prompt")
    builder.map("ideal", f"expected ({match})")
    builder.add(
        loc,
        case_id=f"sample-{number}",
        input=conversation.input,
        facts=facts,
        expected=expected_grader(ideals, match),
        system=conversation.system,
    )
