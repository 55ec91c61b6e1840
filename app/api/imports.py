"""POST /v1/suites/import: another tool's eval file (the raw body) stored as a rung suite."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from app.api.deps import StoreDep
from app.importers import Format, ImportFailed, ImportOptions
from app.service import imports
from app.service.imports import ImportedSuite

router = APIRouter(prefix="/v1/suites", tags=["suites"])

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file as it is: a promptfoo config or tests file, Inspect or "
        "OpenAI evals JSONL, Ragas JSONL/JSON/CSV, DeepEval JSON/JSONL/CSV, or a CSV",
        "content": {
            media: {"schema": {"type": "string"}}
            for media in (
                "text/plain",
                "text/csv",
                "application/json",
                "application/x-ndjson",
                "application/yaml",
            )
        },
    }
}


class ImportQuery(ImportOptions):
    format: Format = Field(description="The tool the file comes from")


@router.post(
    "/import",
    status_code=201,
    response_model=ImportedSuite,
    responses={200: {"model": ImportedSuite, "description": "The same suite was stored before"}},
    openapi_extra=_BODY,
)
async def import_suite(
    store: StoreDep, request: Request, response: Response, query: Annotated[ImportQuery, Query()]
) -> Any:
    """Turn another tool's eval set into a suite and store it, with a report of what was mapped,
    what was dropped and why. 422 names the place in the file (`tests[3].assert[0].type`,
    `line 7`) or the option at fault."""
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        return JSONResponse({"detail": [{"loc": "body", "msg": "the file is not UTF-8 text"}]}, 422)
    options = ImportOptions.model_validate(query.model_dump(exclude={"format"}, exclude_unset=True))
    try:
        imported, created = await imports.import_suite(store, query.format, text, options)
    except ImportFailed as exc:
        problems = [{"loc": e.loc or "body", "msg": e.msg} for e in exc.errors]
        return JSONResponse({"detail": problems}, 422)
    if not created:
        response.status_code = 200
    return imported
