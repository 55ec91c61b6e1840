"""/v1/runs: start a diagnosis, watch it, read its verdict and per-case evidence."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query

from app import services
from app.api.deps import CatalogDep, StoreDep
from app.api.examples import RUN_EXAMPLES
from app.api.schemas import CasePage, RunOut, RunRequest

router = APIRouter(prefix="/v1/runs", tags=["runs"])


@router.post("", status_code=202, response_model=RunOut)
async def create_run(
    store: StoreDep,
    catalog: CatalogDep,
    request: Annotated[RunRequest, Body(openapi_examples=RUN_EXAMPLES)],
) -> RunOut:
    """Queue a diagnosis; it runs in the background. Poll GET /v1/runs/{id}."""
    return services.run_view(await services.start_run(store, catalog, request))


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


@router.post("/{run_id}/cancel", response_model=RunOut)
async def cancel_run(store: StoreDep, run_id: str) -> RunOut:
    run = await store.request_cancel(run_id)
    if run is None:
        raise HTTPException(404, f"no run with id {run_id!r}")
    return services.run_view(run)
