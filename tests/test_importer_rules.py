"""The importers' rules, on the pure functions: how each tool's fields and forms map to a suite,
and that every mapped grader grades as the other tool meant (checked with rung's own grader)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.diagnosis.grading.checks import grade
from app.diagnosis.suite import Case
from app.importers import (
    Attachments,
    ImportFailed,
    ImportOptions,
    ImportResult,
    import_text,
    references,
)
from app.importers.promptfoo_asserts import assertion_from_string


def run(fmt: Any, text: str, files: dict[str, str] | None = None, **options: Any) -> ImportResult:
    attachments = Attachments(texts=files or {}, followable=True) if files is not None else None
    return import_text(fmt, text, ImportOptions(**options), attachments=attachments)


def failure(fmt: Any, text: str, **options: Any) -> list[dict[str, str]]:
    with pytest.raises(ImportFailed) as info:
        run(fmt, text, **options)
    return [e.as_dict() for e in info.value.errors]


def passes(case: Case, answer: str) -> bool:
    return grade(case.expected, answer).passed


def promptfoo(tests: list[dict[str, Any]], **config: Any) -> str:
    return json.dumps({"tests": tests, **config})


def a_test(question: str = "Q?", context: Any = "A fact.", **fields: Any) -> dict[str, Any]:
    fields.setdefault("assert", [{"type": "contains", "value": "x"}])
    return {"vars": {"question": question, "context": context}, **fields}


# --- promptfoo: prompts -------------------------------------------------------------------------


def test_a_template_with_tags_or_filters_is_not_rendered_and_the_report_says_so() -> None:
    result = run("promptfoo", promptfoo([a_test("Why?")], prompts=["{{ question | upper }}"]))
    assert result.suite.cases[0].input == "Why?"
    assert any("not a simple {{var}} template" in w.msg for w in result.report.warnings)


def test_a_chat_prompt_gives_the_system_prompt_and_the_input() -> None:
    chat = json.dumps(
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Context: {{context}}\nQuestion: {{ question }}"},
        ]
    )
    result = run("promptfoo", promptfoo([a_test("Why?")], prompts=[chat]))
    assert result.suite.system_prompt == "You are terse."
    assert result.suite.cases[0].input == "Question: Why?"


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("Context: {{context}} Question: {{question}}", "Question: Why?"),
        ("<context>\n{{ context }}\n</context>\nAnswer: {{question}}", "Answer: Why?"),
        ("Use these notes:\n{{context}}\n\n{{question}}", "Why?"),
        ("{{question}} ({{missing}})", "Why? ()"),
    ],
)
def test_the_facts_var_never_reaches_the_input(template: str, rendered: str) -> None:
    result = run("promptfoo", promptfoo([a_test("Why?", "Secret fact.")], prompts=[template]))
    assert result.suite.cases[0].input == rendered
    assert result.suite.cases[0].facts == ["Secret fact."]


def test_a_prompt_file_with_several_prompts_renders_the_first_and_says_so() -> None:
    config = promptfoo([a_test("Why?")], prompts=["file://prompts.txt"])
    result = run(
        "promptfoo", config, {"file://prompts.txt": "A: {{question}}\n---\nB: {{question}}"}
    )
    assert result.suite.cases[0].input == "A: Why?"
    assert any("several prompts" in w.msg for w in result.report.warnings)


# --- promptfoo: tests ---------------------------------------------------------------------------


def test_list_vars_expand_into_one_case_each_and_default_test_merges_in() -> None:
    config = promptfoo(
        [{"description": "ask", "vars": {"question": ["Why?", "How?"], "context": "A fact."}}],
        defaultTest={
            "vars": {"context": "Shared fact."},
            "assert": [{"type": "icontains", "value": "{{question}}"}],
        },
    )
    result = run("promptfoo", config)
    assert [(c.id, c.input) for c in result.suite.cases] == [("ask-1", "Why?"), ("ask-2", "How?")]
    assert result.suite.cases[1].expected.model_dump()["values"] == ["How?"]  # rendered value
    assert result.suite.cases[0].facts == ["A fact."]  # the test's own vars win


def test_tests_from_code_urls_or_globs_are_dropped_with_the_reason() -> None:
    config = promptfoo(
        ["file://gen.py:create_tests", "huggingface://datasets/x", "file://cases/*.yaml", a_test()]
    )
    dropped = {n.loc: n.msg for n in run("promptfoo", config, {}).report.dropped_cases}
    assert "running code" in dropped["tests[0]"]
    assert "not followed" in dropped["tests[1]"] and "globs" in dropped["tests[2]"]


def test_a_csv_row_is_read_the_way_promptfoo_reads_it() -> None:
    csv = (
        "question,context,__expected,__prefix,__suffix,__metadata:tier,__metadata:tags[],"
        "__threshold\n"
        '"How many?","Five apples.","contains-any: five, 5",Q: , (short),gold,"a,b\\,c",0.5\n'
    )
    result = run("promptfoo", csv, tests_format="csv")
    case = result.suite.cases[0]
    assert case.input == "Q: How many? (short)"
    assert case.expected.model_dump()["values"] == ["five", "5"]
    assert case.tags == ["tier:gold", "tags:a", "tags:b,c"]
    assert "__threshold" in {f.field for f in result.report.ignored_fields}


@pytest.mark.parametrize(
    ("cell", "kind", "value"),
    [
        ("Paris", "equals", "Paris"),
        ("Paris: the capital", "equals", "Paris: the capital"),
        ("icontains-all: a, b", "icontains-all", ["a", "b"]),
        ("not-contains: x", "not-contains", "x"),
        ("similar(0.9): hello", "similar", "hello"),
        ("grade: is polite", "llm-rubric", "is polite"),
        ("javascript: output.length < 9", "javascript", "output.length < 9"),
        ("file://check.py", "python", "file://check.py"),
        ("is-json", "is-json", None),
    ],
)
def test_expected_cells_parse_like_promptfoo(cell: str, kind: str, value: Any) -> None:
    assert assertion_from_string(cell) == {"type": kind, "value": value}


def test_references_name_the_files_to_read_but_not_code() -> None:
    config = promptfoo(
        [
            "file://tests.csv",
            {
                "vars": {"doc": "file://doc.txt"},
                "assert": [{"type": "python", "value": "file://c.py"}],
            },
        ],
        prompts=["file://prompt.txt"],
    )
    assert sorted(references("promptfoo", config)) == [
        "file://doc.txt",
        "file://prompt.txt",
        "file://tests.csv",
    ]


# --- promptfoo: assertions, graded by rung as promptfoo grades them -----------------------------


def one_case(*asserts: dict[str, Any]) -> tuple[ImportResult, Case]:
    result = run("promptfoo", promptfoo([a_test(**{"assert": list(asserts)})]))
    return result, result.suite.cases[0]


@pytest.mark.parametrize(
    ("assertion", "good", "bad"),
    [
        ({"type": "equals", "value": "Paris"}, "Paris.", "paris"),
        ({"type": "equals", "value": {"a": 1}}, '{"a": 1}', '{"a": 2}'),
        ({"type": "contains", "value": "Paris"}, "It is Paris", "it is paris"),
        ({"type": "icontains", "value": "Paris"}, "it is PARIS", "Lyon"),
        ({"type": "contains-all", "value": ["a1", "b2"]}, "a1 and b2", "a1 only"),
        ({"type": "icontains-any", "value": "Oslo,Rome"}, "rome", "Paris"),
        ({"type": "regex", "value": r"\d{3}"}, "code 123", "code 12"),
        ({"type": "starts-with", "value": "Yes."}, "Yes. Sure", "Well, Yes. Sure"),
        ({"type": "is-json"}, "[1, 2]", "one, two"),
        ({"type": "is-json", "value": "required: [a]\ntype: object"}, '{"a": 0}', '{"b": 0}'),
        (
            {
                "type": "assert-set",
                "assert": [
                    {"type": "contains", "value": "a1"},
                    {"type": "contains", "value": "b2"},
                ],
            },
            "a1 b2",
            "a1",
        ),
    ],
)
def test_mapped_assertions_grade_as_promptfoo_does(
    assertion: dict[str, Any], good: str, bad: str
) -> None:
    _, case = one_case(assertion)
    assert passes(case, good) and not passes(case, bad)


def test_several_assertions_must_all_pass_and_the_rest_are_dropped_with_reasons() -> None:
    result, case = one_case(
        {"type": "contains", "value": "a1"},
        {"type": "regex", "value": "(unclosed"},
        {"type": "not-contains", "value": "b2"},
        {"type": "assert-set", "threshold": 0.5, "assert": [{"type": "equals", "value": "x"}]},
        {"type": "contains", "value": "c3", "transform": "output.toUpperCase()"},
        {"type": "cost", "threshold": 0.01},
        {"type": "factuality", "value": "Paris is the capital"},
    )
    assert case.expected.model_dump(exclude_defaults=True) == {
        "type": "all",
        "checks": [
            {"type": "contains", "values": ["a1"], "case_sensitive": True},
            {"type": "judge", "reference": "Paris is the capital"},
        ],
    }
    why = {n.loc.rsplit(".", 1)[1]: n.msg for n in result.report.dropped}
    assert "invalid regular expression" in why["assert[1]"]
    assert "negated" in why["assert[2]"] and "threshold" in why["assert[3]"]
    assert "transformed" in why["assert[4]"] and "measures the call" in why["assert[5]"]


# --- Inspect and OpenAI evals -------------------------------------------------------------------


def test_multiple_choice_asks_with_letters_and_grades_the_letter() -> None:
    sample = {"input": "Best?", "choices": ["x", "y"], "target": 1, "metadata": {"f": "A fact."}}
    case = run("inspect", json.dumps(sample), facts_field="f").suite.cases[0]
    assert "A) x\nB) y" in case.input
    assert passes(case, "ANSWER: B") and passes(case, "answer: (b).")
    assert not passes(case, "ANSWER: A") and not passes(case, "ANSWER: BA")


def test_several_correct_choices_are_dropped() -> None:
    sample = {"input": "Q", "choices": ["x", "y"], "target": ["A", "B"], "metadata": {"f": "F"}}
    errors = failure("inspect", json.dumps(sample), facts_field="f")
    assert "several correct choices" in errors[1]["msg"]


def test_chat_turns_are_written_into_the_input() -> None:
    sample = {
        "input": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Refund window?"},
        ],
        "ideal": ["45 days", "forty-five days"],
        "notes": "seen",
    }
    result = run("openai-evals", json.dumps(sample), facts_field="notes", match="exact")
    case = result.suite.cases[0]
    assert result.suite.system_prompt == "Be brief."
    assert case.input == "User: Hi\nAssistant: Hello\n\nRefund window?"
    assert passes(case, "forty-five days") and not passes(case, "about 45 days")


def test_differing_system_prompts_keep_the_common_one_and_move_the_others_into_the_input() -> None:
    lines = [
        {
            "input": [{"role": "system", "content": s}, {"role": "user", "content": q}],
            "target": "a",
            "metadata": {"f": "F"},
        }
        for s, q in (("Be kind.", "q1"), ("Be kind.", "q2"), ("Be rude.", "q3"))
    ]
    result = run("inspect", "\n".join(json.dumps(x) for x in lines), facts_field="f")
    assert result.suite.system_prompt == "Be kind."
    assert [c.input for c in result.suite.cases] == ["q1", "q2", "Be rude.\n\nq3"]


def test_inspect_facts_split_on_the_separator_and_ids_stay_unique() -> None:
    line = {"id": 7, "input": "Q", "target": "a", "metadata": {"ctx": "one. | two."}}
    result = run(
        "inspect", f"{json.dumps(line)}\n{json.dumps(line)}", facts_field="ctx", facts_sep="|"
    )
    assert [c.id for c in result.suite.cases] == ["7", "7-2"]
    assert result.suite.cases[0].facts == ["one.", "two."]


# --- Ragas and DeepEval -------------------------------------------------------------------------


def test_ragas_csv_and_column_dicts_are_read() -> None:
    csv = "user_input,reference_contexts,reference\n\"Q?\",\"['Fact one.', 'Fact two.']\",Answer.\n"
    assert run("ragas", csv).suite.cases[0].facts == ["Fact one.", "Fact two."]
    columns = json.dumps(
        {
            "question": ["Q1", "Q2"],
            "contexts": [["c1"], ["c2"]],
            "ground_truth": ["a1", "a2"],
            "evolution_type": ["simple", "simple"],
        }
    )
    result = run("ragas", columns, match="contains")
    assert [c.facts for c in result.suite.cases] == [["c1"], ["c2"]]
    assert result.suite.cases[1].expected.model_dump()["values"] == ["a2"]


def test_deepeval_jsonl_and_csv_split_context_on_the_pipe() -> None:
    jsonl = json.dumps({"input": "Q", "expected_output": "A", "context": "one|two"})
    assert run("deepeval", jsonl).suite.cases[0].facts == ["one", "two"]
    csv = "input,expected_output,context,retrieval_context\nQ,A,,r1|r2\n"
    result = run("deepeval", csv, use_retrieved=True)
    assert result.suite.cases[0].facts == ["r1", "r2"]
    assert any("not gold" in w.msg for w in result.report.warnings)
    conversational = json.dumps([{"scenario": "S", "turns": [], "expected_outcome": "E"}])
    assert "conversational" in failure("deepeval", conversational)[1]["msg"]


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_takes_several_facts_columns_and_tabs() -> None:
    tsv = "q\tf1\tf2\ta\nWhy?\tOne.\tTwo|Three.\tOne\n"
    result = run("csv", tsv, input_col="q", facts_col=["f1", "f2"], expected_col="a", match="judge")
    case = result.suite.cases[0]
    assert case.facts == ["One.", "Two", "Three."]
    assert case.expected.model_dump(exclude_defaults=True) == {"type": "judge", "reference": "One"}
    assert any("judge_model" in w.msg for w in result.report.warnings)


def test_a_nul_character_is_refused_where_it_is() -> None:
    errors = failure("csv", "input,facts,expected\nq,f,a\u0000b\n")
    assert errors[0]["loc"] == "line 2"


def test_a_problem_in_a_referenced_file_is_located_in_that_file() -> None:
    config = "tests: [file://more.yaml]\n"
    with pytest.raises(ImportFailed) as info:
        run("promptfoo", config, {"file://more.yaml": "- vars: {context: c}\n  assert: [{}]\n"})
    assert [e.as_dict()["loc"] for e in info.value.errors] == ["more.yaml[0].assert[0].type"]
