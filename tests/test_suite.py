"""Suites: parsing YAML / JSON / JSONL, located validation errors, and fact injection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.diagnosis.grading import (
    ContainsGrader,
    ExactGrader,
    JsonSchemaGrader,
    facts_cover_answer,
)
from app.diagnosis.suite import (
    ARMS,
    Case,
    FactInjection,
    Suite,
    SuiteError,
    build_messages,
    format_for_path,
    format_loc,
    load_suite_file,
    parse_suite_text,
    render_facts,
    validate_suite,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO_SUITE = ROOT / "fixtures" / "demo-suite.yaml"

STYLES = [
    FactInjection(position=position, format=fmt)
    for position in ("before_input", "system")
    for fmt in ("bullets", "numbered", "tagged")
]
STYLE_IDS = [f"{s.position}-{s.format}" for s in STYLES]


def a_case(case_id: Any = "c0", **overrides: Any) -> dict[str, Any]:
    return {"id": case_id, "input": "q?", "facts": ["a fact"], "expected": "x", **overrides}


def suite_errors(data: Any) -> list[dict[str, str]]:
    with pytest.raises(SuiteError) as info:
        validate_suite(data)
    return [e.as_dict() for e in info.value.errors]


def text_errors(text: str, fmt: Any) -> list[dict[str, str]]:
    with pytest.raises(SuiteError) as info:
        parse_suite_text(text, fmt)
    return [e.as_dict() for e in info.value.errors]


# --- parsing ------------------------------------------------------------------------------------

YAML_SUITE = """\
name: capitals
description: Capital cities.
system_prompt: Answer in one word.
cases:
  - id: fr
    input: What is the capital of France?
    facts:
      - Paris is the capital of France.
    expected: Paris
    tags: [geo, easy]
  - id: 42
    input: What is 6 times 7?
    facts: ["6 x 7 = 42"]
    expected: {type: numeric, value: 42, tolerance: 0.5}
