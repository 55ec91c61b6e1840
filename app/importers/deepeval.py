"""DeepEval goldens: `EvaluationDataset.save_as("json" | "jsonl" | "csv")`, or the same fields
by hand.

`input` → input, `expected_output` → expected, `context` (the ideal, gold context) → facts,
`name` → id. JSON keeps `context` a list; JSONL and CSV join it with `|` (DeepEval's delimiter;
`facts_sep` changes it). `retrieval_context` is what the application retrieved, not gold: it
becomes the facts only when asked (`use_retrieved`), with a warning.
"""

from __future__ import annotations

from typing import Any

from app.importers.common import (
    ImportResult,
    SuiteBuilder,
    expected_grader,
    fail,
    judge_warning,
    text_list,
)
from app.importers.models import ImportOptions
from app.importers.ragas import RETRIEVED_WARNING
from app.importers.records import read_records

DELIMITER = "|"  # how DeepEval joins a context list into one CSV or JSONL cell
_IGNORED = {
    "actual_output": "your application's recorded answer: rung asks the model itself",
    "tools_called": "tool calls: rung grades text answers",
    "expected_tools": "tool calls: rung grades text answers",
    "comments": "not used by rung",
    "source_file": "not used by rung",
    "additional_metadata": "not used by rung",
    "custom_column_key_values": "not used by rung",
}
_CONVERSATIONAL = ("scenario", "turns", "expected_outcome")


def parse(text: str, options: ImportOptions, name: str) -> ImportResult:
    records = read_records(text, name="goldens")
    if len(records) == 1 and isinstance(records[0][1], dict) and "goldens" in records[0][1]:
        goldens = records[0][1]["goldens"]  # a dataset exported with its goldens under a key
        if not isinstance(goldens, list):
            fail("goldens", "must be a list of goldens")
        records = [(f"goldens[{i}]", g) for i, g in enumerate(goldens)]
    builder = SuiteBuilder("deepeval")
    match = options.match or "judge"
    judge_warning(builder, match)
    retrieved = 0
    for loc, record in records:
        builder.report.read += 1
        if not isinstance(record, dict):
            fail(loc or "golden", "a golden must be an object")
        retrieved += _golden(builder, loc or "golden", builder.report.read, record, options)
    if retrieved:
        builder.warn("use_retrieved", f"{retrieved} case(s): {RETRIEVED_WARNING}")
    return builder.build(name)


def _golden(
    builder: SuiteBuilder, loc: str, number: int, record: dict[str, Any], options: ImportOptions
) -> bool:
    """Add the golden as a case (or drop it); True when its facts are the retrieval context."""
    if any(record.get(key) for key in _CONVERSATIONAL) and not record.get("input"):
        builder.drop_case(loc, "a conversational golden (scenario and turns): not imported")
        return False
    text = record.get("input")
    if not isinstance(text, str) or not text.strip():
        builder.drop_case(loc, "no input")
        return False
    for key, value in record.items():
        if key in _IGNORED and value not in (None, "", [], {}):
            builder.ignore(key, _IGNORED[key])
    sep = options.facts_sep if options.facts_sep is not None else DELIMITER
    facts = text_list(record.get("context"), sep)
    from_retrieved = False
    retrieval = text_list(record.get("retrieval_context"), sep)
    if facts:
        builder.map("context", "facts")
        if retrieval:
            builder.ignore("retrieval_context", "not gold; the gold context is used")
    elif retrieval and options.use_retrieved:
        builder.map("retrieval_context (retrieved, not gold)", "facts")
        facts, from_retrieved = retrieval, True
    elif retrieval:
        builder.drop_case(
            loc,
            "no context: retrieval_context is what the application retrieved, not gold "
            "(use_retrieved / --use-retrieved to use it anyway)",
        )
        return False
    else:
        builder.drop_case(loc, "no context: rung needs each golden's facts (context)")
        return False
    expected = text_list(record.get("expected_output"))
    if not expected:
        builder.drop_case(loc, "no expected_output: rung needs an expected answer")
        return False
    match = options.match or "judge"
    builder.map("input", "input")
    builder.map("expected_output", f"expected ({match})")
    if record.get("name"):
        builder.map("name", "id")
    added = builder.add(
        loc,
        case_id=str(record.get("name") or f"golden-{number}"),
        input=text,
        facts=facts,
        expected=expected_grader(expected[:1], match),
        system=None,
    )
    return added and from_retrieved
