"""The sufficient-context check: the judge decides whether the facts could answer the question.

Pure tests of the prompt and reply parsing, then runs through the real engine where the model
under test fails every case even with its facts, and the judge (the fake provider behind
`fake-judge`) finds half of the cases' facts insufficient.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.diagnosis.grading import JUDGE_SYSTEM_PROMPT
from app.diagnosis.grading.sufficiency import (
    SUFFICIENCY_SYSTEM_PROMPT,
    behavior_leaning,
    parse_sufficiency_reply,
    sufficiency_messages,
)
from app.engine.sufficiency import ARM
from app.service import evidence
from tests.conftest import Engine
from tests.fakeprovider import Body, FakeProvider, message_text

# --- the prompt and the reply -------------------------------------------------------------------


def test_the_judge_sees_the_question_and_facts_but_not_the_expected_answer() -> None:
    messages = sufficiency_messages("Which port serves Qorvo?", ["Qorvo's port is Ilm."])
    assert messages[0] == {"role": "system", "content": SUFFICIENCY_SYSTEM_PROMPT}
    assert messages[1]["content"] == (
        "QUESTION: Which port serves Qorvo?\nFACTS:\n- Qorvo's port is Ilm.\nSTEPS:"
    )
    assert "only them" in SUFFICIENCY_SYSTEM_PROMPT  # facts alone, no outside knowledge
    assert '{"sufficient": 1 or 0' in SUFFICIENCY_SYSTEM_PROMPT


@pytest.mark.parametrize(
    ("reply", "sufficient"),
    [
        ('Steps... {"sufficient": 1, "reason": "all settled"}', True),
        ('{"sufficient": 0, "reason": "the port is never named"}', False),
        ('### JSON\n{"Sufficient Context": 1}', True),  # the paper's own output format
        ('{"sufficient": true}', True),
        ('{"sufficient": "0"}', False),
        ('First {"sufficient": 1} then, on reflection, {"sufficient": 0, "reason": "no"}', False),
        ("I think the facts are enough.", None),
        ('{"sufficient": 0.5}', None),
        ('{"sufficient": 1', None),
    ],
)
def test_parse_sufficiency_reply(reply: str, sufficient: bool | None) -> None:
    decided, reason = parse_sufficiency_reply(reply)
    assert decided is sufficient
    assert reason
    if sufficient is None:
        assert reason.startswith("unreadable")


def test_which_cases_are_checked() -> None:
    assert behavior_leaning("behavior", 0, 1, 0, 1)
    assert not behavior_leaning("knowledge", 0, 3, 2, 2)
    assert not behavior_leaning("distraction", 3, 3, 0, 2)
    assert behavior_leaning("inconclusive", 1, 4, 0, 2)  # fails more than it passes, both arms
    assert not behavior_leaning("inconclusive", 2, 4, 0, 2)  # closed-book undecided
    assert not behavior_leaning("error", 0, 0, 0, 0)


# --- through the engine ---------------------------------------------------------------------------

RUBRIC = {"type": "judge", "rubric": "Names the item's code word."}


def suite(n: int = 12) -> dict[str, Any]:
    """Judge-graded cases (no literal answer to look for in the facts); odd cases' facts miss."""
    cases = []
    for i in range(n):
        fact = f"The code word for item {i} is zebra-{i}-q." if i % 2 == 0 else "Items exist."
        cases.append({"id": f"c{i}", "input": f"Which code word belongs to item {i}?",
                      "facts": [fact], "expected": RUBRIC})  # fmt: skip
    return {"name": "sufficiency", "cases": cases}


def system_of(body: Body) -> str:
    return next((message_text(m) for m in body["messages"] if m["role"] == "system"), "")


def respond(body: Body) -> str:
    system = system_of(body)
    if system == SUFFICIENCY_SYSTEM_PROMPT:
        facts = message_text(body["messages"][-1])
        return (
            'Steps: the facts name the code word. {"sufficient": 1, "reason": "named"}'
            if "code word for item" in facts
            else 'Steps: no code word is given. {"sufficient": 0, "reason": "the facts never '
            'name a code word"}'
        )
    if system == JUDGE_SYSTEM_PROMPT:
        return '{"passed": false, "score": 0, "reason": "no code word"}'
    return "I cannot tell."  # the model under test fails every case, with or without facts


