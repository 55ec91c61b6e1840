"""/v1/runs: start a diagnosis, list and watch runs, read a verdict and its per-case evidence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.deps import CallbacksDep, CatalogDep, SettingsDep, StoreDep
from app.api.examples import RUN_EXAMPLES
from app.api.guards import JsonBodyRoute
from app.diagnosis.labels import Label
from app.diagnosis.plan import RunEstimate
from app.service import estimates, evidence, runs
from app.service.commands import EstimateRun, StartRun
from app.service.views import CasePage, RunPage, RunStatus, RunView
from app.store.runs import RunFilter

router = APIRouter(prefix="/v1/runs", tags=["runs"], route_class=JsonBodyRoute)


@router.post("", status_code=202, response_model=RunView)
async def create_run(
    store: StoreDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    callbacks: CallbacksDep,
    command: Annotated[StartRun, Body(openapi_examples=RUN_EXAMPLES)],
) -> RunView:
    """Queue a diagnosis; it runs in the background. Poll GET /v1/runs/{id}, or give a
    `callback_url` to get the signed verdict POSTed there when the run ends."""
    return await runs.start_run(store, catalog, command, settings.run_slices, callbacks=callbacks)


@router.get("", response_model=RunPage)
async def list_runs(
    store: StoreDep,
    status: RunStatus | None = None,
    suite_id: str | None = None,
    model: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> RunPage:
    """Runs, newest first; filter by status, suite or model."""
    where = RunFilter(status=status, suite_id=suite_id, model=model)
    return await runs.list_runs(store, limit, cursor, where)


@router.post("/estimate", response_model=RunEstimate)
async def estimate_run(
    store: StoreDep,
    catalog: CatalogDep,
    command: Annotated[EstimateRun, Body(openapi_examples=RUN_EXAMPLES)],
) -> RunEstimate:
    """Planned calls, tokens and cost of a run (same body as POST /v1/runs, plus an optional
    `target_lift`), and the lift it can detect at these samples; spends nothing."""
    return await estimates.estimate_run(store, catalog, command)


@router.get("/{run_id}", response_model=RunView)
async def get_run(store: StoreDep, run_id: str) -> RunView:
    return await runs.get_run(store, run_id)


@router.get("/{run_id}/cases", response_model=CasePage)
async def list_cases(
    store: StoreDep,
    run_id: str,
    label: Label | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> CasePage:
    """Per-case evidence in suite order; `label` keeps only the cases with that label."""
    return await evidence.case_page(store, run_id, cursor, limit, label)


async def _existing_run(store: StoreDep, run_id: str) -> RunView:
    return await runs.get_run(store, run_id)


@router.get("/{run_id}/events", response_class=EventSourceResponse)
async def run_events(
    store: StoreDep, run: Annotated[RunView, Depends(_existing_run)]
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `progress` whenever the counts change, then `end` with the status.

    The run is looked up as a dependency, so an unknown id is a 404 before the stream opens.
    """
    async for name, payload in runs.progress_events(store, run.id):
        yield ServerSentEvent(event=name, data=payload)


@router.post("/{run_id}/cancel", response_model=RunView)
async def cancel_run(store: StoreDep, catalog: CatalogDep, run_id: str) -> RunView:
    return await runs.cancel_run(store, catalog, run_id)
