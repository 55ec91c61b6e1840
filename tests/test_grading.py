"""Every grader, the judge-reply parser, composites, and whether the facts cover the answer."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from app.diagnosis.grading import (
    JUDGE_SYSTEM_PROMPT,
    Grade,
    Grader,
    JudgeGrader,
    expected_literals,
    facts_cover_answer,
    grade,
    judge_messages,
    judge_nodes,
    last_number,
    normalise,
    parse_json_answer,
    parse_judge_reply,
)

GRADER: TypeAdapter[Any] = TypeAdapter(Grader)


def spec(data: dict[str, Any]) -> Any:
    """Build a grader from a dict, the way a suite file does."""
    return GRADER.validate_python(data)


def check(data: dict[str, Any], answer: str, replies: tuple[str, ...] = ()) -> Grade:
    return grade(spec(data), answer, replies)


def rejected(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as info:
        spec(data)
    return [(tuple(e["loc"]), e["msg"]) for e in info.value.errors()]


PASS_JUDGE = '{"passed": true, "score": 0.9, "reason": "correct"}'
FAIL_JUDGE = '{"passed": false, "score": 0.2, "reason": "wrong city"}'
GARBAGE = "I cannot decide"


# --- Grade --------------------------------------------------------------------------------------


def test_grade_scored_and_frozen() -> None:
    assert Grade(passed=True, score=1, reason="r").scored is True
    assert Grade(passed=False, score=0, reason="r", kind="content").scored is True
    assert Grade(passed=False, score=0, reason="r", kind="format").scored is True
    assert Grade(passed=False, score=0, reason="r", kind="unscored").scored is False
    with pytest.raises(ValidationError):
        Grade(passed=True, score=1, reason="r").passed = False  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Grade(passed=False, score=0, reason="r", kind="timeout")  # type: ignore[arg-type]


# --- exact --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "Paris",
        "paris",
        "PARIS",
        "  Paris.  ",
        "'Paris!'",
        '"Paris"',
        "`Paris`?",
        "Paris\n",
        "\uff30\uff41\uff52\uff49\uff53",  # fullwidth letters, NFKC-normalised
    ],
)
def test_exact_normalises(answer: str) -> None:
    assert check({"type": "exact", "value": "Paris"}, answer) == Grade(
        passed=True, score=1.0, reason="matches exactly"
    )


def test_exact_collapses_inner_whitespace_and_applies_nfkc() -> None:
    assert check({"type": "exact", "value": "New York"}, "new\t  york\n").passed is True
    assert check({"type": "exact", "value": "\ufb01sh"}, "FISH").passed is True  # "ﬁ" ligature
    assert check({"type": "exact", "value": "Straße"}, "STRASSE").passed is True  # casefold


@pytest.mark.parametrize(
    "answer", ["Paris, France", "Pariss", "The answer is Paris", "", "(Paris)"]
)
def test_exact_rejects_anything_else(answer: str) -> None:
    assert check({"type": "exact", "value": "Paris"}, answer) == Grade(
        passed=False, score=0.0, reason="expected exactly 'Paris'", kind="content"
    )


def test_exact_case_sensitive() -> None:
    data = {"type": "exact", "value": "Paris", "case_sensitive": True}

    assert check(data, "  Paris. ").passed is True
    assert check(data, "paris") == Grade(
        passed=False, score=0.0, reason="expected exactly 'Paris'", kind="content"
    )
    assert check(data, "\uff30aris").passed is True  # NFKC still applies


def test_normalise() -> None:
    assert normalise("  Hello,\n  World!  ") == "hello, world"
    assert normalise("  Hello,\n  World!  ", case_sensitive=True) == "Hello, World"
    assert normalise("\u2460") == "1"  # circled digit one
    assert normalise("...") == ""


# --- contains -----------------------------------------------------------------------------------


def test_contains_any() -> None:
    data = {"type": "contains", "values": ["Paris", "Lutetia"]}

    assert check(data, "It is LUTETIA, now Paris.") == Grade(
        passed=True, score=1.0, reason="contains 'Paris'"
    )
    assert check(data, "The old name was lutetia") == Grade(
        passed=True, score=1.0, reason="contains 'Lutetia'"
    )
    assert check(data, "Lyon") == Grade(
        passed=False, score=0.0, reason="missing 'Paris', 'Lutetia'", kind="content"
    )


def test_contains_normalises_whitespace_in_answer_and_value() -> None:
    data = {"type": "contains", "values": ["45  days"]}

    assert check(data, "within 45\ndays of delivery").passed is True


def test_contains_all_scores_the_fraction_found() -> None:
    data = {"type": "contains", "values": ["red", "green", "blue"], "mode": "all"}

    assert check(data, "Red, GREEN and blue.") == Grade(
        passed=True, score=1.0, reason="contains all"
    )
    assert check(data, "red and blue") == Grade(
        passed=False, score=2 / 3, reason="missing 'green'", kind="content"
    )
    assert check(data, "nothing") == Grade(
        passed=False, score=0.0, reason="missing 'red', 'green', 'blue'", kind="content"
    )


def test_contains_lists_at_most_three_missing_values() -> None:
    data = {"type": "contains", "values": ["a1", "b2", "c3", "d4"], "mode": "all"}

    assert check(data, "d4").reason == "missing 'a1', 'b2', 'c3'"


def test_contains_case_sensitive() -> None:
    data = {"type": "contains", "values": ["NASA"], "case_sensitive": True}

    assert check(data, "Ask NASA.").passed is True
    assert check(data, "ask nasa") == Grade(
        passed=False, score=0.0, reason="missing 'NASA'", kind="content"
    )


def test_contains_rejects_empty_values() -> None:
    assert rejected({"type": "contains", "values": []}) == [
        (("contains", "values"), "List should have at least 1 item after validation, not 0")
    ]
    assert rejected({"type": "contains", "values": ["ok", " "]}) == [
        (
            ("contains", "values"),
            "Value error, values must contain text, not only whitespace or punctuation",
        )
    ]
    assert rejected({"type": "contains", "values": ["x"], "mode": "most"})[0][0] == (
        "contains",
        "mode",
    )


def _punctuation_only_value_is_rejected_or_never_matches() -> bool:
    try:
        data = spec({"type": "contains", "values": ["..."]})
    except ValidationError:
        return True
    return not grade(data, "a completely unrelated answer").passed


def test_contains_value_of_only_punctuation_does_not_match_everything() -> None:
    assert _punctuation_only_value_is_rejected_or_never_matches()


# --- regex --------------------------------------------------------------------------------------


def test_regex_search_and_format_kind() -> None:
    data = {"type": "regex", "pattern": r"^\d{3}-\d{4}$"}

    assert check(data, "555-1234") == Grade(passed=True, score=1.0, reason="matches the pattern")
    assert check(data, "call 555-1234") == Grade(
        passed=False, score=0.0, reason=r"does not match /^\d{3}-\d{4}$/", kind="format"
    )


def test_regex_searches_anywhere_and_is_case_sensitive_by_default() -> None:
    assert check({"type": "regex", "pattern": "Order #\\d+"}, "See Order #42 today").passed
    assert check({"type": "regex", "pattern": "order"}, "ORDER 42").passed is False
    assert check({"type": "regex", "pattern": "order", "ignore_case": True}, "ORDER 42").passed


def test_invalid_regex_is_rejected_at_validation() -> None:
    assert rejected({"type": "regex", "pattern": "[a-"}) == [
        (
            ("regex", "pattern"),
            "Value error, invalid regular expression: unterminated character set at position 3",
        )
    ]


# --- json_schema --------------------------------------------------------------------------------

PERSON = {
    "type": "json_schema",
    "schema": {
        "type": "object",
        "required": ["name", "age"],
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
    },
}


def test_json_schema_plain_json_passes() -> None:
    assert check(PERSON, ' {"name": "Ada", "age": 36} \n') == Grade(
        passed=True, score=1.0, reason="valid JSON matching the schema"
    )


@pytest.mark.parametrize("fence", ["```json", "```JSON", "```", "``` json "])
def test_json_schema_reads_a_fenced_block(fence: str) -> None:
    answer = f'Here you go:\n{fence}\n{{"name": "Ada", "age": 36}}\n```\nAnything else?'

    assert check(PERSON, answer).passed is True


def test_json_schema_uses_the_first_fenced_block_that_parses() -> None:
    answer = '```\nnot json\n```\nthen\n```json\n{"name": "Ada", "age": 1}\n```'

    assert parse_json_answer(answer) == (True, {"name": "Ada", "age": 1})
    assert check(PERSON, answer).passed is True


@pytest.mark.parametrize(
    "answer",
    ["Ada is 36.", 'The JSON is {"name": "Ada", "age": 36}', "{'name': 'Ada'}", ""],
)
def test_json_schema_non_json_is_a_format_failure(answer: str) -> None:
    assert check(PERSON, answer) == Grade(
        passed=False, score=0.0, reason="answer is not JSON", kind="format"
    )


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ('{"name": "Ada"}', "schema violation at (root): 'age' is a required property"),
        ('{"name": "Ada", "age": "36"}', "schema violation at age: '36' is not of type 'integer'"),
        (
            '{"name": "Ada", "age": 1, "tags": ["a", 2]}',
            "schema violation at tags/1: 2 is not of type 'string'",
        ),
        ('{"name": "Ada", "age": -1}', "schema violation at age: -1 is less than the minimum of 0"),
        ("[1, 2]", "schema violation at (root): [1, 2] is not of type 'object'"),
    ],
)
def test_json_schema_violation_is_a_format_failure_with_its_location(
    answer: str, reason: str
) -> None:
    assert check(PERSON, answer) == Grade(passed=False, score=0.0, reason=reason, kind="format")


def test_json_schema_reason_is_capped_at_200_characters() -> None:
    data = {"type": "json_schema", "schema": {"enum": ["x" * 300]}}

    result = check(data, '"y"')

    assert result.kind == "format"
    assert len(result.reason) == 200
    assert result.reason == ("schema violation at (root): 'y' is not one of ['" + "x" * 300)[:200]


def test_json_schema_accepts_the_schema_alias_and_rejects_invalid_schemas() -> None:
    built = spec({"type": "json_schema", "schema": {"type": "string"}})

    assert built.json_schema == {"type": "string"}
    assert built.model_dump(by_alias=True) == {"type": "json_schema", "schema": {"type": "string"}}
    assert rejected({"type": "json_schema", "schema": {"type": "objekt"}}) == [
        (
            ("json_schema", "schema"),
            "Value error, invalid JSON Schema: 'objekt' is not valid under any of the given "
            "schemas",
        )
    ]
    assert rejected({"type": "json_schema", "schema": {"minimum": "zero"}}) == [
        (
            ("json_schema", "schema"),
            "Value error, invalid JSON Schema: 'zero' is not of type 'number'",
        )
    ]


def test_parse_json_answer() -> None:
    assert parse_json_answer("42") == (True, 42)
    assert parse_json_answer('  "x" ') == (True, "x")
    assert parse_json_answer("```\n[1]\n```") == (True, [1])
    assert parse_json_answer("nope") == (False, None)
    assert parse_json_answer("```json\nnope\n```") == (False, None)


# --- numeric ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "number"),
    [
        ("42", 42.0),
        ("The total is 1,234,567.", 1234567.0),
        ("Step 1: 3 + 4. Answer: 7", 7.0),
        ("It is -2.5 degrees", -2.5),
        ("about .5 of it", 0.5),
        ("1.5e3 metres", 1500.0),
        ("+12", 12.0),
        ("costs $1,200.50 total", 1200.5),
        ("a 7-year warranty", 7.0),
        ("from 8am to 6pm", 6.0),
        ("no digits here", None),
        ("", None),
    ],
)
def test_last_number(answer: str, number: float | None) -> None:
    assert last_number(answer) == number


def test_numeric_exact_match() -> None:
    assert check({"type": "numeric", "value": 45}, "Customers have 45 days.") == Grade(
        passed=True, score=1.0, reason="45 is within 0 of 45"
    )


def test_numeric_uses_the_last_number() -> None:
    data = {"type": "numeric", "value": 12}

    assert check(data, "3 boxes of 4 make 12").passed is True
    assert check(data, "12 divided by 3 is 4") == Grade(
        passed=False, score=0.0, reason="4 is not within 0 of 12", kind="content"
    )


def test_numeric_thousands_separators() -> None:
    assert check({"type": "numeric", "value": 5000}, "5,000 points").passed is True


def test_numeric_tolerance_is_inclusive() -> None:
    data = {"type": "numeric", "value": 10, "tolerance": 0.5}

    assert check(data, "about 10.5").passed is True
    assert check(data, "about 9.5") == Grade(
        passed=True, score=1.0, reason="9.5 is within 0.5 of 10"
    )
    assert check(data, "about 10.75") == Grade(
        passed=False, score=0.0, reason="10.75 is not within 0.5 of 10", kind="content"
    )


def test_numeric_decimal_tolerance_edges_both_pass() -> None:
    data = {"type": "numeric", "value": 3.14, "tolerance": 0.01}

    assert check(data, "pi is about 3.15").passed is True
    assert check(data, "pi is about 3.13").passed is True


def test_numeric_without_a_number_is_a_format_failure() -> None:
    assert check({"type": "numeric", "value": 1}, "I don't know.") == Grade(
        passed=False, score=0.0, reason="no number in the answer", kind="format"
    )


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), "inf", "NaN"])
def test_numeric_rejects_non_finite_values(value: Any) -> None:
    assert rejected({"type": "numeric", "value": value}) == [
        (("numeric", "value"), "Value error, value must be a finite number")
    ]


def test_numeric_rejects_negative_tolerance() -> None:
    assert rejected({"type": "numeric", "value": 1, "tolerance": -0.1}) == [
        (("numeric", "tolerance"), "Input should be greater than or equal to 0")
    ]


def test_numeric_hyphenated_range_ends_with_a_positive_number() -> None:
    assert last_number("It takes 10-12 days") == 12.0
    assert check({"type": "numeric", "value": 2024}, "the 2023-2024 season").passed is True


def test_facts_cover_a_number_at_the_end_of_a_hyphenated_range() -> None:
    assert facts_cover_answer(spec({"type": "numeric", "value": 45}), ["Returns: 30-45 days."])


# --- judge --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (PASS_JUDGE, Grade(passed=True, score=0.9, reason="correct")),
        (FAIL_JUDGE, Grade(passed=False, score=0.2, reason="wrong city", kind="content")),
        ('{"passed": true}', Grade(passed=True, score=1.0, reason="judge passed")),
        (
            '{"passed": false}',
            Grade(passed=False, score=0.0, reason="judge failed", kind="content"),
        ),
        ('{"passed": true, "score": 7}', Grade(passed=True, score=1.0, reason="judge passed")),
        (
            '{"passed": false, "score": -3, "reason": ""}',
            Grade(passed=False, score=0.0, reason="judge failed", kind="content"),
        ),
        (
            '{"passed": true, "score": "high"}',
            Grade(passed=True, score=1.0, reason="judge passed"),
        ),
        (
            '```json\n{"passed": true, "score": 0.5, "reason": "ok"}\n```',
            Grade(passed=True, score=0.5, reason="ok"),
        ),
        (
            'Let me think.\nVerdict: {"passed": false, "reason": "off by one"}\nDone.',
            Grade(passed=False, score=0.0, reason="off by one", kind="content"),
        ),
        ("PASS", Grade(passed=True, score=1.0, reason="judge passed")),
        ("  passed\n", Grade(passed=True, score=1.0, reason="judge passed")),
        ("FAIL", Grade(passed=False, score=0.0, reason="judge failed", kind="content")),
        ("Failed", Grade(passed=False, score=0.0, reason="judge failed", kind="content")),
    ],
)
def test_parse_judge_reply(reply: str, expected: Grade) -> None:
    assert parse_judge_reply(reply) == expected


def test_judge_reason_is_capped_at_200_characters() -> None:
    reply = json.dumps({"passed": False, "reason": "r" * 300})

    assert parse_judge_reply(reply).reason == "r" * 200


@pytest.mark.parametrize(
    "reply",
    [
        GARBAGE,
        "",
        '{"passed": "yes"}',
        '{"verdict": "pass"}',
        "[true]",
        "PASS. The answer is right.",
    ],
)
def test_unreadable_judge_reply_is_unscored(reply: str) -> None:
    result = parse_judge_reply(reply)

    assert result == Grade(
        passed=False,
        score=0.0,
        reason=f"unreadable judge reply: {reply.strip()[:80]!r}",
        kind="unscored",
    )
    assert result.scored is False


def test_judge_grader_takes_its_reply() -> None:
    data = {"type": "judge", "rubric": "Names the capital."}

    assert check(data, "Paris", (PASS_JUDGE,)) == Grade(passed=True, score=0.9, reason="correct")
    assert check(data, "Lyon", (FAIL_JUDGE,)).kind == "content"
    assert check(data, "Paris", (GARBAGE,)).scored is False


def test_judge_without_a_reply_is_unscored() -> None:
    result = check({"type": "judge", "reference": "Paris"}, "Paris")

    assert result == Grade(passed=False, score=0.0, reason="no judge reply", kind="unscored")
    assert result.scored is False


def test_judge_needs_a_rubric_or_a_reference() -> None:
    message = "Value error, a judge grader needs a rubric, a reference, or both"
    assert rejected({"type": "judge"}) == [(("judge",), message)]
    assert rejected({"type": "judge", "rubric": "", "reference": ""}) == [(("judge",), message)]
    assert spec({"type": "judge", "rubric": "r"}).reference is None
    assert spec({"type": "judge", "reference": "x"}).rubric is None


def test_judge_messages_with_rubric_and_reference() -> None:
    judge = spec({"type": "judge", "rubric": "Must name the city.", "reference": "Paris"})

    assert judge_messages(judge, "Capital of France?", "It's Paris.") == [
        {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
        {
            "role": "user",
            "content": "Task:\nCapital of France?\n\nAnswer to grade:\nIt's Paris.\n\n"
            "Reference answer:\nParis\n\nRubric:\nMust name the city.",
        },
    ]


def test_judge_messages_with_only_one_of_rubric_or_reference() -> None:
    rubric_only = judge_messages(spec({"type": "judge", "rubric": "Be polite."}), "Q", "A")
    reference_only = judge_messages(spec({"type": "judge", "reference": "R"}), "Q", "A")

    assert rubric_only[1]["content"] == "Task:\nQ\n\nAnswer to grade:\nA\n\nRubric:\nBe polite."
    assert reference_only[1]["content"] == "Task:\nQ\n\nAnswer to grade:\nA\n\nReference answer:\nR"
    assert "JSON object" in JUDGE_SYSTEM_PROMPT
    assert '"passed": true|false' in JUDGE_SYSTEM_PROMPT


# --- composites ---------------------------------------------------------------------------------

REGEX_DIGITS = {"type": "regex", "pattern": r"\d+"}
HAS_PARIS = {"type": "contains", "values": ["Paris"]}
NUM_7 = {"type": "numeric", "value": 7}


def test_all_passes_when_every_check_passes() -> None:
    data = {"type": "all", "checks": [REGEX_DIGITS, HAS_PARIS]}

    assert check(data, "Paris has 20 arrondissements") == Grade(
        passed=True, score=1.0, reason="all checks pass"
    )


def test_all_propagates_the_first_failure_kind() -> None:
    format_first = {"type": "all", "checks": [HAS_PARIS, REGEX_DIGITS, NUM_7]}

    assert check(format_first, "Paris") == Grade(
        passed=False, score=1 / 3, reason=r"does not match /\d+/", kind="format"
    )
    content_first = {"type": "all", "checks": [NUM_7, HAS_PARIS]}
    assert check(content_first, "Lyon 8") == Grade(
        passed=False, score=0.0, reason="8 is not within 0 of 7", kind="content"
    )


def test_all_with_an_unscored_judge() -> None:
    judge = {"type": "judge", "rubric": "r"}
    data = {"type": "all", "checks": [HAS_PARIS, judge]}

    unscored = check(data, "Paris", (GARBAGE,))
    assert unscored == Grade(
        passed=False,
        score=0.5,
        reason="unreadable judge reply: 'I cannot decide'",
        kind="unscored",
    )
    assert unscored.scored is False
    # A real failure decides an `all` even when the judge could not be read.
    assert check(data, "Lyon", (GARBAGE,)) == Grade(
        passed=False, score=0.0, reason="missing 'Paris'", kind="content"
    )
    assert check(data, "Paris", (PASS_JUDGE,)) == Grade(
        passed=True, score=0.95, reason="all checks pass"
    )


def test_any_passes_on_the_first_passing_check() -> None:
    data = {"type": "any", "checks": [NUM_7, HAS_PARIS, REGEX_DIGITS]}

    assert check(data, "Paris 9") == Grade(passed=True, score=1.0, reason="contains 'Paris'")


def test_any_failure_takes_the_first_failure_kind_and_best_score() -> None:
    partial = {"type": "contains", "values": ["alpha", "beta"], "mode": "all"}
    data = {"type": "any", "checks": [REGEX_DIGITS, partial]}

    assert check(data, "alpha only") == Grade(
        passed=False, score=0.5, reason=r"does not match /\d+/", kind="format"
    )


def test_any_with_an_unscored_judge() -> None:
    judge = {"type": "judge", "reference": "Paris"}
    data = {"type": "any", "checks": [HAS_PARIS, judge]}

    # The judge might have passed it, so an unreadable judge keeps the whole grade unscored.
    assert check(data, "Lyon", (GARBAGE,)) == Grade(
        passed=False,
        score=0.0,
        reason="unreadable judge reply: 'I cannot decide'",
        kind="unscored",
    )
    assert check(data, "Paris", (GARBAGE,)) == Grade(
        passed=True, score=1.0, reason="contains 'Paris'"
    )
    assert check(data, "Lyon", (FAIL_JUDGE,)) == Grade(
        passed=False, score=0.2, reason="missing 'Paris'", kind="content"
    )


def test_composites_require_checks() -> None:
    assert rejected({"type": "all", "checks": []}) == [
        (("all", "checks"), "List should have at least 1 item after validation, not 0")
    ]
    assert rejected({"type": "any", "checks": [{"type": "nope"}]})[0][0] == ("any", "checks", 0)


NESTED = {
    "type": "all",
    "checks": [
        {"type": "judge", "rubric": "first"},
        {
            "type": "any",
            "checks": [
                {"type": "judge", "rubric": "second"},
                {"type": "all", "checks": [{"type": "judge", "reference": "third"}]},
                {"type": "exact", "value": "never"},
            ],
        },
        {"type": "judge", "rubric": "fourth"},
    ],
}


def test_judge_nodes_walk_nested_composites_in_order() -> None:
    nodes = list(judge_nodes(spec(NESTED)))

    assert [n.rubric or n.reference for n in nodes] == ["first", "second", "third", "fourth"]
    assert all(isinstance(n, JudgeGrader) for n in nodes)
    assert list(judge_nodes(spec(HAS_PARIS))) == []
    judge = spec({"type": "judge", "rubric": "solo"})
    assert list(judge_nodes(judge)) == [judge]


def _verdict(passed: bool, reason: str) -> str:
    return json.dumps({"passed": passed, "reason": reason})


def test_judge_replies_are_consumed_in_judge_nodes_order() -> None:
    graded = spec(NESTED)

    all_pass = grade(graded, "x", [_verdict(True, f"j{i}") for i in range(4)])
    assert all_pass == Grade(passed=True, score=1.0, reason="all checks pass")

    # Only the reply in the "second" slot fails: the nested `any` still passes through "third".
    second_fails = grade(
        graded, "x", [_verdict(True, "j0"), _verdict(False, "j1"), _verdict(True, "j2"), PASS_JUDGE]
    )
    assert second_fails.passed is True

    # Only the reply in the "fourth" slot fails: the top-level `all` fails with its reason.
    fourth_fails = grade(
        graded, "x", [_verdict(True, "j0"), _verdict(True, "j1"), _verdict(True, "j2"), FAIL_JUDGE]
    )
    assert fourth_fails == Grade(
        passed=False, score=(1.0 + 1.0 + 0.2) / 3, reason="wrong city", kind="content"
    )

    # Both nested judges fail: the `any` fails with the first of them, the "second" reply (j1);
    # had "third" taken its reply first, the reason would be j2.
    nested_fail = grade(
        graded,
        "x",
        [_verdict(True, "j0"), _verdict(False, "j1"), _verdict(False, "j2"), PASS_JUDGE],
    )
    assert nested_fail == Grade(
        passed=False, score=(1.0 + 0.0 + 0.9) / 3, reason="j1", kind="content"
    )


def test_missing_trailing_judge_replies_are_unscored() -> None:
    graded = spec(NESTED)

    result = grade(graded, "x", [_verdict(True, "j0"), _verdict(True, "j1")])

    # "third" and "fourth" get no reply. The nested `any` passes through "second" anyway;
    # "fourth" is unscored and nothing failed, so the `all` is unscored rather than failed.
    assert result == Grade(
        passed=False, score=(1.0 + 1.0 + 0.0) / 3, reason="no judge reply", kind="unscored"
    )
    assert result.scored is False


def test_extra_judge_replies_are_ignored() -> None:
    judge = {"type": "judge", "rubric": "r"}

    assert check(judge, "x", (PASS_JUDGE, FAIL_JUDGE)) == parse_judge_reply(PASS_JUDGE)


# --- facts_cover_answer -------------------------------------------------------------------------

FACTS = [
    "Refunds are accepted within 45 days of delivery.",
    "The Summit tier starts at 5,000 points.",
    "Northwind is headquartered in Duluth, Minnesota.",
]


@pytest.mark.parametrize(
    ("data", "covered"),
    [
        ({"type": "exact", "value": "Duluth, Minnesota"}, True),
        ({"type": "exact", "value": "DULUTH, minnesota."}, True),
        ({"type": "exact", "value": "St. Paul"}, False),
        ({"type": "contains", "values": ["45 days"]}, True),
        ({"type": "contains", "values": ["Fargo", "Duluth"]}, True),
        ({"type": "contains", "values": ["Fargo", "Ely"]}, False),
        ({"type": "contains", "values": ["Fargo", "Duluth"], "mode": "all"}, False),
        ({"type": "contains", "values": ["45 days", "Duluth"], "mode": "all"}, True),
        ({"type": "numeric", "value": 45}, True),
        ({"type": "numeric", "value": 5000}, True),
        ({"type": "numeric", "value": 4990, "tolerance": 10}, True),
        ({"type": "numeric", "value": 4990, "tolerance": 9}, False),
        ({"type": "numeric", "value": 44}, False),
        ({"type": "regex", "pattern": "45"}, None),
        ({"type": "json_schema", "schema": {"type": "object"}}, None),
        ({"type": "judge", "rubric": "r"}, None),
    ],
)
def test_facts_cover_answer(data: dict[str, Any], covered: bool | None) -> None:
    assert facts_cover_answer(spec(data), FACTS) is covered


def test_numeric_is_not_covered_by_facts_without_numbers() -> None:
    assert facts_cover_answer(spec(NUM_7), ["No numbers here."]) is False


@pytest.mark.parametrize(
    ("data", "covered"),
    [
        (
            {"type": "all", "checks": [{"type": "contains", "values": ["Duluth"]}, REGEX_DIGITS]},
            True,
        ),
        ({"type": "all", "checks": [{"type": "contains", "values": ["Duluth"]}, NUM_7]}, False),
        ({"type": "any", "checks": [NUM_7, {"type": "numeric", "value": 45}]}, True),
        ({"type": "any", "checks": [NUM_7, REGEX_DIGITS]}, False),
        ({"type": "all", "checks": [REGEX_DIGITS, {"type": "judge", "rubric": "r"}]}, None),
        ({"type": "any", "checks": [{"type": "all", "checks": [REGEX_DIGITS]}]}, None),
        (
            {
                "type": "all",
                "checks": [
                    {"type": "any", "checks": [NUM_7, {"type": "exact", "value": "Duluth"}]},
                    {"type": "numeric", "value": 5000},
                ],
            },
            True,
        ),
    ],
)
def test_facts_cover_answer_for_composites(data: dict[str, Any], covered: bool | None) -> None:
    assert facts_cover_answer(spec(data), FACTS) is covered


def test_expected_literals() -> None:
    assert expected_literals(spec({"type": "exact", "value": "Paris"})) == ["Paris"]
    assert expected_literals(spec({"type": "contains", "values": ["a", "b"]})) == ["a", "b"]
    assert expected_literals(spec({"type": "numeric", "value": 45.0})) == ["45"]
    assert expected_literals(spec({"type": "numeric", "value": 2.5})) == ["2.5"]
    assert expected_literals(spec(REGEX_DIGITS)) is None
    assert expected_literals(spec({"type": "all", "checks": [HAS_PARIS]})) is None


def test_grader_specs_reject_unknown_fields() -> None:
    assert rejected({"type": "exact", "value": "x", "fuzzy": True}) == [
        (("exact", "fuzzy"), "Extra inputs are not permitted")
    ]


# --- graders are bounded: a pathological pattern costs a case, never a worker -------------------


CATASTROPHIC = "(a|aa)+$"  # exponential backtracking for any backtracking engine
EVIL_ANSWER = "a" * 60 + "b"


def test_the_classic_nested_quantifier_no_longer_stalls() -> None:
    """`(a+)+$` against "aaaa…ab" ran for ever under `re`; it is now an ordinary miss."""
    spec = TypeAdapter(Grader).validate_python({"type": "regex", "pattern": "(a+)+$"})
    started = time.monotonic()
    result = grade(spec, "a" * 60 + "b")
    assert time.monotonic() - started < 1
    assert (result.passed, result.kind) == (False, "format")


def test_a_catastrophic_regex_is_unscored_within_the_time_limit() -> None:
    spec = TypeAdapter(Grader).validate_python({"type": "regex", "pattern": CATASTROPHIC})
    started = time.monotonic()
    result = grade(spec, EVIL_ANSWER)
    assert time.monotonic() - started < 3
    assert (result.passed, result.kind) == (False, "unscored")
    assert "catastrophic backtracking" in result.reason


def test_a_catastrophic_pattern_inside_a_json_schema_is_unscored_too() -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": CATASTROPHIC}}}
    spec = TypeAdapter(Grader).validate_python({"type": "json_schema", "schema": schema})
    started = time.monotonic()
    result = grade(spec, json.dumps({"code": EVIL_ANSWER}))
    assert time.monotonic() - started < 3
    assert (result.passed, result.kind) == (False, "unscored")


def test_json_schema_patterns_still_grade_normal_answers() -> None:
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^K[0-9]+$"}},
        "patternProperties": {"^x-": {"type": "integer"}},
    }
    spec = TypeAdapter(Grader).validate_python({"type": "json_schema", "schema": schema})
    assert grade(spec, '{"code": "K12", "x-n": 3}').passed
    wrong = grade(spec, '{"code": "Q12"}')
    assert (wrong.passed, wrong.kind) == (False, "format")
    assert not grade(spec, '{"code": "K1", "x-n": "three"}').passed


# --- literals match as whole words and whole numbers --------------------------------------------


@pytest.mark.parametrize(
    ("value", "answer", "passed"),
    [
        ("23", "Northwind had 23 stores.", True),
        ("23", "In 2023 Northwind had 15 stores.", False),
        ("23", "It grew 4.23 percent.", False),
        ("5,000", "It needs 15,000 points.", False),
        ("5,000", "It needs 5000 points.", True),
        ("$75", "Orders over $750 ship free.", False),
        ("$75", "Orders over $75.00 ship free.", True),
        ("no", "I do not know.", False),
        ("no", "No, contractors cannot.", True),
        ("45 day", "within 45 days", True),
        ("Paris", "Parisian cafes", False),
    ],
)
def test_contains_matches_whole_words_and_numbers(value: str, answer: str, passed: bool) -> None:
    assert check({"type": "contains", "values": [value]}, answer).passed is passed


@pytest.mark.parametrize(
    ("value", "answer", "passed"),
    [
        ("7-year", "Ridgeline tents have a 7 years warranty.", True),
        ("45 days", "You have a 45-day window.", True),
        ("16 weeks", "The answer is: 16", True),  # the question named the unit
        ("16 weeks", "You get 16 days.", False),  # another unit is another quantity
        ("10 business days", "It takes 10 days.", False),
        ("99.95%", "It guarantees 99.95 % uptime.", True),
    ],
)
def test_contains_reads_a_quantity_however_it_is_written(
    value: str, answer: str, passed: bool
) -> None:
    assert check({"type": "contains", "values": [value]}, answer).passed is passed


# --- with the question and the facts: echoes, denials, conflicts --------------------------------

BOOTS_Q = "Do Granite hiking boots run large or small?"
BOOTS_FACTS = (
    "Granite hiking boots run half a size small, so order up.",
    "Trail runners fit true to size.",
    "Wide widths are available in most boots.",
)
SMALL = {"type": "contains", "values": ["small"]}


def in_context(data: dict[str, Any], answer: str, question: str, facts: tuple[str, ...]) -> Grade:
    return grade(spec(data), answer, question=question, facts=facts)


def test_without_context_an_echo_still_passes() -> None:
    # Callers that pass no question and facts get the plain literal check.
    assert check(SMALL, "Granite hiking boots run large or small.").passed is True


@pytest.mark.parametrize(
    ("answer", "grade_"),
    [
        (
            "Granite hiking boots run large or small.",
            Grade(
                passed=False,
                score=0.0,
                reason="the answer repeats the question's options; it does not choose",
                kind="content",
            ),
        ),
        (
            "Granite hiking boots run small.",
            Grade(passed=True, score=1.0, reason="contains 'small'"),
        ),
        ("Small.", Grade(passed=True, score=1.0, reason="contains 'small'")),
        (
            "Do Granite hiking boots run large or small? They run half a size small.",
            Grade(passed=True, score=1.0, reason="contains 'small'"),
        ),
    ],
)
def test_an_answer_that_repeats_the_question_does_not_choose(answer: str, grade_: Grade) -> None:
    assert in_context(SMALL, answer, BOOTS_Q, BOOTS_FACTS) == grade_


HAS_OSLO = {"type": "contains", "values": ["Oslo"]}


def test_a_repeated_question_without_options_is_named() -> None:
    question = "Is the capital of Norway Oslo?"
    result = in_context(HAS_OSLO, "Is the capital of Norway Oslo?", question, ("Oslo.",))

    assert result.reason == "the answer only repeats the question, which holds 'Oslo'"
    assert in_context(HAS_OSLO, "Yes, it is Oslo.", question, ("Oslo.",)).passed is True


def test_pasted_facts_do_not_count_but_one_quoted_fact_does() -> None:
    pasted = "Relevant facts:\n- " + "\n- ".join(BOOTS_FACTS)
    two_facts = f"{BOOTS_FACTS[0]} {BOOTS_FACTS[1]}"

    assert in_context(SMALL, pasted, BOOTS_Q, BOOTS_FACTS) == Grade(
        passed=False,
        score=0.0,
        reason="the answer pastes the injected facts back; 'small' is only in the copy",
        kind="content",
    )
    assert in_context(SMALL, two_facts, BOOTS_Q, BOOTS_FACTS).passed is False
    # Quoting the one fact that answers is answering; so is stating it after the paste.
    assert in_context(SMALL, BOOTS_FACTS[0], BOOTS_Q, BOOTS_FACTS).passed is True
    assert in_context(SMALL, pasted + "\n\nThey run small.", BOOTS_Q, BOOTS_FACTS).passed is True


PASSWORD_Q = "How often do we have to change our passwords?"
PASSWORD_FACTS = ("Passwords must be changed every 120 days.", "Passwords need 14 characters.")
DAYS_120 = {"type": "contains", "values": ["120 days"]}


@pytest.mark.parametrize(
    ("answer", "passed"),
    [
        ("We do not have to change our passwords every 120 days.", False),
        ("Passwords never need changing, not even every 120 days.", False),
        ("You must change your password every 120 days.", True),
        ("Passwords can't be kept longer than 120 days.", True),  # a bound, stated
        ("It is not 90 days, it is every 120 days.", True),  # the negation is another clause
        ("No password lasts more than 120 days.", True),
    ],
)
def test_a_denied_quantity_does_not_count(answer: str, passed: bool) -> None:
    result = in_context(DAYS_120, answer, PASSWORD_Q, PASSWORD_FACTS)

    assert result.passed is passed
    if not passed:
        assert result.reason.startswith("the answer denies '120 days': ")


def test_agreeing_with_a_negative_fact_is_no_denial() -> None:
    facts = ("Orders do not ship on 25 December.", "Orders ship every other day.")
    christmas = {"type": "contains", "values": ["25 December"]}

    assert in_context(christmas, "We do not ship on 25 December.", "Closed when?", facts).passed


REFUND_Q = "How many days do customers have to return an order?"
REFUND_FACTS = ("Refunds are accepted within 45 days of delivery.", "Price match: within 14 days.")
DAYS_45 = {"type": "contains", "values": ["45 days"]}


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Within 45 days; for store credit, within 60 days.", "also states '60 days'"),
        ("You have 45 days, or 30 days for sale items.", "also states '30 days'"),
        ("Returns are accepted within 45 days, not 60 days.", None),  # denied: no claim
        ("Within 45 days, and price matching within 14 days.", None),  # a fact, restated
        ("Within 45 days; refunds take 3 business days.", None),  # another unit
    ],
)
def test_a_conflicting_value_of_the_same_kind_fails(answer: str, reason: str | None) -> None:
    result = in_context(DAYS_45, answer, REFUND_Q, REFUND_FACTS)

    assert result.passed is (reason is None)
    if reason:
        assert result.reason == f"the answer {reason}, conflicting with '45 days'"


def test_a_bare_expected_number_takes_its_kind_from_the_facts() -> None:
    facts = ("The Summit tier starts at 5,000 points a year.", "Members earn 10 points per dollar.")
    points = {"type": "contains", "values": ["5,000"]}

    ok = in_context(points, "5000 points; members earn 10 points per dollar.", "Points?", facts)
    bad = in_context(points, "5,000 points, or 2,000 points for students.", "Points?", facts)

    assert ok.passed is True
    assert bad.reason == "the answer also states '2,000 points', conflicting with '5,000'"


def test_contains_all_keeps_partial_credit_in_context() -> None:
    formats = {"type": "contains", "values": ["CSV", "PDF"], "mode": "all"}
    facts = ("Reports can be exported as CSV or PDF.",)

    partial = in_context(formats, "Reports export as CSV.", "Which formats?", facts)

    assert partial == Grade(passed=False, score=0.5, reason="missing 'PDF'", kind="content")
    assert in_context(formats, "As PDF and CSV.", "Which formats?", facts).passed is True


def test_numeric_skips_numbers_that_only_echo_the_prompt() -> None:
    question = "PTO accrues monthly. How many days has an employee accrued after 8 months?"
    facts = ("Employees accrue 2.25 days per month.", "Accrual starts on day one.")
    data = {"type": "numeric", "value": 18}

    assert in_context(data, "After 8 months: 18 days.", question, facts).passed is True
    assert in_context(data, "An employee accrued days after 8 months.", question, facts) == Grade(
        passed=False,
        score=0.0,
        reason="the answer's numbers only repeat the question",
        kind="content",
    )
    pasted = "Relevant facts:\n- " + "\n- ".join(facts)
    assert in_context(data, pasted, question, facts).reason == (
        "the answer's numbers are only in the injected facts it pastes back"
    )
    assert in_context(data, "I don't know.", question, facts).kind == "format"


# --- JSON: the right shape with a wrong value is a content failure ------------------------------

REASON_OK = "valid JSON matching the schema"
REFUND_JSON = {
    "type": "json_schema",
    "schema": {
        "type": "object",
        "required": ["refund_days", "unit"],
        "properties": {"refund_days": {"const": 45}, "unit": {"enum": ["days", "weeks"]}},
        "additionalProperties": False,
    },
}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            '{"refund_days": 12, "unit": "days"}',
            Grade(
                passed=False,
                score=0.0,
                reason="wrong value at refund_days: 12, expected 45",
                kind="content",
            ),
        ),
        (
            '{"refund_days": 45, "unit": "months"}',
            Grade(
                passed=False,
                score=0.0,
                reason='wrong value at unit: "months", expected one of ["days", "weeks"]',
                kind="content",
            ),
        ),
        (
            '{"refund_days": "45", "unit": "days"}',
            Grade(
                passed=False,
                score=0.0,
                reason="schema violation at refund_days: 45 was expected",
                kind="format",
            ),
        ),
        (
            '{"refund_days": 12}',
            Grade(
                passed=False,
                score=0.0,
                reason="schema violation at (root): 'unit' is a required property",
                kind="format",
            ),
        ),
        (
            '{"refund_days": 12, "unit": "days", "note": "x"}',
            Grade(
                passed=False,
                score=0.0,
                reason="schema violation at (root): Additional properties are not allowed "
                "('note' was unexpected)",
                kind="format",
            ),
        ),
        ('{"refund_days": 45, "unit": "days"}', Grade(passed=True, score=1.0, reason=REASON_OK)),
    ],
)
def test_json_wrong_value_is_content_wrong_shape_is_format(answer: str, expected: Grade) -> None:
    assert check(REFUND_JSON, answer) == expected


# --- facts that imply the answer without spelling it: unknown, not False ------------------------


@pytest.mark.parametrize(
    ("data", "facts", "question", "covered"),
    [
        (
            {"type": "contains", "values": ["no"]},
            ["Only employees may expense hardware."],
            "",
            None,
        ),
        ({"type": "exact", "value": "Yes"}, ["The VPN is required on public Wi-Fi."], "", None),
        ({"type": "contains", "values": ["no"]}, ["No contractor may expense hardware."], "", True),
        ({"type": "numeric", "value": 348}, ["$29 per user per month."], "We have 12 users.", None),
        ({"type": "numeric", "value": 348}, ["$29 per user per month."], "", False),
        ({"type": "numeric", "value": 28}, ["A 21-day trial.", "Extended by 7 days."], "", None),
        ({"type": "numeric", "value": 64}, ["20% off the $80 jacket."], "", None),
        ({"type": "contains", "values": ["$348"]}, ["$29 a user."], "For 12 users?", None),
        ({"type": "contains", "values": ["$350"]}, ["$29 a user."], "For 12 users?", False),
        ({"type": "contains", "values": ["23"]}, ["Founded in 2023."], "", False),
        ({"type": "contains", "values": ["Fargo"]}, ["HQ: Duluth."], "", False),
    ],
)
def test_facts_that_imply_the_answer_are_unknown(
    data: dict[str, Any], facts: list[str], question: str, covered: bool | None
) -> None:
    assert facts_cover_answer(spec(data), facts, question) is covered


def test_grading_in_context_stays_fast_on_a_long_looping_answer() -> None:
    """Uncapped small models loop for thousands of tokens; echo and claim checks stay linear."""
    question = "How many days do customers have to return an order, and is it 30 or 45 days?"
    facts = tuple(f"Refunds are accepted within 45 days of delivery, rule {i}." for i in range(20))
    looping = " ".join(["The refund window is 45 days, not 60 days, or 30 days."] * 400)
    data = {"type": "contains", "values": ["45 days", "small", "$75", "120 days"], "mode": "any"}

    started = time.monotonic()
    result = in_context(data, looping, question, facts)

    assert time.monotonic() - started < 2
    assert result.reason == "the answer also states '30 days', conflicting with '45 days'"
