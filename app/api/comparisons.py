"""/v1/comparisons: pair two runs on the same cases and decide against a margin."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import CatalogDep, StoreDep
from app.api.guards import JsonBodyRoute
from app.service import comparisons
from app.service.comparisons import CompareRuns, ComparisonView

router = APIRouter(prefix="/v1/comparisons", tags=["comparisons"], route_class=JsonBodyRoute)


@router.post(
    "",
    status_code=201,
    response_model=ComparisonView,
    responses={409: {"description": "A run has not succeeded (still running, failed...)"}},
)
async def create_comparison(
    store: StoreDep, catalog: CatalogDep, command: CompareRuns
) -> ComparisonView:
    """Per case and arm: both pass, fixed, regressed, both fail; per arm the paired difference
    with Newcombe's interval and McNemar mid-p; cost and latency per correct answer; a
    decision (equivalent, better, worse, inconclusive) and the distillation check."""
    return await comparisons.compare_runs(store, catalog, command)


@router.get("/{comparison_id}", response_model=ComparisonView)
async def get_comparison(store: StoreDep, comparison_id: str) -> ComparisonView:
    return await comparisons.get_comparison(store, comparison_id)
