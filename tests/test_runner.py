"""The run engine end to end: the real runner and litellm against the fake provider (design §1-§5).

Every test drives `Runner.advance` through the `engine` fixture on a fresh SQLite file; only the
model is scripted (tests/fakeprovider.py). Suites are written inline and kept small.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app.diagnosis.grading import JUDGE_SYSTEM_PROMPT
from app.diagnosis.suite import Case, FactInjection, build_messages
from app.engine.runner import JUDGE_SEED, Runner
from app.models.catalog import ModelCatalog
from app.models.litellm_client import prepare
from app.models.registry import ModelRegistry
from app.service import runs as services
from app.service.commands import StartRun
from tests.conftest import SENTINEL_KEY, Engine, write_models_file
from tests.fakeprovider import Body, FakeProvider, facts_responder

# --- helpers ------------------------------------------------------------------------------------


def fact_case(i: int, **overrides: Any) -> dict[str, Any]:
    """A case only the facts can answer: the code word is in the fact and nowhere else."""
    case: dict[str, Any] = {
        "id": f"c{i}",
        "input": f"Which code word belongs to item {i}?",
        "facts": [f"The code word for item {i} is zebra-{i}-q."],
        "expected": f"zebra-{i}-q",
    }
    return case | overrides


def fact_suite(n: int = 12, name: str = "facts", **extra: Any) -> dict[str, Any]:
    return {"name": name, "cases": [fact_case(i) for i in range(n)], **extra}


def system_of(body: Body) -> str | None:
    for message in body["messages"]:
        if message["role"] == "system":
            return str(message["content"])
    return None


def user_of(body: Body) -> str:
    return str([m for m in body["messages"] if m["role"] == "user"][-1]["content"])


def has_facts(body: Body) -> bool:
    return any("code word for item" in str(m["content"]) for m in body["messages"])


def main_bodies(provider: FakeProvider) -> list[Body]:
    """Requests to the model under test (not to the judge)."""
    return [b for b in provider.bodies if system_of(b) != JUDGE_SYSTEM_PROMPT]


def arm_messages(suite: dict[str, Any], case_id: str, arm: str, **kw: Any) -> list[dict[str, str]]:
    raw = next(c for c in suite["cases"] if c["id"] == case_id)
    return build_messages(
        suite.get("system_prompt", ""),
        Case.model_validate(raw),
        arm,  # type: ignore[arg-type]
        kw.get("injection", FactInjection()),
        kw.get("candidate_prompt"),
    )


async def start(engine: Engine, suite: dict[str, Any], **options: Any) -> Any:
    """Store a queued run without advancing it (what POST /v1/runs does)."""
    request = StartRun.model_validate({"suite": suite, "model": "fake-model", **options})
    return await services.start_run(engine.store, engine.catalog, request)


async def labels(engine: Engine, run_id: str) -> dict[str, str]:
    return {r.case_id: r.label for r in await engine.store.case_results(run_id)}


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


# --- 1. knowledge -------------------------------------------------------------------------------


async def test_knowledge_model_points_to_retrieval(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    suite = fact_suite()
    run = await engine.diagnose(suite)

    assert run.status == "succeeded", run.error
    assert set((await labels(engine, run.id)).values()) == {"knowledge"}
    verdict = run.verdict
    assert (verdict["diagnosis"], verdict["next_rung"]) == ("knowledge", "retrieval")
    assert verdict["counts"]["knowledge"] == 12
    assert verdict["counts"]["total"] == 12
    assert verdict["lift"]["value"] == 1.0
    assert verdict["lift"]["significant"] is True
    assert verdict["partial"] is False

    usage = verdict["usage"]
    assert usage["calls"] == 24
    assert usage["cached_calls"] == 0
    assert set(usage["per_arm"]) == {"closed_book", "open_book"}
    closed, open_ = usage["per_arm"]["closed_book"], usage["per_arm"]["open_book"]
    assert closed["calls"] == open_["calls"] == 12
    # The fake provider counts words as tokens: the input alone closed-book, "I don't know."
    assert closed["prompt_tokens"] == sum(len(c["input"].split()) for c in suite["cases"])
    assert closed["completion_tokens"] == 12 * 3
    assert open_["prompt_tokens"] > closed["prompt_tokens"]
    # litellm has no price for the fake model: cost unknown, not a crash and not 0.
    assert usage["cost_usd"] is None
    assert closed["cost_usd"] is None and open_["cost_usd"] is None
    assert verdict["sampling"] == {"samples": 1, "calls_used": 24, "calls_fixed_design": 24}

    assert (run.calls_done, run.calls_planned, run.calls_cached, run.calls_failed) == (24, 24, 0, 0)
    assert fake_provider.requests == 24
    calls = await engine.store.calls_for_run(run.id)
    assert len(calls) == 24
    assert all(c.cost_usd is None and c.error_class is None for c in calls.values())
    assert all(c.grade["passed"] for (_, arm, _), c in calls.items() if arm == "open_book")
    assert not any(c.grade["passed"] for (_, arm, _), c in calls.items() if arm == "closed_book")
    assert all(r.facts_cover_answer is True for r in await engine.store.case_results(run.id))


# --- 2. behavior and the prompt-fix arm ---------------------------------------------------------

SYSTEM = "Answer the question."
CANDIDATE = 'Reply with JSON only: {"answer": "<the answer>"}.'
JSON_EXPECTED = {
    "type": "json_schema",
    "schema": {
        "type": "object",
        "required": ["answer"],
        "properties": {"answer": {"type": "string"}},
    },
}
EASY = "[easy]"


def json_suite(failing: int = 10, easy: int = 2) -> dict[str, Any]:
    cases = [fact_case(i, expected=JSON_EXPECTED) for i in range(failing)]
    cases += [
        fact_case(failing + i, expected=JSON_EXPECTED, input=f"{EASY} Which code word, item {i}?")
        for i in range(easy)
    ]
    return {"name": "json", "system_prompt": SYSTEM, "cases": cases}


def json_responder(obey_candidate: bool) -> Any:
    """Never formats as JSON, except on easy cases, and (if `obey_candidate`) under CANDIDATE."""

    def respond(body: Body) -> str:
        answer = facts_responder(body)
        if EASY in user_of(body) or (obey_candidate and system_of(body) == CANDIDATE):
            return json.dumps({"answer": answer})
        return answer

    return respond


async def test_behavior_model_points_to_a_prompt_fix(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.responder = json_responder(obey_candidate=True)
    run = await engine.diagnose(json_suite())

    assert run.status == "succeeded", run.error
    got = await labels(engine, run.id)
    assert Counter(got.values()) == {"behavior": 10, "no_gap": 2}
    assert (run.verdict["diagnosis"], run.verdict["next_rung"]) == ("behavior", "prompt_fix")
    assert run.verdict["prompt_fix"] is None
    calls = await engine.store.calls_for_run(run.id)
    assert {arm for _, arm, _ in calls} == {"closed_book", "open_book"}
    kinds = {c.grade["kind"] for c in calls.values() if not c.grade["passed"]}
    assert kinds == {"format"}
    # A schema has no literal answer to look for in the facts: coverage is unknown, not False.
    assert all(r.facts_cover_answer is None for r in await engine.store.case_results(run.id))


async def test_prompt_fix_that_works_points_to_prompt(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.responder = json_responder(obey_candidate=True)
    suite = json_suite()
    run = await engine.diagnose(suite, candidate_prompt=CANDIDATE)

    assert run.status == "succeeded", run.error
    assert (run.verdict["diagnosis"], run.verdict["next_rung"]) == ("behavior", "prompt")
    fix = run.verdict["prompt_fix"]
    assert (fix["cases"], fix["prompt_fix_passes"], fix["control_passes"]) == (10, 10, 0)
    assert (fix["fixed"], fix["broken"], fix["remaining_failures"]) == (10, 0, 0)
    assert fix["provably_fails"] is False

    failing = {f"c{i}" for i in range(10)}
    calls = await engine.store.calls_for_run(run.id)
    for extra_arm in ("prompt_fix", "open_book_control"):
        assert {cid for cid, arm, _ in calls if arm == extra_arm} == failing
    results = {r.case_id: r for r in await engine.store.case_results(run.id)}
    for cid, result in results.items():
        if cid in failing:
            assert (result.prompt_fix_passed, result.control_passed) == (True, False)
        else:
            assert (result.prompt_fix_passed, result.control_passed) == (None, None)

    # The control re-sends exactly open_book's messages, and the provider really receives them
    # (a fresh call, not open_book's cached answer).
    received = Counter(json.dumps(b["messages"], sort_keys=True) for b in fake_provider.bodies)
    for cid in failing:
        open_msgs = arm_messages(suite, cid, "open_book")
        assert open_msgs == arm_messages(suite, cid, "open_book_control")
        assert received[json.dumps(open_msgs, sort_keys=True)] == 2
        fix_msgs = arm_messages(suite, cid, "prompt_fix", candidate_prompt=CANDIDATE)
        assert fix_msgs[0] == {"role": "system", "content": CANDIDATE}
        assert received[json.dumps(fix_msgs, sort_keys=True)] == 1
    assert all(not calls[(cid, "open_book_control", 0)].cached for cid in failing)
    assert fake_provider.requests == 12 * 2 + 10 * 2
    assert run.calls_done == run.calls_planned == 44


async def test_prompt_fix_that_does_not_help_points_to_adapter(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.responder = json_responder(obey_candidate=False)
    run = await engine.diagnose(json_suite(), candidate_prompt=CANDIDATE)

    assert run.status == "succeeded", run.error
    assert (run.verdict["diagnosis"], run.verdict["next_rung"]) == ("behavior", "adapter")
    fix = run.verdict["prompt_fix"]
    assert (fix["cases"], fix["prompt_fix_passes"], fix["remaining_failures"]) == (10, 0, 10)
    assert fix["provably_fails"] is True


# --- 3. provider errors -------------------------------------------------------------------------

BAD_INPUT = "Which code word belongs to item 3?"


async def test_a_case_whose_calls_get_400_is_an_error_not_a_failure(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.fault_rule = lambda body, attempt: (
        (400, {}) if BAD_INPUT in user_of(body) else None
    )
    run = await engine.diagnose(fact_suite())

    assert run.status == "succeeded", run.error
    got = await labels(engine, run.id)
    assert got.pop("c3") == "error"
    assert set(got.values()) == {"knowledge"}
    verdict = run.verdict
    assert verdict["counts"]["error"] == 1
    assert verdict["labelled"] == 11
    assert (verdict["diagnosis"], verdict["next_rung"]) == ("knowledge", "retrieval")
    assert verdict["pass_rates"]["open_book"]["n"] == 11

    calls = await engine.store.calls_for_run(run.id)
    bad = [c for (cid, _, _), c in calls.items() if cid == "c3"]
    assert {c.arm for c in bad} == {"closed_book", "open_book"}
    assert all(c.error_class == "BadRequestError" and c.grade is None for c in bad)
    assert all(c.error_class is None for (cid, _, _), c in calls.items() if cid != "c3")
    # 400 is not retried: one request per arm.
    assert sum(BAD_INPUT in user_of(b) for b in fake_provider.bodies) == 2
    assert fake_provider.status_counts == {200: 22, 400: 2}
    assert run.calls_failed == 2


async def test_401_on_every_call_fails_the_run_fast_without_leaking_the_key(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    # The provider echoes the key in its error, as real ones partly do: rung must redact it.
    fake_provider.fail_next(1000, 401, message=f"Incorrect API key provided: {SENTINEL_KEY}.")
    began = time.monotonic()
    run = await engine.diagnose(fact_suite())
    elapsed = time.monotonic() - began

    assert run.status == "failed"
    assert elapsed < 5.0
    assert fake_provider.status_counts[401] == fake_provider.requests
    assert fake_provider.requests < 24  # it stopped instead of trying every call
    # The key really was sent, so its absence below is redaction, not luck.
    assert fake_provider.request_headers[0]["authorization"] == f"Bearer {SENTINEL_KEY}"
    assert run.error and "AuthenticationError" in run.error
    assert SENTINEL_KEY not in run.error
    assert "[redacted]" in run.error
    assert run.verdict is None
    calls = await engine.store.calls_for_run(run.id)
    assert calls and all(c.error_class == "AuthenticationError" for c in calls.values())
    assert not any(SENTINEL_KEY in (c.error_message or "") for c in calls.values())


def two_case_suite() -> dict[str, Any]:
    return fact_suite(2, name="two")


async def test_429_with_retry_after_is_retried(engine: Engine, fake_provider: FakeProvider) -> None:
    fake_provider.fail_next(1, 429, retry_after=0.1)
    run = await engine.diagnose(two_case_suite(), max_concurrency=1)

    assert run.status == "succeeded", run.error
    assert await labels(engine, run.id) == {"c0": "knowledge", "c1": "knowledge"}
    assert fake_provider.status_counts == {429: 1, 200: 4}
    bodies = fake_provider.bodies
    assert bodies[0] == bodies[1]  # the same call again
    calls = await engine.store.calls_for_run(run.id)
    assert all(c.error_class is None for c in calls.values())
    assert run.calls_failed == 0


async def test_retry_after_is_a_floor_on_the_wait(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    seen: list[float] = []
    lock = threading.Lock()

    def rule(body: Body, attempt: int) -> tuple[int, dict[str, str]] | None:
        with lock:
            seen.append(time.monotonic())
        return (429, {"Retry-After": "1"}) if attempt == 0 else None

    fake_provider.fault_rule = rule
    run = await engine.diagnose(fact_suite(1, name="one"), max_concurrency=1)

    assert run.status == "succeeded", run.error
    assert fake_provider.status_counts == {429: 2, 200: 2}
    # Backoff alone waits at most 0.5 s before the first retry; Retry-After: 1 must win.
    assert seen[1] - seen[0] >= 0.95
    assert seen[3] - seen[2] >= 0.95


async def test_500_and_503_are_retried(engine: Engine, fake_provider: FakeProvider) -> None:
    fake_provider.fail_next(1, 500)
    fake_provider.fail_next(1, 503)
    run = await engine.diagnose(two_case_suite(), max_concurrency=1)

    assert run.status == "succeeded", run.error
    assert await labels(engine, run.id) == {"c0": "knowledge", "c1": "knowledge"}
    assert fake_provider.status_counts == {500: 1, 503: 1, 200: 4}
    bodies = fake_provider.bodies
    assert bodies[0] == bodies[1] == bodies[2]
    assert run.calls_failed == 0


async def test_timeouts_are_retried(engine: Engine, fake_provider: FakeProvider) -> None:
    fake_provider.slow_next(1, seconds=3.0)
    run = await start(engine, fact_suite(1, name="one"), max_concurrency=1)
    runner = Runner(engine.store, ModelRegistry(engine.catalog), default_concurrency=1, timeout=0.5)

    assert await runner.advance(run.id) == "succeeded"
    assert await labels(engine, run.id) == {"c0": "knowledge"}
    assert fake_provider.requests == 3
    bodies = fake_provider.bodies
    assert bodies[0] == bodies[1]
    calls = await engine.store.calls_for_run(run.id)
    assert all(c.error_class is None for c in calls.values())


async def test_context_length_error_is_not_retried(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.fail_context_length(1)
    suite = two_case_suite()
    run = await engine.diagnose(suite, max_concurrency=1)

    assert run.status == "succeeded", run.error
    assert await labels(engine, run.id) == {"c0": "error", "c1": "knowledge"}
    first = fake_provider.bodies[0]
    assert first["messages"] == arm_messages(suite, "c0", "closed_book")
    assert sum(b == first for b in fake_provider.bodies) == 1
    assert fake_provider.requests == 4
    calls = await engine.store.calls_for_run(run.id)
    failed = calls[("c0", "closed_book", 0)]
    assert failed.error_class == "ContextWindowExceededError"
    assert "maximum context length" in (failed.error_message or "")


# --- 4. the call cache --------------------------------------------------------------------------


async def test_an_identical_rerun_is_served_from_the_cache(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    first = await engine.diagnose(fact_suite())
    assert fake_provider.requests == 24

    second = await engine.diagnose(fact_suite())
    assert fake_provider.requests == 24  # no new requests at all
    assert second.status == "succeeded", second.error
    assert (second.calls_done, second.calls_cached) == (24, 24)
    assert await labels(engine, second.id) == await labels(engine, first.id)
    for key in ("diagnosis", "next_rung", "counts", "lift", "pass_rates"):
        assert second.verdict[key] == first.verdict[key]
    assert second.verdict["usage"]["cached_calls"] == 24
    assert second.verdict["usage"]["cost_usd"] == 0.0

    third = await engine.diagnose(fact_suite(), cache=False)
    assert fake_provider.requests == 48
    assert third.calls_cached == 0
    assert third.config["cache"] is False
    assert third.verdict["diagnosis"] == "knowledge"


async def test_each_sample_is_its_own_call(engine: Engine, fake_provider: FakeProvider) -> None:
    suite = fact_suite(2, name="sampled")
    run = await engine.diagnose(suite, samples=3, temperature=0.7)
    assert run.status == "succeeded", run.error

    calls = await engine.store.calls_for_run(run.id)
    # Closed-book: 3 samples; open-book: 2 suffice (design §3 stopping rule; see test below).
    assert sorted((cid, arm, i) for cid, arm, i in calls) == [
        (cid, arm, i)
        for cid in ("c0", "c1")
        for arm, n in (("closed_book", 3), ("open_book", 2))
        for i in range(n)
    ]
    assert not any(c.cached for c in calls.values())
    assert len({c.cache_key for c in calls.values()}) == 10
    # Identical messages, yet the provider saw every sample: none came from another's cache.
    received = Counter(json.dumps(b["messages"], sort_keys=True) for b in fake_provider.bodies)
    assert received[json.dumps(arm_messages(suite, "c0", "closed_book"), sort_keys=True)] == 3
    assert received[json.dumps(arm_messages(suite, "c0", "open_book"), sort_keys=True)] == 2
    assert all(b["temperature"] == 0.7 for b in fake_provider.bodies)
    assert fake_provider.requests == 10

    # Re-running the identical sampled diagnosis is served per sample from the cache.
    again = await engine.diagnose(suite, samples=3, temperature=0.7)
    assert fake_provider.requests == 10
    assert again.calls_cached == 10
    assert await labels(engine, again.id) == await labels(engine, run.id)


async def test_sample_seeds_differ_when_a_seed_is_given(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    suite = fact_suite(1, name="seeded")
    run = await engine.diagnose(suite, samples=3, temperature=0.7, seed=7)
    assert run.status == "succeeded", run.error

    closed = arm_messages(suite, "c0", "closed_book")
    open_ = arm_messages(suite, "c0", "open_book")
    seeds = {
        "closed": sorted(b["seed"] for b in fake_provider.bodies if b["messages"] == closed),
        "open": sorted(b["seed"] for b in fake_provider.bodies if b["messages"] == open_),
    }
    assert seeds == {"closed": [7, 8, 9], "open": [7, 8]}


# --- 5. adaptive sampling -----------------------------------------------------------------------


async def test_adaptive_sampling_stops_early_on_clear_cases(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    run = await engine.diagnose(fact_suite(), samples=5, temperature=0.8)

    assert run.status == "succeeded", run.error
    results = await engine.store.case_results(run.id)
    assert {r.label for r in results} == {"knowledge"}
    # 3 closed fails, 2 open passes: P = (1 - 0.5**4) * (1 - 0.5**3) = 0.8203 >= 0.8
    assert {r.confidence for r in results} == {0.8203}
    assert all(r.confidence >= 0.8 for r in results)
    sampling = run.verdict["sampling"]
    assert sampling == {"samples": 5, "calls_used": 60, "calls_fixed_design": 120}
    assert sampling["calls_used"] <= 0.65 * 12 * 2 * 5
    assert fake_provider.requests == 60
    assert run.calls_done == run.calls_planned == 60
    assert (run.verdict["diagnosis"], run.verdict["next_rung"]) == ("knowledge", "retrieval")


ALT_INPUT = "Which code word belongs to the flaky item?"


async def test_a_case_whose_samples_disagree_is_inconclusive(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    open_book_seen = Counter[str]()
    lock = threading.Lock()

    def respond(body: Body) -> str:
        if ALT_INPUT in user_of(body) and has_facts(body):
            with lock:
                open_book_seen[ALT_INPUT] += 1
                n = open_book_seen[ALT_INPUT]
            return facts_responder(body) if n % 2 == 1 else "No idea."
        return facts_responder(body)

    fake_provider.responder = respond
    suite = fact_suite(name="flaky")
    suite["cases"].append(fact_case(99, input=ALT_INPUT, id="flaky"))
    run = await engine.diagnose(suite, samples=5, temperature=0.8)

    assert run.status == "succeeded", run.error
    results = {r.case_id: r for r in await engine.store.case_results(run.id)}
    assert results["flaky"].label == "inconclusive"
    assert results["flaky"].confidence < 0.8
    assert {r.label for cid, r in results.items() if cid != "flaky"} == {"knowledge"}

    calls = await engine.store.calls_for_run(run.id)
    flaky_open = [calls[k] for k in sorted(calls) if k[0] == "flaky" and k[1] == "open_book"]
    flaky_closed = [k for k in calls if k[0] == "flaky" and k[1] == "closed_book"]
    assert [c.grade["passed"] for c in flaky_open] == [True, False, True, False]
    assert len(flaky_closed) == 2
    # It sampled until the 0.8 bar could no longer be reached within 5 samples, then stopped.
    assert run.verdict["counts"]["inconclusive"] == 1
    assert run.verdict["labelled"] == 12
    assert run.verdict["sampling"]["calls_used"] == 12 * 5 + 6


# --- 6. the judge grader ------------------------------------------------------------------------


def judge_suite(n: int) -> dict[str, Any]:
    rubric = {"type": "judge", "rubric": "Names the code word of the item."}
    return {"name": "judged", "cases": [fact_case(i, expected=rubric) for i in range(n)]}


async def test_judge_grades_at_temperature_zero_with_a_pinned_seed(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    def respond(body: Body) -> str:
        if system_of(body) == JUDGE_SYSTEM_PROMPT:
            assert body["model"] == "fake-judge"
            ok = "zebra-" in user_of(body).split("Answer to grade:")[1]
            reply = {"passed": ok, "score": int(ok), "reason": "ok" if ok else "no"}
            return json.dumps(reply)
        return facts_responder(body)

    fake_provider.responder = respond
    run = await engine.diagnose(judge_suite(12), judge_model="fake-judge", temperature=0.3)

    assert run.status == "succeeded", run.error
    assert fake_provider.responder_errors == []
    assert set((await labels(engine, run.id)).values()) == {"knowledge"}
    assert (run.verdict["diagnosis"], run.verdict["next_rung"]) == ("knowledge", "retrieval")

    judged = [b for b in fake_provider.bodies if system_of(b) == JUDGE_SYSTEM_PROMPT]
    assert len(judged) == 24
    assert all(b["model"] == "fake-judge" for b in judged)
    assert all(b["temperature"] == 0 and b["seed"] == JUDGE_SEED for b in judged)
    assert all(b["temperature"] == 0.3 for b in main_bodies(fake_provider))

    calls = await engine.store.calls_for_run(run.id)
    for (_, arm, _), call in calls.items():
        if arm == "open_book":
            assert call.grade == {"passed": True, "score": 1.0, "reason": "ok", "kind": None}
        elif arm == "closed_book":
            assert call.grade["passed"] is False and call.grade["kind"] == "content"
    judge_arms = Counter(arm for _, arm, _ in calls if arm.startswith("judge:"))
    assert judge_arms == {"judge:closed_book:0": 12, "judge:open_book:0": 12}
    assert run.calls_done == run.calls_planned == 48
    assert all(r.facts_cover_answer is None for r in await engine.store.case_results(run.id))


async def test_an_unreadable_judge_reply_is_unscored_not_a_failure(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    def respond(body: Body) -> str:
        if system_of(body) == JUDGE_SYSTEM_PROMPT:
            return "Hmm, hard to say really."
        return facts_responder(body)

    fake_provider.responder = respond
    run = await engine.diagnose(judge_suite(3), judge_model="fake-judge")

    assert run.status == "succeeded", run.error
    assert set((await labels(engine, run.id)).values()) == {"error"}
    calls = await engine.store.calls_for_run(run.id)
    main = [c for (_, arm, _), c in calls.items() if not arm.startswith("judge:")]
    assert len(main) == 6
    assert all(c.grade["kind"] == "unscored" and c.grade["passed"] is False for c in main)
    assert all("unreadable judge reply" in c.grade["reason"] for c in main)
    verdict = run.verdict
    assert verdict["counts"]["error"] == 3
    assert verdict["labelled"] == 0
    assert verdict["counts"]["behavior"] == verdict["counts"]["knowledge"] == 0
    assert run.calls_failed == 0  # the calls worked; only the grading could not score


# --- 7. resume after a crash --------------------------------------------------------------------


# litellm builds each call's coroutine on its thread pool and awaits it on the loop: a cancel
# that lands between the two (the "crash" below) leaves that coroutine unawaited. Nothing of it
# is lost that the test does not expect: it is a call in flight when the process died.
@pytest.mark.filterwarnings(
    "ignore:coroutine 'OpenAIChatCompletion.acompletion' was never awaited:RuntimeWarning"
)
async def test_a_crashed_run_resumes_without_repeating_stored_calls(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.delay = 0.05
    suite = fact_suite(name="resumable")
    # cache=False: only the run's own stored calls may prevent repeats, not the call cache.
    run = await start(engine, suite, cache=False)
    task = asyncio.create_task(engine.runner.advance(run.id))
    await wait_until(lambda: fake_provider.completions >= 8)
    task.cancel()  # the process dies with calls in flight
    with contextlib.suppress(asyncio.CancelledError):
        await task

    stored = await engine.store.calls_for_run(run.id)
    assert 0 < len(stored) < 24
    crashed = await engine.store.get_run(run.id)
    assert crashed.status not in ("succeeded", "failed", "cancelled")
    assert crashed.calls_done == len(stored)
    before = len(fake_provider.bodies)

    assert await engine.runner.advance(run.id) == "succeeded"

    resumed = fake_provider.bodies[before:]
    stored_messages = [arm_messages(suite, cid, arm) for cid, arm, _ in stored]
    assert not any(b["messages"] in stored_messages for b in resumed)
    assert len(resumed) == 24 - len(stored)
    # Every call was made exactly once, except those lost in flight when the task died.
    per_call = Counter(json.dumps(b["messages"], sort_keys=True) for b in fake_provider.bodies)
    assert set(per_call.values()) <= {1, 2}

    final = await engine.store.get_run(run.id)
    calls = await engine.store.calls_for_run(run.id)
    assert len(calls) == 24
    assert final.calls_done == 24 == final.calls_planned
    assert final.verdict.diagnosis == "knowledge"
    assert set((await labels(engine, run.id)).values()) == {"knowledge"}


# --- 8. cancel ----------------------------------------------------------------------------------


async def test_cancel_stops_a_running_run_with_a_partial_verdict(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.delay = 0.25
    run = await start(engine, fact_suite(name="slow"))
    claim = await engine.store.claim_slice("test-worker", 60, run_id=run.id)  # as workers do
    assert claim is not None and claim.run_id == run.id
    task = asyncio.create_task(engine.runner.advance(run.id))
    await wait_until(lambda: fake_provider.requests >= 1)
    await engine.store.request_cancel(run.id)

    assert await asyncio.wait_for(task, 5) == "cancelled"
    final = await engine.store.get_run(run.id)
    assert final.status == "cancelled"
    assert final.error == "cancelled by request"
    assert final.verdict is not None and final.verdict.partial is True
    assert final.finished_at is not None
    assert final.calls_done < 24
    assert fake_provider.requests < 24
    assert final.verdict.counts["total"] == len(await engine.store.case_results(run.id))


# --- 9. fact injection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("injection", "system", "user"),
    [
        (
            {},
            "Be brief.",
            "Relevant facts:\n- The code word for item 0 is zebra-0-q.\n\n{input}",
        ),
        (
            {"position": "before_input", "format": "numbered"},
            "Be brief.",
            "Relevant facts:\n1. The code word for item 0 is zebra-0-q.\n\n{input}",
        ),
        (
            {"position": "system", "format": "tagged"},
            "Be brief.\n\n<facts>\nThe code word for item 0 is zebra-0-q.\n</facts>",
            "{input}",
        ),
    ],
)
async def test_fact_injection_is_recorded_and_shapes_the_messages(
    engine: Engine,
    fake_provider: FakeProvider,
    injection: dict[str, str],
    system: str,
    user: str,
) -> None:
    suite = fact_suite(1, name="inject", system_prompt="Be brief.")
    case_input = suite["cases"][0]["input"]
    run = await engine.diagnose(suite, injection=injection)

    assert run.status == "succeeded", run.error
    recorded = {"position": "before_input", "format": "bullets"} | injection
    assert run.config["injection"] == recorded
    assert await labels(engine, run.id) == {"c0": "knowledge"}
    closed = [b for b in fake_provider.bodies if not has_facts(b)]
    open_ = [b for b in fake_provider.bodies if has_facts(b)]
    assert [b["messages"] for b in closed] == [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": case_input}]
    ]
    assert [b["messages"] for b in open_] == [
        [
            {"role": "system", "content": system},
            {"role": "user", "content": user.format(input=case_input)},
        ]
    ]


# --- per-model limits from the model list -----------------------------------------------------


async def test_requests_per_minute_limit_is_honoured(
    engine: Engine, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    limited = ModelCatalog.from_file(write_models_file(tmp_path / "rpm.yaml", fake_provider, rpm=2))
    runner = Runner(engine.store, ModelRegistry(limited), default_concurrency=4, timeout=10)
    run = await start(engine, fact_suite(2, name="limited"))
    task = asyncio.create_task(runner.advance(run.id))
    try:
        await asyncio.sleep(1.5)
        # rpm=2: no more than 2 requests may reach the provider in any 60 s window.
        assert fake_provider.requests == 2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_max_parallel_requests_from_the_model_list_caps_concurrency(
    engine: Engine, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    fake_provider.delay = 0.05
    models = write_models_file(tmp_path / "par.yaml", fake_provider, max_parallel_requests=2)
    registry = ModelRegistry(ModelCatalog.from_file(models))
    runner = Runner(engine.store, registry, default_concurrency=8, timeout=10)
    run = await start(engine, fact_suite(name="parallel"))

    assert await runner.advance(run.id) == "succeeded"
    assert fake_provider.max_in_flight == 2
    # The limit is the operator's, not a parameter sent to the provider.
    assert not any("max_parallel_requests" in b for b in fake_provider.bodies)


# --- bugs found ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_cases", [1, 3])
async def test_cached_successes_count_against_the_failure_fuse(
    engine: Engine, fake_provider: FakeProvider, bad_cases: int
) -> None:
    await engine.diagnose(fact_suite())  # fills the cache
    bad_inputs = [fact_case(90 + i)["input"] for i in range(bad_cases)]
    fake_provider.fault_rule = lambda body, attempt: (
        (400, {}) if any(bad in user_of(body) for bad in bad_inputs) else None
    )
    suite = fact_suite()
    suite["cases"] += [fact_case(90 + i) for i in range(bad_cases)]
    run = await engine.diagnose(suite)

    # 24 calls succeeded (from the cache) and the bad cases are `error`, not a failed run.
    assert run.status == "succeeded", run.error
    assert fake_provider.requests == 24 + 2 * bad_cases  # 24 served from the cache
    got = await labels(engine, run.id)
    assert {got.pop(f"c{90 + i}") for i in range(bad_cases)} == {"error"}
    assert set(got.values()) == {"knowledge"}


async def test_adding_limits_to_a_model_entry_keeps_its_cached_answers(
    engine: Engine, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    """rpm, tpm and max_parallel_requests say how to send, not what is answered."""
    first = await engine.diagnose(fact_suite())
    assert fake_provider.requests == 24 and first.status == "succeeded"
    limited = write_models_file(
        tmp_path / "limited.yaml", fake_provider, rpm=1000, tpm=10**6, max_parallel_requests=4
    )
    registry = ModelRegistry(ModelCatalog.from_file(limited))
    runner = Runner(engine.store, registry, default_concurrency=4, timeout=10)
    run = await start(engine, fact_suite())
    assert await runner.advance(run.id) == "succeeded"
    again = await engine.store.get_run(run.id)
    assert fake_provider.requests == 24  # not one new request
    assert again.calls_cached == 24


# --- endpoints that serve fewer requests at once than rung sends -----------------------------


async def test_a_one_at_a_time_server_never_times_out_a_case(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    """llama.cpp's server answers one request at a time: eight sent at once with a 1 s timeout
    and 0.3 s per answer would leave the later ones queued past their timeout. rung learns
    what the endpoint sustains: no error case, no failed call, the same verdict as serially."""
    fake_provider.serial = True
    fake_provider.delay = 0.3
    registry = ModelRegistry(engine.catalog)
    runner = Runner(engine.store, registry, default_concurrency=8, timeout=1.0)
    run = await start(engine, fact_suite(16, name="one-at-a-time"))

    assert await runner.advance(run.id) == "succeeded"
    final = await engine.store.get_run(run.id)
    assert final.calls_failed == 0
    assert set((await labels(engine, run.id)).values()) == {"knowledge"}
    assert final.verdict.diagnosis == "knowledge"
    gate = registry.get("fake-model").gate  # type: ignore[attr-defined]
    assert gate.limit <= 3  # it learned the endpoint takes about one at a time
    # A request rung gave up on may still have been answered: a few answers beyond the 32.
    assert 32 <= fake_provider.completions <= 32 + 8


async def test_a_dead_endpoint_that_times_out_fails_the_run_within_a_few_timeouts(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.delay = 5.0  # never answers within the timeout
    prepare()  # litellm's import (seconds) is paid at a worker's start, not in a run
    registry = ModelRegistry(engine.catalog)
    runner = Runner(engine.store, registry, default_concurrency=8, timeout=0.5)
    run = await start(engine, fact_suite(12, name="dead"))
    started = time.monotonic()
    assert await runner.advance(run.id) == "failed"
    # Once no attempt ever got an answer, calls stop retrying (four attempts with backoff
    # would take 4 s and more per call) and the run's fuse ends it after the first wave.
    assert fake_provider.requests <= 2 * 8  # the first wave, and at worst one more
    assert time.monotonic() - started < 6.0
    final = await engine.store.get_run(run.id)
    assert "every call failed" in final.error and "Timeout" in final.error


WARM_UP_PROBE = """
import asyncio, json, sys
connects = []
sys.addaudithook(
    lambda event, args: connects.append(repr(args[1])) if event == "socket.connect" else None
)
from app.models.base import Completion
from app.models.catalog import ModelEntry
from app.models.litellm_client import LiteLLMModel, prepare

