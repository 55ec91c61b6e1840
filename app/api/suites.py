"""/v1/suites: store an eval suite (once per content), list them, read one back, delete one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from app.api.deps import StoreDep
from app.api.examples import SUITE_EXAMPLE
from app.api.guards import JsonBodyRoute
from app.diagnosis.suite import Suite
from app.service import suites
from app.service.views import SuiteDetail, SuitePage, SuiteView

router = APIRouter(prefix="/v1/suites", tags=["suites"], route_class=JsonBodyRoute)


@router.post(
    "",
    status_code=201,
    response_model=SuiteView,
    responses={200: {"model": SuiteView, "description": "The same suite was stored before"}},
)
async def create_suite(
    store: StoreDep,
    response: Response,
    suite: Annotated[Suite, Body(openapi_examples={"demo": {"value": SUITE_EXAMPLE}})],
) -> SuiteView:
    """Store a suite: 201 when new, 200 with the stored one when identical content exists."""
    view, created = await suites.add_suite(store, suite)
    if not created:
        response.status_code = 200
    return view


@router.get("", response_model=SuitePage)
async def list_suites(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> SuitePage:
    return await suites.list_suites(store, limit, cursor)


@router.get("/{suite_id}", response_model=SuiteDetail)
async def get_suite(store: StoreDep, suite_id: str) -> SuiteDetail:
    return await suites.get_suite(store, suite_id)


IN_USE = "Runs use the suite: queued or running, or finished without with_runs=true"


@router.delete("/{suite_id}", status_code=204, responses={409: {"description": IN_USE}})
async def delete_suite(store: StoreDep, suite_id: str, with_runs: bool = False) -> Response:
    """Delete a suite; `with_runs=true` also deletes its finished runs (their evidence)."""
    await suites.delete_suite(store, suite_id, with_runs=with_runs)
    return Response(status_code=204)
