"""Ragas datasets: `EvaluationDataset.to_jsonl()` / `to_csv()`, a JSON array, or the columns of a
Hugging Face `Dataset.from_dict` (`{"question": [...], "contexts": [[...]], ...}`).

Current schema (`SingleTurnSample`): `user_input` → input, `reference_contexts` → facts,
`reference` → expected. The older one: `question` → input, `ground_truth` (or the oldest
`ground_truths`, a list) → expected, and `contexts`, which Ragas itself maps to
`retrieved_contexts`: what the pipeline retrieved, not gold. They are gold only in an old
test-set generator's rows (those carry `evolution_type`): the contexts a question was written from.
Retrieved contexts become facts only when asked (`use_retrieved`), with a warning.
"""

from __future__ import annotations

import ast
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
from app.importers.records import Record, read_records, sniff

RETRIEVED_WARNING = (
    "facts taken from retrieved contexts: they are what your retriever returned, not gold. "
    "Where the retriever missed, the with-facts arm lacks the facts, so a behavior label can be "
    "a retrieval miss"
)
_TAGS = ("synthesizer_name", "evolution_type", "query_style", "query_length", "persona_name")
_IGNORED = {
    "response": "your pipeline's recorded answer: rung asks the model itself",
    "answer": "your pipeline's recorded answer: rung asks the model itself",
    "multi_responses": "recorded answers: rung asks the model itself",
    "rubrics": "Ragas rubric scores have no pass/fail grader in rung",
    "reference_context_ids": "ids only; the contexts themselves are imported",
    "retrieved_context_ids": "ids of retrieved contexts",
    "metadata": "not used by rung",
    "episode_done": "not used by rung",
    "reference_tool_calls": "tool calls: rung grades text answers",
    "reference_topics": "not used by rung",
}


def parse(text: str, options: ImportOptions, name: str) -> ImportResult:
    builder = SuiteBuilder("ragas")
    match = options.match or "judge"
    judge_warning(builder, match)
    kind = sniff(text)
    retrieved = 0
    for loc, record in _records(text):
        builder.report.read += 1
        if not isinstance(record, dict):
            fail(loc, "a sample must be a JSON object")
        if kind == "csv":  # to_csv() writes lists the way Python prints them
            record = {k: _cell(v) for k, v in record.items() if v != ""}
        retrieved += _sample(builder, loc, builder.report.read, record, options)
    if retrieved:
        builder.warn("use_retrieved", f"{retrieved} case(s): {RETRIEVED_WARNING}")
    return builder.build(name)


def _records(text: str) -> list[Record]:
    records = read_records(text, name="samples")
    if len(records) == 1 and isinstance(records[0][1], dict):
        columns = records[0][1]
        if columns and all(isinstance(v, list) for v in columns.values()):
            lengths = {len(v) for v in columns.values()}
            if len(lengths) != 1:
                fail("", "the columns have different lengths")
            rows = zip(*columns.values(), strict=True)
            return [
                (f"row {i}", dict(zip(columns, row, strict=True))) for i, row in enumerate(rows)
            ]
    return records


def _cell(value: str) -> Any:
    if value.startswith("[") and value.endswith("]"):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


def _sample(
    builder: SuiteBuilder, loc: str, number: int, record: dict[str, Any], options: ImportOptions
) -> bool:
    """Add the sample as a case (or drop it); True when its facts are retrieved contexts."""
    question_field = "user_input" if "user_input" in record else "question"
    question = record.get(question_field)
    if isinstance(question, list):
        builder.drop_case(loc, "a multi-turn sample (user_input is a conversation): not imported")
        return False
    if not isinstance(question, str) or not question.strip():
        builder.drop_case(loc, "no user_input (or question)")
        return False
    for key in record:
        if key in _IGNORED:
            builder.ignore(key, _IGNORED[key])
    found = _facts(builder, loc, record, options.use_retrieved)
    if found is None:
        return False
    facts, from_retrieved = found
    references, reference_field = _references(record)
    if not references:
        builder.drop_case(loc, "no reference (or ground_truth): rung needs an expected answer")
        return False
    match = options.match or "judge"
    builder.map(question_field, "input")
    builder.map(reference_field, f"expected ({match})")
    tags = [f"{key}:{record[key]}" for key in _TAGS if isinstance(record.get(key), str)]
    added = builder.add(
        loc,
        case_id=f"sample-{number}",
        input=question,
        facts=facts,
        expected=expected_grader(references, match),
        tags=tags,
    )
    return added and from_retrieved


def _facts(
    builder: SuiteBuilder, loc: str, record: dict[str, Any], use_retrieved: bool
) -> tuple[list[str], bool] | None:
    """(the facts, whether they are retrieved contexts), or None with the case dropped."""
    legacy_gold = "evolution_type" in record  # an old test-set generator's row
    gold = "reference_contexts" if "reference_contexts" in record else None
    if gold is None and legacy_gold and "contexts" in record:
        gold = "contexts"
    retrieved = next((k for k in ("retrieved_contexts", "contexts") if k in record), None)
    if gold and text_list(record[gold]):
        if retrieved and retrieved != gold:
            builder.ignore(retrieved, "retrieved contexts are not gold; the gold ones are used")
        builder.map(gold, "facts")
        return text_list(record[gold]), False
    if retrieved and text_list(record[retrieved]) and use_retrieved:
        builder.map(f"{retrieved} (retrieved, not gold)", "facts")
        return text_list(record[retrieved]), True
    if retrieved and text_list(record[retrieved]):
        builder.drop_case(
            loc,
            f"no gold contexts: {retrieved} are what the pipeline retrieved, not gold "
            "(use_retrieved / --use-retrieved to use them anyway)",
        )
    else:
        builder.drop_case(loc, "no contexts: rung needs each case's facts (reference_contexts)")
    return None


def _references(record: dict[str, Any]) -> tuple[list[str], str]:
    for key in ("reference", "ground_truth", "ground_truths"):
        if key in record:
            return text_list(record[key]), key
    return [], "reference"
