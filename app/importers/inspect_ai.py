"""Inspect AI datasets: JSON Lines (or a JSON array) of `Sample` records.

`input` (a string or chat messages) → input, a system message → the suite's system prompt;
`target` (a list means any of) → expected; `id` → id; facts from the metadata field named with
`facts_field`, since a Sample has none. With `choices`, the question is asked as a lettered
multiple-choice question and the target letter is graded by a regex on `ANSWER: <letter>`.
"""

from __future__ import annotations

import json
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

_AGENT_FIELDS = ("sandbox", "files", "setup")
_KNOWN = ("input", "target", "choices", "id", "metadata", *_AGENT_FIELDS)


def parse(text: str, options: ImportOptions, name: str) -> ImportResult:
    if sniff(text) == "csv":
        fail("", "not JSON or JSON Lines: for an Inspect CSV dataset use format csv")
    records = read_records(text, name="samples")
    field = require_facts_field(options.facts_field, records, "Inspect")
    builder = SuiteBuilder("inspect")
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
    if isinstance(record.get("metadata"), str):  # Inspect reads a JSON-text metadata too
        try:
            record = {**record, "metadata": json.loads(record["metadata"])}
        except ValueError:
            fail(at(loc, "metadata"), "is text that is not a JSON object")
    if record.get("input") in (None, "", []):
        fail(at(loc, "input"), "missing: every Inspect sample has an input")
    for key in record:
        if key in _AGENT_FIELDS:
            builder.ignore(key, "for agents working in a sandbox: rung sends one prompt")
        elif key not in _KNOWN:
            builder.ignore(key, "not a Sample field (Inspect ignores it too)")
    try:
        conversation = read_input(record["input"], at(loc, "input"))
    except Unusable as exc:
        builder.drop_case(loc, str(exc))
        return
    facts = named_facts(builder, loc, record, field, options.facts_sep)
    if facts is None:
        return
    text = conversation.input
    choices = record.get("choices")
    try:
        if choices:
            text, expected = multiple_choice(
                text, choices, record.get("target"), at(loc, "choices")
            )
            builder.map("choices + target", "input + expected (regex on ANSWER: <letter>)")
        else:
            targets = text_list(record.get("target"))
            if not targets:
                builder.drop_case(loc, "no target: rung needs an expected answer")
                return
            match = options.match or "contains"
            expected = expected_grader(targets, match)
            builder.map("target", f"expected ({match})")
    except Unusable as exc:
        builder.drop_case(loc, str(exc))
        return
    if conversation.earlier_turns:
        builder.tally(loc, "earlier chat turns are written into the input before the last one")
    builder.map("input", "input")
    if conversation.system:
        builder.map("input[system]", "system_prompt")
    if record.get("id") is not None:
        builder.map("id", "id")
    builder.add(
        loc,
        case_id=str(record.get("id", number)),
        input=text,
        facts=facts,
        expected=expected,
        system=conversation.system,
    )


def multiple_choice(
    question: str, choices: Any, target: Any, loc: str
) -> tuple[str, dict[str, Any]]:
    """The question with lettered choices, and a grader for the target letter."""
    if not isinstance(choices, list) or len(choices) > 26:
        fail(loc, "must be a list of at most 26 choices")
    letters = [chr(ord("A") + i) for i in range(len(choices))]
    wanted = [t.strip().upper() for t in text_list(target)]
    wanted = [letters[int(t)] if t.isdigit() and int(t) < len(letters) else t for t in wanted]
    if len(wanted) != 1 or wanted[0] not in letters:
        raise Unusable(
            "a multiple-choice target must be one letter of the choices"
            + (" (several correct choices cannot be graded as a set)" if len(wanted) > 1 else "")
        )
    listed = "\n".join(
        f"{letter}) {choice}" for letter, choice in zip(letters, choices, strict=True)
    )
    text = (
        f"{question}\n\n{listed}\n\nReply with the letter of the correct choice in the form "
        f"'ANSWER: <letter>', where the letter is one of {','.join(letters)}."
    )
    pattern = rf"ANSWER\s*:\s*\(?{wanted[0]}\)?(?![A-Za-z0-9])"
    return text, {"type": "regex", "pattern": pattern, "ignore_case": True}
