"""The graders on a real model's answers: SmolLM2-135M-Instruct, recorded in fixtures/answers/.

Each rule is shown on a real answer that used to pass and must now fail, beside a similar real
answer that must still pass. The recordings are checked against their suites (same messages),
so a suite edited without re-recording fails here rather than testing stale answers.
Pure Python: no model runs (fixtures/answers/record.py made the files).
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from app.diagnosis.grading import Grade, facts_cover_answer, grade
from app.diagnosis.labels import Label
from app.diagnosis.suite import Case, FactInjection, Suite, build_messages, load_suite_file
from app.diagnosis.verdict import CaseOutcome, build_verdict

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = ROOT / "fixtures" / "answers"
RECORDINGS = {
    "demo": (ROOT / "fixtures" / "demo-suite.yaml", ANSWERS / "smollm2-135m-demo.jsonl"),
    "helpdesk": (
        ROOT / "fixtures" / "helpdesk-suite.yaml",
        ANSWERS / "smollm2-135m-helpdesk.jsonl",
    ),
    "saas": (
        ROOT / "fixtures" / "saas-billing-suite.yaml",
        ANSWERS / "smollm2-135m-saas-billing.jsonl",
    ),
    "probes": (ANSWERS / "probes-suite.yaml", ANSWERS / "smollm2-135m-probes.jsonl"),
}
ARMS = ("closed_book", "open_book")


@cache
def recording(name: str) -> tuple[Suite, dict[tuple[str, str], dict[str, Any]]]:
    suite_path, answers_path = RECORDINGS[name]
    records = {}
    for line in answers_path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            record = json.loads(line)
            records[(record["case_id"], record["arm"])] = record
    return load_suite_file(suite_path), records


def case_of(name: str, case_id: str) -> Case:
    return next(c for c in recording(name)[0].cases if c.id == case_id)


def answer(name: str, case_id: str, arm: str) -> str:
    text: str = recording(name)[1][(case_id, arm)]["answer"]
    return text


def graded(name: str, case_id: str, arm: str, in_context: bool = True) -> Grade:
    """The grade the runner gives (with the question and facts), or the plain literal check."""
    case = case_of(name, case_id)
    if not in_context:
        return grade(case.expected, answer(name, case_id, arm))
    return grade(case.expected, answer(name, case_id, arm), question=case.input, facts=case.facts)


# --- the recordings are what they say they are -------------------------------------------------


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_each_recording_answers_its_suite_as_rung_sends_it(name: str) -> None:
    suite, records = recording(name)

    assert set(records) == {(c.id, arm) for c in suite.cases for arm in ARMS}
    for case in suite.cases:
        for arm in ARMS:
            sent = build_messages(suite.system_prompt, case, arm, FactInjection(), None)
            assert records[(case.id, arm)]["messages"] == sent, (case.id, arm)
    header = RECORDINGS[name][1].read_text(encoding="utf-8").splitlines()[:5]
    assert header[0].startswith("# SmolLM2-135M-Instruct Q4_1 answers on ")
    assert "fixtures/answers/record.py" in header[1]
    assert "temperature 0" in header[2]


# --- pasted facts are not an answer; quoting the fact that answers is --------------------------


@pytest.mark.parametrize(
    ("name", "case_id", "value"),
    [
        ("demo", "support-hours", "8am to 6pm"),  # pastes the block, then gets the hours wrong
        ("probes", "boots-options", "small"),  # pastes the block, then asks a question back
        ("probes", "warranty-years", "7-year"),  # pastes the block, then says "2 years"
        ("probes", "boots-options-which", "small"),  # no header, three facts (two embellished)
    ],
)
def test_an_answer_that_pastes_the_facts_back_fails(name: str, case_id: str, value: str) -> None:
    assert answer(name, case_id, "open_book").startswith(("Relevant facts:\n- ", "The relevant"))
    assert graded(name, case_id, "open_book", in_context=False).passed is True  # used to pass

    assert graded(name, case_id, "open_book") == Grade(
        passed=False,
        score=0.0,
        reason=f"the answer pastes the injected facts back; {value!r} is only in the copy",
        kind="content",
    )


@pytest.mark.parametrize(
    ("name", "case_id", "reason"),
    [
        ("demo", "refund-window", "contains '45 days'"),  # pastes, then answers in its own words
        ("demo", "price-match", "contains '14 days'"),  # pastes, then "… match 14 days …"
        ("demo", "loyalty-tier", "contains '5,000'"),  # restates the one fact that answers
        ("demo", "founder", "contains 'Ingrid Solberg'"),
        ("saas", "starter-retention", "contains '90 days'"),  # two facts, in its own sentence
    ],
)
def test_an_answer_that_states_the_value_itself_still_passes(
    name: str, case_id: str, reason: str
) -> None:
    assert graded(name, case_id, "open_book") == Grade(passed=True, score=1.0, reason=reason)


# --- a question that holds its own answer ------------------------------------------------------


def test_an_answer_that_repeats_the_questions_options_fails() -> None:
    assert answer("probes", "boots-options-short", "open_book") == (
        "Granite hiking boots: large or small?"
    )
    assert graded("probes", "boots-options-short", "open_book", in_context=False).passed

    assert graded("probes", "boots-options-short", "open_book") == Grade(
        passed=False,
        score=0.0,
        reason="the answer repeats the question's options; it does not choose",
        kind="content",
    )


def test_an_answer_that_picks_one_of_the_questions_options_passes() -> None:
    # Closed-book, asked for one word: a guess, and the right one.
    assert answer("probes", "boots-one-word", "closed_book") == 'The answer is "small."'

    assert graded("probes", "boots-one-word", "closed_book").passed is True
    assert answer("probes", "boots-one-word", "open_book") == "- Large"
    assert graded("probes", "boots-one-word", "open_book").reason == "missing 'small'"


# --- denials and contradictions of a quantity ----------------------------------------------------


def test_a_real_denial_fails_and_a_similar_affirmation_passes() -> None:
    denied = answer("probes", "password-rotation", "closed_book")
    assert denied.startswith("No, we don't need to change our passwords every 120 days.")
    assert graded("probes", "password-rotation", "closed_book", in_context=False).passed

    assert graded("probes", "password-rotation", "closed_book") == Grade(
        passed=False,
        score=0.0,
        reason="the answer denies '120 days': "
        '"we don\'t need to change our passwords every 120 days"',
        kind="content",
    )
    assert graded("probes", "password-rotation", "open_book").reason.startswith(
        "the answer denies '120 days'"
    )
    # "It's recommended to change passwords every 120 days …": the same value, affirmed.
    assert graded("probes", "password-how-often", "open_book").passed is True


def test_a_real_denial_of_a_bare_number_fails() -> None:
    assert "It is not a 5,000-point bonus" in answer("probes", "tier-options", "open_book")

    assert graded("probes", "tier-options", "open_book").reason == (
        "the answer denies '5,000': 'it is not a 5,000-point bonus'"
    )


def test_naming_both_of_the_questions_options_is_not_choosing() -> None:
    # "The Summit tier does not require 5,000 or 10,000 points. … the 5,000 or 10,000 points
    # are reserved for the Summit tier." The question offered 5,000 or 10,000.
    assert graded("probes", "tier-options", "closed_book", in_context=False).passed

    assert graded("probes", "tier-options", "closed_book") == Grade(
        passed=False,
        score=0.0,
        reason="the answer also states '10,000 points', conflicting with '5,000'",
        kind="content",
    )


@pytest.mark.parametrize(
    ("name", "case_id"),
    [
        ("probes", "deposit"),  # "$150, and the refundable deposit is $200": $200 is a fact
        ("probes", "founding-year"),  # "founded in 1987 … 1,987 employees": another kind
        ("saas", "starter-retention"),  # "90 days, and … 13 months": another unit
        ("saas", "uptime-sla"),  # "99.95% uptime, which is 99.95% of what you expect"
    ],
)
def test_other_numbers_that_are_no_contradiction_still_pass(name: str, case_id: str) -> None:
    assert graded(name, case_id, "open_book").passed is True


# --- whole numbers ------------------------------------------------------------------------------


def test_a_number_inside_a_year_is_not_the_number() -> None:
    assert answer("probes", "store-count", "closed_book") == "Northwind operated 2 stores in 2023."
    assert graded("probes", "store-count", "closed_book", in_context=False) == Grade(
        passed=False, score=0.0, reason="missing '23'", kind="content"
    )
    # "Eight of Northwind's 23 stores operated in 2023."
    assert graded("probes", "store-count", "open_book").passed is True


def test_a_number_inside_another_number_is_not_the_number() -> None:
    # "… you can carry 370 days of unused vacation days over the next 365 days."
    assert "over the next 365 days" in answer("helpdesk", "pto-carryover", "open_book")

    assert graded("helpdesk", "pto-carryover", "open_book") == Grade(
        passed=False, score=0.0, reason="missing '5 days'", kind="content"
    )


def test_a_bare_number_answers_a_how_many_question() -> None:
    assert answer("helpdesk", "parental-leave", "open_book") == "The answer is: 16"

    assert graded("helpdesk", "parental-leave", "open_book").passed is True


# --- JSON: wrong values are content, wrong shapes are format ------------------------------------


@pytest.mark.parametrize(
    ("name", "case_id", "arm", "expected"),
    [
        (
            "demo",
            "json-refund",
            "closed_book",
            Grade(
                passed=False,
                score=0.0,
                reason="wrong value at refund_days: 12, expected 45",
                kind="content",
            ),
        ),
        (
            "saas",
            "json-region",
            "closed_book",
            Grade(
                passed=False,
                score=0.0,
                reason='wrong value at city: "<city>", expected "Frankfurt"',
                kind="content",
            ),
        ),
        (
            "demo",
            "json-refund",
            "open_book",  # {"refund_days": [1, 2, 3, 4, 5]}: a list where a number belongs
            Grade(
                passed=False,
                score=0.0,
                reason="schema violation at refund_days: 45 was expected",
                kind="format",
            ),
        ),
        (
            "demo",
            "json-founder",
            "closed_book",
            Grade(
                passed=False,
                score=0.0,
                reason="schema violation at (root): 'year' is a required property",
                kind="format",
            ),
        ),
        (
            "demo",
            "json-warranty",
            "open_book",  # a fenced object, then 200 tokens of rambling
            Grade(passed=True, score=1.0, reason="valid JSON matching the schema"),
        ),
        (
            "saas",
            "json-retention",
            "open_book",  # prose, a fenced object, more prose
            Grade(passed=True, score=1.0, reason="valid JSON matching the schema"),
        ),
    ],
)
def test_json_answers(name: str, case_id: str, arm: str, expected: Grade) -> None:
    assert graded(name, case_id, arm) == expected


# --- facts that imply an answer without spelling it ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "case_id", "covered"),
    [
        ("saas", "annual-refund", None),  # "refunded only within 30 days" implies no
        ("saas", "starter-phone-support", True),  # "only on the Enterprise plan" is listed
        ("saas", "team-monthly-bill", None),  # 12 users (question) x $29 (fact)
        ("saas", "extended-trial", None),  # 21 + 7 days, both facts
        ("helpdesk", "pto-accrual", None),  # 2.25 days a month (fact) x 8 months (question)
        ("helpdesk", "vpn-public-wifi", None),  # "required on public Wi-Fi" implies yes
        ("helpdesk", "gk-hours-week", None),  # 7 x 24
        ("saas", "gk-percent", True),  # "15% of 200 is 30" spells it
        ("demo", "boot-sizing", True),
    ],
)
def test_facts_cover_answer_on_the_suites(name: str, case_id: str, covered: bool | None) -> None:
    case = case_of(name, case_id)

    assert facts_cover_answer(case.expected, case.facts, case.input) is covered


# --- the measured labels -------------------------------------------------------------------------

LABELS: dict[tuple[bool, bool], Label] = {
    (True, True): "no_gap",
    (False, True): "knowledge",
    (False, False): "behavior",
    (True, False): "distraction",
}


def labels(name: str) -> dict[str, Label]:
    """At temperature 0 with one sample, a case's label is the observed pattern."""
    suite, _ = recording(name)
    return {
        case.id: LABELS[
            (graded(name, case.id, "closed_book").passed, graded(name, case.id, "open_book").passed)
        ]
        for case in suite.cases
    }


