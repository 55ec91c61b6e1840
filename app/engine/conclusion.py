"""Ending a run: read what it stored once, decide its end (a pure step), write it once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from app.diagnosis.retrieval import RetrievalCase, RetrievalResult, build_retrieval
from app.diagnosis.summary import explain
from app.diagnosis.usage import ArmUsage, RunVerdict, Sampling, total_usage
from app.diagnosis.verdict import CaseOutcome, build_verdict
from app.engine.comparing import case_arms, settle_reviews
from app.models.catalog import ModelCatalog
from app.store import Store
from app.store.records import CaseResultRecord, RunRecord

# Why the run is ending: every slice finished, a cancel request, the budget, a dead endpoint.
StopReason = Literal["finished", "cancelled", "budget", "dead_endpoint"]


@dataclass(frozen=True)
class RunSnapshot:
    """Everything the end of a run is decided from, read in one go."""

    run: RunRecord
    results: list[CaseResultRecord]
    usage: Mapping[str, ArmUsage]
    spent_usd: float


@dataclass(frozen=True)
class Ending:
    status: Literal["succeeded", "failed", "cancelled"]
    verdict: RunVerdict | None
    error: str | None
    cancel_reason: Literal["request", "budget"] | None = None


def run_verdict(snapshot: RunSnapshot, partial: bool) -> RunVerdict:
    """The verdict over the stored case results, with usage and sampling figures."""
    options = snapshot.run.options
    outcomes = [
        CaseOutcome(
            case_id=r.case_id,
            label=r.label,  # type: ignore[arg-type]
            facts_cover_answer=r.facts_cover_answer,
            prompt_fix_passed=r.prompt_fix_passed,
            control_passed=r.control_passed,
            closed_passes=r.tallies.closed_passes,
            closed_scored=r.tallies.closed_scored,
            open_passes=r.tallies.open_passes,
            open_scored=r.tallies.open_scored,
            facts_sufficient=r.facts_sufficient,
        )
        for r in snapshot.results
    ]
    verdict = build_verdict(
        outcomes,
        options.max_failure_rate,
        prompt_fix_ran=bool(options.candidate_prompt),
        samples=options.samples,
    )
    verdict.partial = partial
    verdict.summary = explain(verdict)
    retrieval = _retrieval(snapshot)
    if retrieval is not None:
        verdict.summary = f"{verdict.summary} {retrieval.summary}"
    main_calls = sum(
        snapshot.usage[arm].calls for arm in ("closed_book", "open_book") if arm in snapshot.usage
    )
    return RunVerdict(
        **verdict.model_dump(),
        usage=total_usage(snapshot.usage),
        sampling=Sampling(
            samples=options.samples,
            calls_used=main_calls,
            calls_fixed_design=len(snapshot.results) * 2 * options.samples,
        ),
        retrieval=retrieval,
    )


def _retrieval(snapshot: RunSnapshot) -> RetrievalResult | None:
    options = snapshot.run.options.retrieval
    if options is None:
        return None
    cases = []
    for result in snapshot.results:
        if result.retrieved is None:
            continue
        arms = case_arms(result).passed
        cases.append(
            RetrievalCase(
                case_id=result.case_id,
                closed_passed=arms["closed_book"],
                gold_passed=arms["open_book"],
                retrieved_passed=result.retrieved.passed,
                recall=result.retrieved.recall,
            )
        )
    return build_retrieval(cases, options.k, options.corpus_id)


def decide(snapshot: RunSnapshot, reason: StopReason, last_error: str = "") -> Ending:
    """How the run ends, from what it stored and why it stopped."""
    run = snapshot.run
    if reason == "dead_endpoint":
        return Ending("failed", None, f"every call failed; last error: {last_error}")
    if reason == "budget":
        error = (
            f"budget: spent ${snapshot.spent_usd:.4f} of max_cost_usd "
            f"${run.options.max_cost_usd}; the verdict covers the cases finished before the stop"
        )
        return Ending("cancelled", run_verdict(snapshot, partial=True), error, "budget")
    if reason == "cancelled":
        verdict = run_verdict(snapshot, partial=True)
        return Ending("cancelled", verdict, "cancelled by request", "request")
    if run.calls_done and run.calls_failed == run.calls_done:
        error = f"every call failed; last error: {last_error or 'see the run cases'}"
        return Ending("failed", None, error)
    return Ending("succeeded", run_verdict(snapshot, partial=False), None)


async def fail_run(store: Store, run_id: str, error: str, catalog: ModelCatalog) -> None:
    """End a run that cannot go on (an unknown model, a crash) and settle its reviews."""
    await store.finish_run(run_id, "failed", None, error)
    await settle_reviews(store, catalog, run_id)


async def conclude(
    store: Store,
    run_id: str,
    reason: StopReason = "finished",
    last_error: str = "",
    catalog: ModelCatalog | None = None,
) -> str:
    """Store the run's end, once (a run another process already ended stays as it is); with
    the catalog, also complete the model reviews the run is half of."""
    run = await store.get_run(run_id)
    if run is None or run.finished:
        return run.status if run is not None else "missing"
    snapshot = RunSnapshot(
        run=run,
        results=await store.case_results(run_id),
        usage=await store.usage(run_id),
        spent_usd=await store.spent_usd(run_id),
    )
    ending = decide(snapshot, reason, last_error)
    await store.finish_run(
        run_id, ending.status, ending.verdict, ending.error, ending.cancel_reason
    )
    if catalog is not None:
        await settle_reviews(store, catalog, run_id)
    return await store.run_status(run_id)
