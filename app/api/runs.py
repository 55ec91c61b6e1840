"""/v1/runs: start a diagnosis, watch it, read its verdict and per-case evidence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app import services
from app.api.deps import CallbacksDep, CatalogDep, SettingsDep, StoreDep
from app.api.examples import RUN_EXAMPLES
from app.api.schemas import CasePage, RunEstimate, RunOut, RunRequest
from app.store.tables import RunRow

router = APIRouter(prefix="/v1/runs", tags=["runs"])


@router.post("", status_code=202, response_model=RunOut)
async def create_run(
    store: StoreDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    callbacks: CallbacksDep,
    request: Annotated[RunRequest, Body(openapi_examples=RUN_EXAMPLES)],
) -> RunOut:
    """Queue a diagnosis; it runs in the background. Poll GET /v1/runs/{id}, or give a
    `callback_url` to get the signed verdict POSTed there when the run ends."""
    run = await services.start_run(
        store, catalog, request, settings.run_slices, callbacks=callbacks
    )
    return services.run_view(run)


@router.post("/estimate", response_model=RunEstimate)
async def estimate_run(
    store: StoreDep,
    catalog: CatalogDep,
    request: Annotated[RunRequest, Body(openapi_examples=RUN_EXAMPLES)],
) -> RunEstimate:
    """Planned calls, tokens and cost of a run (same body as POST /v1/runs); spends nothing."""
    return await services.estimate_run(store, catalog, request)


@router.get("/{run_id}", response_model=RunOut)
async def get_run(store: StoreDep, run_id: str) -> RunOut:
    return services.run_view(await services.get_run(store, run_id))


@router.get("/{run_id}/cases", response_model=CasePage)
async def list_cases(
    store: StoreDep,
    run_id: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> CasePage:
    return await services.case_page(store, run_id, cursor, limit)


async def _existing_run(store: StoreDep, run_id: str) -> RunRow:
    return await services.get_run(store, run_id)


@router.get("/{run_id}/events", response_class=EventSourceResponse)
async def run_events(
    store: StoreDep, run: Annotated[RunRow, Depends(_existing_run)]
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `progress` whenever the counts change, then `end` with the status.

    The run is looked up as a dependency, so an unknown id is a 404 before the stream opens.
    """
    async for name, payload in services.progress_events(store, run.id):
        yield ServerSentEvent(event=name, data=payload)


@router.post("/{run_id}/cancel", response_model=RunOut)
async def cancel_run(store: StoreDep, run_id: str) -> RunOut:
    run = await store.request_cancel(run_id)
    if run is None:
        raise HTTPException(404, f"no run with id {run_id!r}")
    return services.run_view(run)