MEASURED = {
    # name: (knowledge cases, no_gap cases, distraction cases, diagnosis); the rest is behavior
    "demo": (
        {
            "refund-window",
            "loyalty-tier",
            "rental-deposit",
            "price-match",
            "founder",
            "repair-turnaround",
            "json-warranty",
        },
        set(),
        set(),
        "mixed",
    ),
    "helpdesk": (
        {
            "password-rotation",
            "vpn-client",
            "pto-allowance",
            "meal-allowance",
            "replacement-badge",
            "parental-leave",
            "guest-wifi",
            "gk-mfa",
        },
        {"gk-capital", "gk-phishing"},
        set(),
        "mixed",
    ),
    "saas": (
        {
            "team-price",
            "trial-length",
            "starter-retention",
            "uptime-sla",
            "starter-seats",
            "sso-plan",
            "api-rate-limit",
            "invoice-day",
            "payment-terms",
            "json-retention",
            "gk-sla",
            "gk-percent",
            "gk-leap-year",
            "gk-csv",
        },
        {"export-formats", "starter-phone-support"},
        {"annual-refund"},
        "mixed",
    ),
}


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_labels_on_the_recorded_answers(name: str) -> None:
    knowledge, no_gap, distraction, diagnosis = MEASURED[name]
    got = labels(name)

    assert {c for c, label in got.items() if label == "knowledge"} == knowledge
    assert {c for c, label in got.items() if label == "no_gap"} == no_gap
    assert {c for c, label in got.items() if label == "distraction"} == distraction
    outcomes = [CaseOutcome(case_id=c, label=label) for c, label in got.items()]
    verdict = build_verdict(outcomes, max_failure_rate=0.05)
    assert verdict.diagnosis == diagnosis
    assert Counter(got.values())["behavior"] == len(got) - len(knowledge | no_gap | distraction)
