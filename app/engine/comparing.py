"""Comparing two stored runs: what each case did per arm, what each run spent, and the stored
comparison (made once per pair and margin: finished runs do not change)."""

from __future__ import annotations

from typing import Any

from app.diagnosis.comparison import CaseArms, RunSide
from app.diagnosis.comparison_result import build_comparison
from app.models.catalog import ModelCatalog
from app.store import Store
from app.store.records import CaseResultRecord, ComparisonRecord, RunRecord

DEFAULT_MARGIN = 0.05

# A label's pattern, for results stored before per-arm tallies were kept.
_PATTERN = {
    "no_gap": (True, True),
    "knowledge": (False, True),
    "behavior": (False, False),
    "distraction": (True, False),
}


def _passed(passes: int | None, scored: int | None) -> bool | None:
    if passes is None or not scored:
        return None
    return passes * 2 > scored


def case_arms(result: CaseResultRecord) -> CaseArms:
    """Per arm, whether the case passed (the majority of its scored samples)."""
    t = result.tallies
    closed, open_ = _passed(t.closed_passes, t.closed_scored), _passed(t.open_passes, t.open_scored)
    if t.closed_scored is None and result.label in _PATTERN:
        closed, open_ = _PATTERN[result.label]
    return CaseArms(
        case_id=result.case_id,
        passed={"closed_book": closed, "open_book": open_, "prompt_fix": result.prompt_fix_passed},
    )


async def run_side(store: Store, catalog: ModelCatalog, run: RunRecord) -> RunSide:
    usage = await store.usage(run.id)
    main = [u for arm, u in usage.items() if arm in ("closed_book", "open_book")]
    costs = [u.cost_usd for u in main]
    size = catalog.resolve(run.model).info.get("parameters") if catalog.knows(run.model) else None
    return RunSide(
        model=run.model,
        parameters=size if isinstance(size, int) else None,
        tokens=sum(u.prompt_tokens + u.completion_tokens for u in main),
        latency_ms=sum(u.latency_ms for u in main),
        cost_usd=None if any(c is None for c in costs) else sum(c or 0.0 for c in costs),
    )


async def stored_comparison(
    store: Store, catalog: ModelCatalog, baseline: RunRecord, candidate: RunRecord, margin: float
) -> ComparisonRecord:
    """The comparison of two finished runs on one suite, made now or found from before."""
    found = await store.find_comparison(baseline.id, candidate.id, margin)
    if found is not None:
        return found
    result = build_comparison(
        [case_arms(r) for r in await store.case_results(baseline.id)],
        [case_arms(r) for r in await store.case_results(candidate.id)],
        await run_side(store, catalog, baseline),
        await run_side(store, catalog, candidate),
        margin,
    )
    return await store.add_comparison(
        baseline.id, candidate.id, margin, result.model_dump(mode="json")
    )


def comparison_payload(record: ComparisonRecord) -> dict[str, Any]:
    """A comparison as callbacks carry it (the same fields as GET /v1/comparisons/{id})."""
    return {
        "id": record.id,
        "baseline_run_id": record.baseline_run_id,
        "candidate_run_id": record.candidate_run_id,
        "created_at": record.created_at.isoformat(),
        **record.result,
    }


async def settle_reviews(store: Store, catalog: ModelCatalog, run_id: str) -> None:
    """A run has ended: complete the model reviews it is half of, once both halves have."""
    run = await store.get_run(run_id)
    if run is None or not run.finished:
        return
    pairs: list[tuple[str, RunRecord]] = []
    if run.baseline_run_id is not None:
        pairs.append((run.baseline_run_id, run))
    pairs.extend((run.id, candidate) for candidate in await store.runs_with_baseline(run.id))
    for baseline_id, candidate in pairs:
        baseline = run if baseline_id == run.id else await store.get_run(baseline_id)
        if baseline is not None and not (baseline.finished and candidate.finished):
            continue  # the other half is still going; its end settles the pair
        payload: dict[str, Any]
        if baseline is None:
            payload = {"error": f"the baseline run {baseline_id} was deleted"}
        elif baseline.status == candidate.status == "succeeded":
            margin = candidate.comparison_margin or DEFAULT_MARGIN
            made = await stored_comparison(store, catalog, baseline, candidate, margin)
            payload = comparison_payload(made)
        else:
            payload = {
                "error": f"no comparison: the baseline run {baseline.status}, "
                f"the candidate run {candidate.status}"
            }
        await store.attach_comparison(candidate.id, payload)
