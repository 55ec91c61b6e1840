"""/v1/suites: store an eval suite, list them, read one back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query

from app.api.deps import StoreDep
from app.api.examples import SUITE_EXAMPLE
from app.api.schemas import SuiteDetail, SuiteOut, SuitePage
from app.diagnosis.suite import Suite
from app.services import InvalidRequestError, suite_summary

router = APIRouter(prefix="/v1/suites", tags=["suites"])


@router.post("", status_code=201, response_model=SuiteOut)
async def create_suite(
    store: StoreDep,
    suite: Annotated[Suite, Body(openapi_examples={"demo": {"value": SUITE_EXAMPLE}})],
) -> dict[str, Any]:
    return suite_summary(await store.add_suite(suite))


@router.get("", response_model=SuitePage)
async def list_suites(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> SuitePage:
    if cursor is not None and await store.get_suite(cursor) is None:
        raise InvalidRequestError("cursor", "not a cursor returned by this API")
    rows = await store.list_suites(limit + 1, cursor)
    page = [SuiteOut.model_validate(suite_summary(r)) for r in rows[:limit]]
    return SuitePage(items=page, next_cursor=page[-1].id if len(rows) > limit else None)


@router.get("/{suite_id}", response_model=SuiteDetail)
async def get_suite(store: StoreDep, suite_id: str) -> SuiteDetail:
    row = await store.get_suite(suite_id)
    if row is None:
        raise HTTPException(404, f"no suite with id {suite_id!r}")
    cases = [c.model_dump(mode="json", by_alias=True) async for _, c in store.iter_cases(row.id)]
    return SuiteDetail(**suite_summary(row), system_prompt=row.system_prompt, cases=cases)