"""


def test_yaml_suite_parses_every_field() -> None:
    suite = parse_suite_text(YAML_SUITE, "yaml")

    assert suite.name == "capitals"
    assert suite.description == "Capital cities."
    assert suite.system_prompt == "Answer in one word."
    assert [c.id for c in suite.cases] == ["fr", "42"]
    first, second = suite.cases
    assert first.input == "What is the capital of France?"
    assert first.facts == ["Paris is the capital of France."]
    assert first.tags == ["geo", "easy"]
    assert second.tags == []
    assert second.expected.model_dump() == {"type": "numeric", "value": 42.0, "tolerance": 0.5}


def test_bare_string_expected_becomes_contains_any() -> None:
    suite = parse_suite_text(YAML_SUITE, "yaml")

    expected = suite.cases[0].expected
    assert isinstance(expected, ContainsGrader)
    assert expected.values == ["Paris"]
    assert expected.mode == "any"
    assert expected.case_sensitive is False


def test_integer_case_ids_become_strings() -> None:
    suite = validate_suite({"name": "s", "cases": [a_case(7), a_case(0)]})

    assert [c.id for c in suite.cases] == ["7", "0"]
    assert all(isinstance(c.id, str) for c in suite.cases)


def test_boolean_case_id_is_not_turned_into_text() -> None:
    assert suite_errors({"name": "s", "cases": [a_case(True)]}) == [
        {"loc": "cases[0].id", "msg": "Input should be a valid string"}
    ]


def test_integer_and_string_ids_with_the_same_text_collide() -> None:
    errors = suite_errors({"name": "s", "cases": [a_case(1), a_case("1")]})

    assert errors == [
        {"loc": "cases[1].id", "msg": "duplicate case id '1' (first used by cases[0])"}
    ]


def test_yaml_without_name_takes_the_default_name() -> None:
    text = "cases:\n  - {id: a, input: q, facts: [f], expected: x}\n"

    assert parse_suite_text(text, "yaml").name == "suite"
    assert parse_suite_text(text, "yaml", default_name="fallback").name == "fallback"


def test_json_suite_parses() -> None:
    data = {
        "name": "json-suite",
        "system_prompt": "Be brief.",
        "cases": [
            a_case("a", expected={"type": "exact", "value": "Yes", "case_sensitive": True}),
            a_case(3, expected="no"),
        ],
    }

    suite = parse_suite_text(json.dumps(data), "json")

    assert suite.name == "json-suite"
    assert suite.system_prompt == "Be brief."
    assert [c.id for c in suite.cases] == ["a", "3"]
    assert suite.cases[0].expected == ExactGrader(type="exact", value="Yes", case_sensitive=True)
    assert suite.cases[1].expected == ContainsGrader(type="contains", values=["no"])


def test_json_without_name_takes_the_default_name() -> None:
    suite = parse_suite_text(json.dumps({"cases": [a_case()]}), "json", default_name="d")

    assert suite.name == "d"


def test_jsonl_holds_cases_only_and_skips_blank_lines() -> None:
    lines = [
        json.dumps(a_case("one", expected="Paris")),
        "",
        "   ",
        json.dumps(a_case(2, facts=["f1", "f2"], expected={"type": "regex", "pattern": r"\d+"})),
    ]

    suite = parse_suite_text("\n".join(lines) + "\n", "jsonl", default_name="from-stem")

    assert suite.name == "from-stem"
    assert suite.description == ""
    assert suite.system_prompt == ""
    assert [c.id for c in suite.cases] == ["one", "2"]
    assert suite.cases[1].facts == ["f1", "f2"]
    assert suite.cases[1].expected.model_dump() == {
        "type": "regex",
        "pattern": r"\d+",
        "ignore_case": False,
    }


def test_jsonl_file_takes_its_name_from_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "support-cases.jsonl"
    path.write_text(json.dumps(a_case("a")) + "\n" + json.dumps(a_case("b")) + "\n", "utf-8")

    suite = load_suite_file(path)

    assert suite.name == "support-cases"
    assert [c.id for c in suite.cases] == ["a", "b"]


def test_jsonl_line_with_a_name_key_is_an_unknown_case_field() -> None:
    line = json.dumps({"name": "x", **a_case()})

    assert text_errors(line, "jsonl") == [
        {"loc": "cases[0].name", "msg": "Extra inputs are not permitted"}
    ]


def test_jsonl_line_that_is_not_an_object_is_a_bad_case() -> None:
    assert text_errors("[1, 2]\n", "jsonl") == [
        {"loc": "cases[0]", "msg": "Input should be a valid dictionary or instance of Case"}
    ]


@pytest.mark.parametrize(
    ("filename", "fmt"),
    [
        ("s.jsonl", "jsonl"),
        ("S.JSONL", "jsonl"),
        ("s.json", "json"),
        ("s.Json", "json"),
        ("s.yaml", "yaml"),
        ("s.yml", "yaml"),
        ("s.txt", "yaml"),
        ("suite", "yaml"),
    ],
)
def test_format_is_chosen_by_suffix(filename: str, fmt: str) -> None:
    assert format_for_path(Path(filename)) == fmt


def test_load_yaml_and_json_files(tmp_path: Path) -> None:
    yaml_path = tmp_path / "capitals.yml"
    yaml_path.write_text("cases:\n  - {id: a, input: q, facts: [f], expected: x}\n", "utf-8")
    json_path = tmp_path / "named.JSON"
    json_path.write_text(json.dumps({"name": "explicit", "cases": [a_case("b")]}), "utf-8")

    from_yaml = load_suite_file(yaml_path)
    from_json = load_suite_file(json_path)

    assert (from_yaml.name, [c.id for c in from_yaml.cases]) == ("capitals", ["a"])
    assert (from_json.name, [c.id for c in from_json.cases]) == ("explicit", ["b"])


def test_load_missing_file_is_a_suite_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"

    with pytest.raises(SuiteError) as info:
        load_suite_file(path)

    [error] = info.value.errors
    assert error.loc == ""
    assert error.msg.startswith(f"cannot read {path}: ")
    assert "No such file or directory" in error.msg


def test_load_non_utf8_file_is_a_suite_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))

    with pytest.raises(SuiteError) as info:
        load_suite_file(path)

    [error] = info.value.errors
    assert error.loc == ""
    assert error.msg.startswith(f"cannot read {path}: ")
    assert "utf-8" in error.msg


def test_json_file_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"name": "bom", "cases": [a_case()]}).encode())

    assert load_suite_file(path).name == "bom"


def test_jsonl_string_containing_a_unicode_line_separator_parses() -> None:
    line = json.dumps(a_case(input="first\u2028second"), ensure_ascii=False)

    suite = parse_suite_text(line + "\n", "jsonl")

    assert suite.cases[0].input == "first\u2028second"


# --- the demo suite -----------------------------------------------------------------------------


def test_demo_suite_loads() -> None:
    suite = load_suite_file(DEMO_SUITE)

    assert suite.name == "northwind-support"
    assert suite.system_prompt == (
        "You are the customer-support assistant for Northwind Outfitters. "
        "Answer accurately and concisely."
    )
    assert len(suite.cases) == 24
    assert len({c.id for c in suite.cases}) == 24
    fact_cases = [c for c in suite.cases if c.tags == ["fact"]]
    format_cases = [c for c in suite.cases if c.tags == ["format"]]
    assert len(fact_cases) == 12
    assert len(format_cases) == 12
    assert all(isinstance(c.expected, ContainsGrader) for c in fact_cases)
    assert all(isinstance(c.expected, JsonSchemaGrader) for c in format_cases)

    refund = suite.cases[0]
    assert refund.id == "refund-window"
    assert refund.facts == [
        "Refunds are accepted within 45 days of delivery.",
        "Store credit never expires.",
        "Gift cards cannot be refunded.",
    ]
    assert refund.expected == ContainsGrader(type="contains", values=["45 days"])


def test_demo_suite_json_schemas_keep_their_types() -> None:
    cases = {c.id: c for c in load_suite_file(DEMO_SUITE).cases}

    refund = cases["json-refund"].expected
    assert isinstance(refund, JsonSchemaGrader)
    assert refund.json_schema == {
        "type": "object",
        "required": ["refund_days"],
        "properties": {"refund_days": {"const": 45}},
        "additionalProperties": False,
    }
    support = cases["json-support"].expected
    assert isinstance(support, JsonSchemaGrader)
    # YAML 1.1 would read an unquoted 18:00 as the sexagesimal integer 1080.
    assert support.json_schema["properties"] == {
        "opens": {"const": "08:00"},
        "closes": {"const": "18:00"},
    }


def test_demo_suite_facts_cover_every_literal_answer() -> None:
    suite = load_suite_file(DEMO_SUITE)

    coverage = {c.id: facts_cover_answer(c.expected, c.facts) for c in suite.cases}

    assert {k for k, v in coverage.items() if v is True} == {
        c.id for c in suite.cases if c.tags == ["fact"]
    }
    assert {k for k, v in coverage.items() if v is None} == {
        c.id for c in suite.cases if c.tags == ["format"]
    }


# --- validation errors, located the way a user reads the file -----------------------------------


def test_empty_contains_list_names_the_case_and_field() -> None:
    cases = [a_case(f"c{i}") for i in range(3)]
    cases.append(a_case("c3", expected={"type": "contains", "values": []}))

    assert suite_errors({"name": "s", "cases": cases}) == [
        {
            "loc": "cases[3].expected.values",
            "msg": "List should have at least 1 item after validation, not 0",
        }
    ]


def test_blank_contains_value_is_rejected() -> None:
    assert suite_errors({"name": "s", "cases": [a_case(expected="  ")]}) == [
        {
            "loc": "cases[0].expected.values",
            "msg": "values must contain text, not only whitespace or punctuation",
        }
    ]


def test_duplicate_id_names_the_second_case_and_the_first_use() -> None:
    cases = [a_case("a"), a_case("b"), a_case("a")]

    with pytest.raises(SuiteError) as info:
        validate_suite({"name": "s", "cases": cases})

    assert [e.as_dict() for e in info.value.errors] == [
        {"loc": "cases[2].id", "msg": "duplicate case id 'a' (first used by cases[0])"}
    ]
    assert str(info.value) == "cases[2].id: duplicate case id 'a' (first used by cases[0])"


def test_duplicate_id_at_index_one() -> None:
    assert suite_errors({"name": "s", "cases": [a_case("x"), a_case("x")]}) == [
        {"loc": "cases[1].id", "msg": "duplicate case id 'x' (first used by cases[0])"}
    ]


def test_unknown_grader_type_names_expected() -> None:
    errors = suite_errors(
        {"name": "s", "cases": [a_case(expected={"type": "exakt", "value": "x"})]}
    )

    assert errors == [
        {
            "loc": "cases[0].expected",
            "msg": "Input tag 'exakt' found using 'type' does not match any of the expected tags: "
            "'exact', 'contains', 'regex', 'json_schema', 'numeric', 'judge', 'all', 'any'",
        }
    ]


def test_grader_without_type_names_expected() -> None:
    assert suite_errors({"name": "s", "cases": [a_case(expected={"values": ["x"]})]}) == [
        {"loc": "cases[0].expected", "msg": "Unable to extract tag using discriminator 'type'"}
    ]


def test_numeric_expected_is_not_a_bare_string() -> None:
    assert suite_errors({"name": "s", "cases": [a_case(expected=45)]}) == [
        {
            "loc": "cases[0].expected",
            "msg": "Input should be a valid dictionary or object to extract fields from",
        }
    ]


def test_bad_regex_inside_all_names_the_nested_check() -> None:
    expected = {"type": "all", "checks": [{"type": "regex", "pattern": "("}]}

    assert suite_errors({"name": "s", "cases": [a_case(expected=expected)]}) == [
        {
            "loc": "cases[0].expected.checks[0].pattern",
            "msg": "invalid regular expression: missing ) at position 1",
        }
    ]


def test_error_deep_inside_nested_composites() -> None:
    expected = {
        "type": "any",
        "checks": [
            {"type": "exact", "value": "x"},
            {"type": "all", "checks": [{"type": "contains", "values": ["a"]}, {"type": "numeric"}]},
        ],
    }

    assert suite_errors({"name": "s", "cases": [a_case(expected=expected)]}) == [
        {"loc": "cases[0].expected.checks[1].checks[1].value", "msg": "Field required"}
    ]


def test_judge_without_rubric_or_reference_names_expected() -> None:
    assert suite_errors({"name": "s", "cases": [a_case(expected={"type": "judge"})]}) == [
        {
            "loc": "cases[0].expected",
            "msg": "a judge grader needs a rubric, a reference, or both",
        }
    ]


def test_invalid_json_schema_names_the_schema_field() -> None:
    expected = {"type": "json_schema", "schema": {"type": "objekt"}}

    assert suite_errors({"name": "s", "cases": [a_case(expected=expected)]}) == [
        {
            "loc": "cases[0].expected.schema",
            "msg": "invalid JSON Schema: 'objekt' is not valid under any of the given schemas",
        }
    ]


def test_empty_suite_names_cases() -> None:
    assert suite_errors({"name": "s", "cases": []}) == [
        {"loc": "cases", "msg": "List should have at least 1 item after validation, not 0"}
    ]


def test_missing_cases_and_name() -> None:
    assert suite_errors({}) == [
        {"loc": "name", "msg": "Field required"},
        {"loc": "cases", "msg": "Field required"},
    ]


def test_missing_facts_names_the_case() -> None:
    case = a_case("c2")
    del case["facts"]

    errors = suite_errors({"name": "s", "cases": [a_case("c0"), a_case("c1"), case]})

    assert errors == [{"loc": "cases[2].facts", "msg": "Field required"}]


def test_empty_facts_list_names_the_case() -> None:
    cases = [a_case("c0"), a_case("c1"), a_case("c2", facts=[])]

    assert suite_errors({"name": "s", "cases": cases}) == [
        {"loc": "cases[2].facts", "msg": "List should have at least 1 item after validation, not 0"}
    ]


def test_blank_fact_names_the_case() -> None:
    cases = [a_case("c0"), a_case("c1"), a_case("c2", facts=["real", " \n"])]

    assert suite_errors({"name": "s", "cases": cases}) == [
        {"loc": "cases[2].facts", "msg": "facts must not contain empty strings"}
    ]


def test_empty_input_and_empty_id_are_rejected() -> None:
    assert suite_errors({"name": "s", "cases": [a_case("", input="")]}) == [
        {"loc": "cases[0].id", "msg": "String should have at least 1 character"},
        {"loc": "cases[0].input", "msg": "String should have at least 1 character"},
    ]


def test_every_problem_is_reported_at_once() -> None:
    cases = [a_case("ok"), a_case("bad1", facts=[]), a_case("bad2", expected={"type": "judge"})]

    errors = suite_errors({"name": "", "cases": cases})

    assert [e["loc"] for e in errors] == ["name", "cases[1].facts", "cases[2].expected"]


def test_unknown_case_field_is_rejected() -> None:
    assert suite_errors({"name": "s", "cases": [a_case(colour="red")]}) == [
        {"loc": "cases[0].colour", "msg": "Extra inputs are not permitted"}
    ]


def test_unknown_top_level_field_is_rejected() -> None:
    assert suite_errors({"name": "s", "cases": [a_case()], "colour": "red"}) == [
        {"loc": "colour", "msg": "Extra inputs are not permitted"}
    ]


def test_unknown_grader_field_is_rejected() -> None:
    expected = {"type": "contains", "values": ["x"], "colour": "red"}

    assert suite_errors({"name": "s", "cases": [a_case(expected=expected)]}) == [
        {"loc": "cases[0].expected.colour", "msg": "Extra inputs are not permitted"}
    ]


_LOC_BUG = (
    "BUG: format_loc (app/diagnosis/suite.py) drops every loc part that equals a grader type "
    "name, not only the discriminator tag pydantic inserts, so an unknown field named like a "
    "grader type (a case with `contains:` instead of `expected:`) loses its name"
)


def test_unknown_case_field_named_like_a_grader_type_is_named() -> None:
    case = a_case()
    case["contains"] = case.pop("expected")

    assert suite_errors({"name": "s", "cases": [case]}) == [
        {"loc": "cases[0].expected", "msg": "Field required"},
        {"loc": "cases[0].contains", "msg": "Extra inputs are not permitted"},
    ]


def test_unknown_grader_field_named_like_a_grader_type_is_named() -> None:
    expected = {"type": "contains", "values": ["x"], "exact": True}

    assert suite_errors({"name": "s", "cases": [a_case(expected=expected)]}) == [
        {"loc": "cases[0].expected.exact", "msg": "Extra inputs are not permitted"}
    ]


def test_unknown_top_level_field_named_like_a_grader_type_is_named() -> None:
    assert suite_errors({"name": "s", "cases": [a_case()], "all": True}) == [
        {"loc": "all", "msg": "Extra inputs are not permitted"}
    ]


def test_format_loc_drops_only_the_discriminator_tags() -> None:
    loc = ("cases", 3, "expected", "all", "checks", 0, "regex", "pattern")

    assert format_loc(loc) == "cases[3].expected.checks[0].pattern"
    assert format_loc(("cases", 0, "function-after[_x(), str]", "id")) == "cases[0].id"
    assert format_loc((0, "input"), prefix="suite") == "suite[0].input"
    assert format_loc(()) == ""


# --- malformed text and the wrong top level ------------------------------------------------------


def test_malformed_yaml_names_the_format_and_line() -> None:
    [error] = text_errors("name: s\ncases: [\n  - id: a\n", "yaml")

    assert error["loc"] == ""
    assert error["msg"].startswith("not valid YAML: ")
    assert "line 3" in error["msg"]


def test_malformed_json_names_the_format_and_position() -> None:
    assert text_errors('{"name": "s",\n  cases: []}', "json") == [
        {
            "loc": "",
            "msg": "not valid JSON: Expecting property name enclosed in double quotes: "
            "line 2 column 3 (char 16)",
        }
    ]


def test_malformed_jsonl_line_names_the_file_line() -> None:
    text = json.dumps(a_case("a")) + "\n\n{not json}\n" + json.dumps(a_case("b"))

    assert text_errors(text, "jsonl") == [
        {
            "loc": "line 3",
            "msg": "not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        }
    ]


def test_empty_jsonl_is_an_empty_suite() -> None:
    assert text_errors("\n\n", "jsonl") == [
        {"loc": "cases", "msg": "List should have at least 1 item after validation, not 0"}
    ]


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("- a\n- b\n", "yaml"),
        ("just a string", "yaml"),
        ("", "yaml"),
        ("[1, 2]", "json"),
        ('"text"', "json"),
        ("null", "json"),
    ],
    ids=["yaml-list", "yaml-scalar", "yaml-empty", "json-list", "json-string", "json-null"],
)
def test_non_object_top_level_is_rejected(text: str, fmt: str) -> None:
    with pytest.raises(SuiteError) as info:
        parse_suite_text(text, fmt)  # type: ignore[arg-type]

    assert [e.as_dict() for e in info.value.errors] == [
        {"loc": "", "msg": "a suite must be an object with name and cases"}
    ]
    assert str(info.value) == "a suite must be an object with name and cases"


def test_suite_error_is_a_value_error_joining_every_problem() -> None:
    with pytest.raises(ValueError, match=r"^name: Field required; cases: Field required$"):
        validate_suite({})


# --- fact injection -------------------------------------------------------------------------------

SYSTEM = "You are terse."
CASE = Case.model_validate(
    {
        "id": "c",
        "input": "What is the refund window?",
        "facts": ["Refunds: 45 days.", "No fees."],
        "expected": "45",
    }
)
BLOCKS = {
    "bullets": "Relevant facts:\n- Refunds: 45 days.\n- No fees.",
    "numbered": "Relevant facts:\n1. Refunds: 45 days.\n2. No fees.",
    "tagged": "<facts>\nRefunds: 45 days.\nNo fees.\n</facts>",
}


@pytest.mark.parametrize("fmt", ["bullets", "numbered", "tagged"])
def test_render_facts_formats(fmt: str) -> None:
    style = FactInjection(format=fmt)  # type: ignore[arg-type]

    assert render_facts(CASE.facts, style) == BLOCKS[fmt]


def test_fact_injection_defaults_and_validation() -> None:
    assert FactInjection().model_dump() == {"position": "before_input", "format": "bullets"}
    with pytest.raises(ValidationError):
        FactInjection(position="after_input")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        FactInjection(format="csv")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        FactInjection.model_validate({"position": "system", "extra": 1})


def test_arms() -> None:
    assert ARMS == ("closed_book", "open_book", "prompt_fix", "open_book_control", "retrieved")


@pytest.mark.parametrize("style", STYLES, ids=STYLE_IDS)
def test_closed_book_has_no_facts(style: FactInjection) -> None:
    assert build_messages(SYSTEM, CASE, "closed_book", style) == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What is the refund window?"},
    ]


@pytest.mark.parametrize("fmt", ["bullets", "numbered", "tagged"])
def test_open_book_facts_before_the_input(fmt: str) -> None:
    style = FactInjection(position="before_input", format=fmt)  # type: ignore[arg-type]

    assert build_messages(SYSTEM, CASE, "open_book", style) == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"{BLOCKS[fmt]}\n\nWhat is the refund window?"},
    ]


@pytest.mark.parametrize("fmt", ["bullets", "numbered", "tagged"])
def test_open_book_facts_in_the_system_message(fmt: str) -> None:
    style = FactInjection(position="system", format=fmt)  # type: ignore[arg-type]

    assert build_messages(SYSTEM, CASE, "open_book", style) == [
        {"role": "system", "content": f"{SYSTEM}\n\n{BLOCKS[fmt]}"},
        {"role": "user", "content": "What is the refund window?"},
    ]


@pytest.mark.parametrize("fmt", ["bullets", "numbered", "tagged"])
def test_prompt_fix_uses_the_candidate_prompt_plus_facts(fmt: str) -> None:
    before = FactInjection(position="before_input", format=fmt)  # type: ignore[arg-type]
    system = FactInjection(position="system", format=fmt)  # type: ignore[arg-type]
    fix = "Answer with the number of days only."

    assert build_messages(SYSTEM, CASE, "prompt_fix", before, candidate_prompt=fix) == [
        {"role": "system", "content": fix},
        {"role": "user", "content": f"{BLOCKS[fmt]}\n\nWhat is the refund window?"},
    ]
    assert build_messages(SYSTEM, CASE, "prompt_fix", system, candidate_prompt=fix) == [
        {"role": "system", "content": f"{fix}\n\n{BLOCKS[fmt]}"},
        {"role": "user", "content": "What is the refund window?"},
    ]


@pytest.mark.parametrize("style", STYLES, ids=STYLE_IDS)
def test_candidate_prompt_is_ignored_outside_the_prompt_fix_arm(style: FactInjection) -> None:
    for arm in ("closed_book", "open_book", "open_book_control"):
        with_candidate = build_messages(SYSTEM, CASE, arm, style, candidate_prompt="OTHER")  # type: ignore[arg-type]
        assert with_candidate == build_messages(SYSTEM, CASE, arm, style)  # type: ignore[arg-type]
        assert with_candidate[0]["content"].startswith(SYSTEM)


def test_prompt_fix_without_a_candidate_falls_back_to_the_system_prompt() -> None:
    style = FactInjection()

    assert build_messages(SYSTEM, CASE, "prompt_fix", style) == build_messages(
        SYSTEM, CASE, "open_book", style
    )


@pytest.mark.parametrize("style", STYLES, ids=STYLE_IDS)
def test_open_book_control_sends_the_open_book_messages(style: FactInjection) -> None:
    control = build_messages(SYSTEM, CASE, "open_book_control", style)

    assert control == build_messages(SYSTEM, CASE, "open_book", style)
    assert control != build_messages(SYSTEM, CASE, "closed_book", style)


def test_no_system_message_when_the_system_prompt_is_empty() -> None:
    before = FactInjection(position="before_input", format="bullets")

    assert build_messages("", CASE, "closed_book", before) == [
        {"role": "user", "content": "What is the refund window?"}
    ]
    assert build_messages("", CASE, "open_book", before) == [
        {"role": "user", "content": f"{BLOCKS['bullets']}\n\nWhat is the refund window?"}
    ]


@pytest.mark.parametrize("fmt", ["bullets", "numbered", "tagged"])
def test_facts_alone_make_the_system_message_when_the_prompt_is_empty(fmt: str) -> None:
    style = FactInjection(position="system", format=fmt)  # type: ignore[arg-type]

    assert build_messages("", CASE, "open_book", style) == [
        {"role": "system", "content": BLOCKS[fmt]},
        {"role": "user", "content": "What is the refund window?"},
    ]
    assert build_messages("", CASE, "closed_book", style) == [
        {"role": "user", "content": "What is the refund window?"}
    ]


def test_prompt_fix_candidate_gives_a_system_message_when_the_suite_has_none() -> None:
    style = FactInjection(position="before_input", format="tagged")

    assert build_messages("", CASE, "prompt_fix", style, candidate_prompt="Be exact.") == [
        {"role": "system", "content": "Be exact."},
        {"role": "user", "content": f"{BLOCKS['tagged']}\n\nWhat is the refund window?"},
    ]


def test_build_messages_does_not_mutate_the_case() -> None:
    before = CASE.model_dump()
    for style in STYLES:
        for arm in ARMS:
            build_messages(SYSTEM, CASE, arm, style, candidate_prompt="fix")

    assert CASE.model_dump() == before


def test_suite_model_round_trips_through_json() -> None:
    suite = parse_suite_text(YAML_SUITE, "yaml")

    again = Suite.model_validate_json(suite.model_dump_json(by_alias=True))

    assert again == suite


# --- graders that could only fail at run time are refused up front -----------------------------


@pytest.mark.parametrize(
    ("schema", "ref"),
    [
        ({"$ref": "#/$defs/missing"}, "#/$defs/missing"),
        ({"properties": {"a": {"$ref": "#/definitions/a"}}}, "#/definitions/a"),
        ({"$ref": "https://example.com/schema.json"}, "https://example.com/schema.json"),
    ],
)
def test_a_json_schema_whose_ref_does_not_resolve_is_refused(
    schema: dict[str, Any], ref: str
) -> None:
    expected = {"type": "json_schema", "schema": schema}
    errors = suite_errors({"name": "s", "cases": [a_case(expected=expected)]})
    assert [e["loc"] for e in errors] == ["cases[0].expected.schema"]
    assert ref in errors[0]["msg"] and "does not resolve" in errors[0]["msg"]


def test_a_json_schema_with_local_refs_is_accepted() -> None:
    schema = {
        "$defs": {"days": {"type": "integer", "minimum": 1}},
        "type": "object",
        "properties": {"refund_days": {"$ref": "#/$defs/days"}},
        "required": ["refund_days"],
    }
    suite = validate_suite(
        {"name": "s", "cases": [a_case(expected={"type": "json_schema", "schema": schema})]}
    )
    assert suite.cases[0].expected.type == "json_schema"


def test_a_json_schema_pattern_that_does_not_compile_is_refused() -> None:
    expected = {"type": "json_schema", "schema": {"type": "string", "pattern": "(unclosed"}}
    errors = suite_errors({"name": "s", "cases": [a_case(expected=expected)]})
    assert [e["loc"] for e in errors] == ["cases[0].expected.schema"]
    assert "(unclosed" in errors[0]["msg"]


def test_a_nul_character_is_refused_with_its_location() -> None:
    errors = suite_errors({"name": "s", "cases": [a_case(input="q\x00?")]})
    assert errors == [
        {"loc": "cases[0].input", "msg": "must not contain the NUL character (\\u0000)"}
    ]
