"""`builtin/reader`: knows nothing closed-book, answers with the best fact, never formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.diagnosis.grading import Grade, grade
from app.diagnosis.suite import Case, FactInjection, build_messages, load_suite_file
from app.models.reader import DONT_KNOW, extract_facts, read

ROOT = Path(__file__).resolve().parents[1]
STYLES = [
    FactInjection(position=position, format=fmt)
    for position in ("before_input", "system")
    for fmt in ("bullets", "numbered", "tagged")
]
STYLE_IDS = [f"{s.position}-{s.format}" for s in STYLES]
SYSTEM = "You are the support assistant for a camping store."


def make_case(**fields: Any) -> Case:
    """Build a case from plain data, the way a suite file does (`expected` may be a string)."""
    return Case.model_validate(fields)


STOVE = make_case(
    id="stove",
    input="Which fuel does the Ember stove burn?",
    facts=[
        "The Blaze stove is multi-fuel.",
        "The Ember camp stove burns isobutane canisters only.",
        "Fuel canisters cannot ship by air.",
    ],
    expected="isobutane",
)
EMBER = "The Ember camp stove burns isobutane canisters only."


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def test_dont_know_text() -> None:
    assert DONT_KNOW == "I don't know."


@pytest.mark.parametrize("style", STYLES, ids=STYLE_IDS)
def test_closed_book_says_it_does_not_know(style: FactInjection) -> None:
    assert read(build_messages(SYSTEM, STOVE, "closed_book", style)) == DONT_KNOW
    assert read(build_messages("", STOVE, "closed_book", style)) == DONT_KNOW


@pytest.mark.parametrize("style", STYLES, ids=STYLE_IDS)
def test_open_book_answers_with_the_best_matching_fact(style: FactInjection) -> None:
    assert read(build_messages(SYSTEM, STOVE, "open_book", style)) == EMBER
    assert read(build_messages("", STOVE, "open_book", style)) == EMBER


@pytest.mark.parametrize("style", STYLES, ids=STYLE_IDS)
def test_picks_a_different_fact_for_a_different_question(style: FactInjection) -> None:
    shipping = STOVE.model_copy(update={"input": "Can canisters ship by air?"})

    assert read(build_messages(SYSTEM, shipping, "open_book", style)) == (
        "Fuel canisters cannot ship by air."
    )


@pytest.mark.parametrize(
    "marker_lines",
    [
        ["- Paris is the capital of France.", "- Berlin is the capital of Germany."],
        ["* Paris is the capital of France.", "* Berlin is the capital of Germany."],
        ["\u2022 Paris is the capital of France.", "\u2022 Berlin is the capital of Germany."],
        ["1. Paris is the capital of France.", "2. Berlin is the capital of Germany."],
        ["1) Paris is the capital of France.", "10) Berlin is the capital of Germany."],
        ["  - Paris is the capital of France.  ", "\t- Berlin is the capital of Germany.\t"],
    ],
    ids=["dash", "star", "bullet", "numbered", "paren", "indented"],
)
def test_list_markers_in_a_user_message(marker_lines: list[str]) -> None:
    content = "\n".join([*marker_lines, "", "What is the capital of Germany?"])

    assert read([user(content)]) == "Berlin is the capital of Germany."


def test_facts_in_the_system_message() -> None:
    messages = [
        {"role": "system", "content": "Facts:\n- Lyon is in France.\n- Munich is in Bavaria."},
        user("Which region is Munich in?"),
    ]

    assert read(messages) == "Munich is in Bavaria."


def test_tagged_block_lines_are_facts_verbatim() -> None:
    content = "<FACTS>\n  Lyon is in France.  \n\nMunich is in Bavaria.\n</Facts>\nWhere is Lyon?"

    assert extract_facts([user(content)]) == (
        ["Lyon is in France.", "Munich is in Bavaria."],
        "\nWhere is Lyon?",
    )
    assert read([user(content)]) == "Lyon is in France."


def test_tagged_block_lines_keep_their_list_markers() -> None:
    facts, question = extract_facts([user("<facts>\n- one fact\n</facts>\nQ?")])

    assert facts == ["- one fact"]
    assert question == "\nQ?"


def test_facts_from_every_role_but_question_only_from_user_lines() -> None:
    messages = [
        {"role": "system", "content": "Be nice.\n- system fact"},
        {"role": "assistant", "content": "Earlier reply.\n* assistant fact"},
        user("<facts>\ntagged fact\n</facts>\nFirst line?\n1. user fact\nSecond line?"),
    ]

    assert extract_facts(messages) == (
        ["system fact", "assistant fact", "tagged fact", "user fact"],
        "\nFirst line?\nSecond line?",
    )


def test_injection_header_line_is_read_as_part_of_the_question_before_the_input() -> None:
    style = FactInjection(position="before_input", format="bullets")

    facts, question = extract_facts(build_messages(SYSTEM, STOVE, "open_book", style))

    assert facts == STOVE.facts
    assert question == "Relevant facts:\n\nWhich fuel does the Ember stove burn?"


def test_injection_header_in_the_system_message_is_not_part_of_the_question() -> None:
    style = FactInjection(position="system", format="numbered")

    facts, question = extract_facts(build_messages(SYSTEM, STOVE, "open_book", style))

    assert facts == STOVE.facts
    assert question == "Which fuel does the Ember stove burn?"


def test_list_items_in_the_users_own_question_are_taken_as_facts_so_closed_book_can_answer() -> (
    None
):
    # The reader cannot tell answer options in a question from injected facts: a closed-book
    # multiple-choice question gets one of its own options back, not "I don't know."
    case = make_case(
        id="mc",
        input="Which planet has rings?\n- Mars has two moons.\n- Saturn has rings.",
        facts=["Saturn has the most prominent rings."],
        expected="Saturn",
    )
    messages = build_messages(SYSTEM, case, "closed_book", FactInjection())

    assert extract_facts(messages) == (
        ["Mars has two moons.", "Saturn has rings."],
        "Which planet has rings?",
    )
    assert read(messages) == "Saturn has rings."


def test_numbered_lines_in_the_users_question_are_taken_as_facts() -> None:
    facts, question = extract_facts([user("1. Summarise the policy\n2. Keep it short")])

    assert facts == ["Summarise the policy", "Keep it short"]
    assert question == ""
    assert read([user("1. Summarise the policy\n2. Keep it short")]) == DONT_KNOW


def test_no_word_overlap_means_dont_know_even_with_facts() -> None:
    content = "- The Ember stove burns isobutane.\n\nWhen does the store open?"

    assert read([user(content)]) == DONT_KNOW


def test_stopword_only_question_means_dont_know() -> None:
    content = "- It is what it is.\n- This is that.\n\nWhat is it?"

    assert read([user(content)]) == DONT_KNOW


def test_ties_go_to_the_first_fact() -> None:
    content = "- Lyon is a city.\n- Paris is the capital.\n\nWhich city is the capital?"

    assert read([user(content)]) == "Lyon is a city."
    swapped = "- Paris is the capital.\n- Lyon is a city.\n\nWhich city is the capital?"
    assert read([user(swapped)]) == "Paris is the capital."


def test_plural_and_singular_words_match() -> None:
    content = "- Exchanges are free.\n- A refund needs a receipt.\n\nHow do refunds work?"

    assert read([user(content)]) == "A refund needs a receipt."


def test_matching_ignores_case_and_punctuation() -> None:
    content = "- ORDERS over $75 ship FREE!\n- Express costs $18.\n\nfree-shipping order minimum?"

    assert read([user(content)]) == "ORDERS over $75 ship FREE!"


def test_missing_or_empty_content_is_tolerated() -> None:
    assert read([{"role": "system"}, user("")]) == DONT_KNOW
    assert read([]) == DONT_KNOW


@pytest.mark.parametrize("style", STYLES, ids=STYLE_IDS)
def test_never_formats_asking_for_json_returns_the_plain_fact(style: FactInjection) -> None:
    case = make_case(
        id="json",
        input='Reply with a JSON object {"fuel": ...} for the fuel the Ember stove burns.',
        facts=STOVE.facts,
        expected={"type": "json_schema", "schema": {"type": "object", "required": ["fuel"]}},
    )

    answer = read(build_messages(SYSTEM, case, "open_book", style))

    assert answer == EMBER
    assert grade(case.expected, answer) == Grade(
        passed=False, score=0.0, reason="answer is not JSON", kind="format"
    )


# The crude stemmer does not match "headquarters" to "headquartered", nor "founding" to
# "founded", and no other word of these questions is in their one fact. Both are JSON tasks, so
# "I don't know." fails them on format just as the plain fact sentence would.
READER_FINDS_NO_FACT = {"json-hq", "json-founder"}


@pytest.mark.parametrize("style", STYLES, ids=STYLE_IDS)
def test_demo_suite_shows_a_knowledge_gap_and_a_format_gap(style: FactInjection) -> None:
    suite = load_suite_file(ROOT / "fixtures" / "demo-suite.yaml")

    for case in suite.cases:
        closed = grade(
            case.expected, read(build_messages(suite.system_prompt, case, "closed_book", style))
        )
        opened_answer = read(build_messages(suite.system_prompt, case, "open_book", style))
        opened = grade(case.expected, opened_answer)
        if case.id in READER_FINDS_NO_FACT:
            assert opened_answer == DONT_KNOW, case.id
        else:
            assert opened_answer in case.facts, case.id
        if case.tags == ["fact"]:
            assert (closed.passed, closed.kind) == (False, "content"), case.id
            assert opened.passed is True, case.id
        else:
            assert (closed.passed, closed.kind) == (False, "format"), case.id
            assert (opened.passed, opened.kind) == (False, "format"), case.id