def judge_bodies(provider: FakeProvider) -> list[Body]:
    return [b for b in provider.bodies if system_of(b) == SUFFICIENCY_SYSTEM_PROMPT]


async def test_behavior_with_insufficient_facts_becomes_inconclusive_with_the_reason(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.responder = respond
    run = await engine.diagnose(suite(), judge_model="fake-judge")
    assert run.status == "succeeded", run.error
    results = {r.case_id: r for r in await engine.store.case_results(run.id)}
    for i in range(12):
        r = results[f"c{i}"]
        if i % 2 == 0:
            assert (r.label, r.facts_sufficient, r.facts_reason) == ("behavior", True, "named")
        else:
            assert (r.label, r.facts_sufficient) == ("inconclusive", False)
            assert r.facts_reason == "the facts never name a code word"
        assert r.facts_cover_answer is None  # a judge grader: no literal answer to look for
    v = run.verdict
    assert v["facts_insufficient"] == [f"c{i}" for i in range(1, 12, 2)]
    assert v["counts"]["behavior"] == 6 and v["counts"]["inconclusive"] == 6
    assert "found the facts of 6 case(s) insufficient" in v["summary"]
    # One judge call per failing case, at temperature 0, counted like every call.
    asked = judge_bodies(fake_provider)
    assert len(asked) == 12
    assert all(b["temperature"] == 0 for b in asked)
    assert v["usage"]["per_arm"][ARM]["calls"] == 12
    assert run.calls_done == run.calls_planned

    page = await evidence.case_page(engine.store, run.id, None, 50)
    shown = {c.case_id: c for c in page.items}
    assert shown["c1"].facts_sufficient is False
    assert shown["c1"].facts_reason == "the facts never name a code word"
    assert ARM not in shown["c1"].arms  # judge calls are not an arm of the evidence

    # The same diagnosis again: the sufficiency verdicts come from the cache.
    again = await engine.diagnose(suite(), judge_model="fake-judge")
    assert len(judge_bodies(fake_provider)) == 12
    assert again.verdict["usage"]["per_arm"][ARM]["cached_calls"] == 12
    assert again.verdict["facts_insufficient"] == v["facts_insufficient"]


async def test_insufficient_facts_skip_the_prompt_fix_and_leave_a_sampled_verdict(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.responder = respond
    run = await engine.diagnose(
        suite(),
        judge_model="fake-judge",
        samples=3,
        temperature=0.7,
        seed=5,
        candidate_prompt="Answer with the code word only.",
    )
    assert run.status == "succeeded", run.error
    v = run.verdict
    assert v["clustered"]["cases"] == 6  # the six cases with sufficient facts
    assert v["facts_insufficient"] == [f"c{i}" for i in range(1, 12, 2)]
    # The prompt fix is tried only where the facts were enough.
    assert v["prompt_fix"]["cases"] == 6
    results = {r.case_id: r for r in await engine.store.case_results(run.id)}
    assert results["c1"].prompt_fix_passed is None and results["c0"].prompt_fix_passed is False


async def test_no_judge_no_check(engine: Engine, fake_provider: FakeProvider) -> None:
    fake_provider.responder = lambda body: "I cannot tell."
    literal = {"name": "literal", "cases": [
        {"id": f"c{i}", "input": f"Code word {i}?", "facts": ["Items exist."],
         "expected": f"w{i}"} for i in range(10)]}  # fmt: skip
    run = await engine.diagnose(literal)
    assert run.status == "succeeded", run.error
    assert run.verdict["counts"]["behavior"] == 10
    assert run.verdict["facts_insufficient"] == []
    assert all(r.facts_sufficient is None for r in await engine.store.case_results(run.id))
    assert ARM not in run.verdict["usage"]["per_arm"]
