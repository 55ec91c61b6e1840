"""The next-rung kit of a finished run: its evidence gathered from the store, the files built."""

from __future__ import annotations

from collections import defaultdict

from app.kit import CaseEvidence, Kit, RunEvidence, Sample, build_kit
from app.service.errors import ConflictError, NotFoundError
from app.service.runs import run_record
from app.store import Store
from app.store.records import CallRecord, RunRecord, passed_from_grade

BATCH = 500  # case ids per query for their calls


def _sample(call: CallRecord) -> Sample:
    kind = call.grade.get("kind") if call.grade else None
    return Sample(
        arm=call.arm,
        index=call.sample_index,
        answer=call.answer,
        passed=passed_from_grade(call.grade) if call.error_class is None else None,
        kind=kind if isinstance(kind, str) else None,
    )


def _check_finished(run: RunRecord) -> None:
    if not run.finished:
        raise ConflictError(
            f"run {run.id!r} is {run.status}; the kit is built once the run has finished"
        )
    if run.verdict is None:
        raise ConflictError(f"run {run.id!r} {run.status} without a verdict: {run.error or ''}")


async def gather_evidence(store: Store, run_id: str) -> RunEvidence:
    """The run, its suite's cases and every stored answer and grade, per case."""
    run = await run_record(store, run_id)
    _check_finished(run)
    assert run.verdict is not None  # checked above
    suite = await store.get_suite(run.suite_id)
    if suite is None:
        raise NotFoundError(f"the suite of run {run_id!r} is gone")
    results = await store.case_results(run.id)
    cases = {case.id: case async for _, case in store.iter_cases(suite.id)}
    samples: dict[str, list[Sample]] = defaultdict(list)
    ids = [r.case_id for r in results]
    for start in range(0, len(ids), BATCH):
        for call in await store.calls_for_cases(run.id, ids[start : start + BATCH]):
            if not call.arm.startswith("judge:"):
                samples[call.case_id].append(_sample(call))
    evidence = tuple(
        CaseEvidence(
            case=cases[r.case_id],
            label=r.label,
            facts_cover_answer=r.facts_cover_answer,
            prompt_fix_passed=r.prompt_fix_passed,
            samples=tuple(samples[r.case_id]),
        )
        for r in results
        if r.case_id in cases
    )
    return RunEvidence(
        run_id=run.id,
        status=run.status,
        suite_id=suite.id,
        suite_name=suite.name,
        system_prompt=suite.system_prompt,
        model=run.model,
        options=run.options,
        verdict=run.verdict,
        finished_at=run.finished_at,
        cases=evidence,
    )


async def run_kit(store: Store, run_id: str) -> Kit:
    """The kit of a finished run. NotFoundError: no such run; ConflictError: not finished yet,
    or it ended without a verdict (every call failed)."""
    return build_kit(await gather_evidence(store, run_id))
