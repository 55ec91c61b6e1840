"""Ending a run: the verdict over its stored case results, with usage and sampling figures."""

from __future__ import annotations

from typing import Any

from app.diagnosis.summary import explain
from app.diagnosis.verdict import CaseOutcome, build_verdict
from app.runconfig import RunConfig
from app.store.store import Store


async def verdict_for(
    store: Store, run_id: str, config: RunConfig, partial: bool
) -> dict[str, Any]:
    results = await store.case_results(run_id)
    outcomes = [
        CaseOutcome(
            case_id=r.case_id,
            label=r.label,  # type: ignore[arg-type]
            facts_cover_answer=r.facts_cover_answer,
            prompt_fix_passed=r.prompt_fix_passed,
            control_passed=r.control_passed,
        )
        for r in results
    ]
    verdict = build_verdict(
        outcomes, config.max_failure_rate, prompt_fix_ran=bool(config.candidate_prompt)
    )
    verdict.partial = partial
    verdict.summary = explain(verdict)
    usage = await store.usage(run_id)
    main_calls = sum(usage.get(arm, {}).get("calls", 0) for arm in ("closed_book", "open_book"))
    return verdict.model_dump(mode="json") | {
        "usage": _totals(usage),
        "sampling": {
            "samples": config.samples,
            "calls_used": main_calls,
            "calls_fixed_design": len(results) * 2 * config.samples,
        },
    }


def _totals(per_arm: dict[str, dict[str, Any]]) -> dict[str, Any]:
    costs = [u["cost_usd"] for u in per_arm.values()]
    return {
        "calls": sum(u["calls"] for u in per_arm.values()),
        "cached_calls": sum(u["cached_calls"] for u in per_arm.values()),
        "prompt_tokens": sum(u["prompt_tokens"] for u in per_arm.values()),
        "completion_tokens": sum(u["completion_tokens"] for u in per_arm.values()),
        "cost_usd": None if any(c is None for c in costs) else round(sum(costs), 6),
        "per_arm": per_arm,
    }


async def status_of(store: Store, run_id: str) -> str:
    run = await store.get_run(run_id)
    return run.status if run is not None else "missing"


async def conclude(store: Store, run_id: str, last_error: str = "") -> str:
    """Every slice is done: store the verdict (or fail a run where no call ever worked)."""
    run = await store.get_run(run_id)
    if run is None or run.status != "running":
        return run.status if run is not None else "missing"
    if run.calls_done and run.calls_failed == run.calls_done:
        error = f"every call failed; last error: {last_error or 'see the run cases'}"
        await store.finish_run(run_id, "failed", None, error)
    else:
        config = RunConfig.model_validate(run.config)
        verdict = await verdict_for(store, run_id, config, partial=False)
        await store.finish_run(run_id, "succeeded", verdict, None)
    return await status_of(store, run_id)
