"""The engine through the Model seam: an in-process fake model, the real store and runner.

These are the fast engine tests; tests/test_runner.py runs the same engine against the real
litellm client and a loopback HTTP provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.bootstrap import Rung
from app.models.catalog import ModelCatalog
from app.service import evidence, runs
from app.service.commands import StartRun
from app.store.batch import RunWriter, WriteFailed
from app.store.records import NewCall
from tests.conftest import engine_settings
from tests.fakemodel import FakeModel, entry_for, first_fact


def suite(n: int = 12, **case: Any) -> dict[str, Any]:
    return {
        "name": "seam",
        "cases": [
            {
                "id": f"c{i}",
                "input": f"Which code word belongs to item {i}?",
                "facts": [f"The code word for item {i} is zebra-{i}-q."],
                "expected": f"zebra-{i}-q",
                **case,
            }
            for i in range(n)
        ],
    }


@pytest.fixture
async def rung(tmp_path: Path) -> AsyncIterator[Rung]:
    catalog = ModelCatalog([entry_for("fake"), entry_for("judge")])
    opened = await Rung.open(engine_settings(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"), catalog)
    try:
        yield opened
    finally:
        await opened.close()


async def diagnose(rung: Rung, model: FakeModel, data: dict[str, Any], **options: Any) -> Any:
    rung.models.add(model)
    command = StartRun.model_validate({"suite": data, "model": model.name, **options})
    run = await runs.start_run(rung.store, rung.catalog, command)
    await rung.runner().advance(run.id)
    return await runs.get_run(rung.store, run.id)


async def test_a_knowledge_gap_through_the_seam(rung: Rung) -> None:
    model = FakeModel("fake", first_fact)
    run = await diagnose(rung, model, suite())
    assert run.status == "succeeded", run.error
    assert run.verdict is not None
    assert (run.verdict.diagnosis, run.verdict.next_rung) == ("knowledge", "retrieval")
    assert len(model.calls) == 24
    # Closed-book calls carry no facts; open-book ones do, before the input.
    with_facts = [c for c in model.calls if "Relevant facts" in c.messages[-1]["content"]]
    assert len(with_facts) == 12


async def test_a_grader_that_cannot_score_costs_its_case_not_the_run(rung: Rung) -> None:
    data = suite()
    data["cases"][0]["expected"] = {"type": "regex", "pattern": "(a|aa)+$"}
    model = FakeModel("fake", lambda call: "a" * 60 + "b")
    run = await diagnose(rung, model, data)
    assert run.status == "succeeded", run.error
    assert run.verdict is not None
    assert run.verdict.counts["error"] == 1
    page = await evidence.case_page(rung.store, run.id, None, 50, "error")
    assert [c.case_id for c in page.items] == ["c0"]
    grade = page.items[0].arms["closed_book"].grades[0]
    assert grade is not None and grade["kind"] == "unscored"
    assert "catastrophic backtracking" in grade["reason"]


async def test_a_dead_model_fails_the_run_after_the_fuse(rung: Rung) -> None:
    model = FakeModel("fake", first_fact, fail_with="APIConnectionError")
    run = await diagnose(rung, model, suite())
    assert run.status == "failed"
    assert "every call failed" in (run.error or "")
    assert len(model.calls) < 24  # the fuse stopped it early


async def test_declared_parallelism_is_never_exceeded(rung: Rung) -> None:
    in_flight = 0
    peak = 0

    class Counting(FakeModel):
        async def complete(self, call: Any) -> Any:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return await super().complete(call)

    model = Counting("fake", first_fact, parallel=1)
    run = await diagnose(rung, model, suite())
    assert run.status == "succeeded"
    assert peak == 1


async def test_an_identical_rerun_makes_no_calls(rung: Rung) -> None:
    model = FakeModel("fake", first_fact)
    first = await diagnose(rung, model, suite())
    second = await diagnose(rung, model, suite())
    assert len(model.calls) == 24
    assert second.progress.calls_cached == 24
    assert first.verdict is not None and second.verdict is not None
    assert second.verdict.counts == first.verdict.counts


async def test_a_queued_write_that_cannot_be_committed_fails_loudly_and_loses_nothing_stored(
    rung: Rung,
) -> None:
    command = StartRun.model_validate({"suite": suite(2), "model": "fake"})
    run = await runs.start_run(rung.store, rung.catalog, command)

    def answer() -> NewCall:
        return NewCall(arm="closed_book", cache_key="k-c0", case_id="c0", answer="zebra-0-q")

    first = RunWriter(rung.store, run.id)
    await first.add_calls([answer()])  # queued: returns before the commit
    await first.close()  # commits what was queued
    first.raise_failure()
    assert set(await rung.store.stored_calls(run.id)) == {("c0", "closed_book", 0)}

    # The same slot again breaks the calls' unique index: the commit fails after add returned.
    second = RunWriter(rung.store, run.id)
    await second.add_calls([answer()])
    await second.close()
    with pytest.raises(WriteFailed, match="failed"):
        second.raise_failure()
    with pytest.raises(WriteFailed):  # and every later write of that writer says so at once
        await second.add_calls([answer()])
    stored = await rung.store.get_run(run.id)
    assert stored is not None
    assert stored.calls_done == 1  # the failed group moved no counter
    assert set(await rung.store.stored_calls(run.id)) == {("c0", "closed_book", 0)}