prepare()
warm_up_connects = list(connects)
before = set(sys.modules)
model = LiteLLMModel(ModelEntry(model_name="m", litellm_params={
    "model": "openai/m", "api_base": sys.argv[1], "api_key": "sk-test"}))
messages = [{"role": "user", "content": "Which city is the capital of France?"}]
result = asyncio.run(model.complete(Completion(messages, 0.0)))
print(json.dumps({
    "warm_up_connects": warm_up_connects,
    "text": result.text,
    "error": result.error_class,
    "cost": result.cost_usd,
    "imported_by_the_first_call": sorted(m for m in set(sys.modules) - before if "litellm" in m),
}))
"""


def test_prepare_warms_litellm_up_offline_and_leaves_real_calls_real(
    fake_provider: FakeProvider,
) -> None:
    """The warm-up call (made in the first worker, before it forks the others) goes through
    litellm's mock transport: no socket. After it, calls reach the real provider again, and a
    first real call imports nothing more (so the forked workers share those modules)."""
    import subprocess
    import sys

    fake_provider.responder = lambda _body: "Paris"
    out = subprocess.run(
        [sys.executable, "-c", WARM_UP_PROBE, fake_provider.base_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["warm_up_connects"] == []
    assert (probe["text"], probe["error"]) == ("Paris", None)
    assert fake_provider.requests == 1
    assert probe["cost"] is None  # a model the cost map does not price costs "unknown"
    assert probe["imported_by_the_first_call"] == []
