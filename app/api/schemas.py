"""Bodies that exist only at the HTTP edge: errors, webhook acknowledgements, the callback.

Commands and views belong to the service layer (app/service/); the routers use them as they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.diagnosis.usage import RunVerdict


class FieldProblem(BaseModel):
    loc: str = Field(description="The field at fault, as the user wrote it: cases[3].expected")
    msg: str


class ErrorBody(BaseModel):
    detail: list[FieldProblem] | str


class ReviewAccepted(BaseModel):
    run_id: str
    duplicate: bool = Field(description="true when this delivery id already started the run")


class ModelInfo(BaseModel):
    model_name: str
    model: str = Field(description="The provider's model id (never an endpoint or a key)")


class ModelList(BaseModel):
    items: list[ModelInfo]


class RunCompletedData(BaseModel):
    run_id: str
    status: str = Field(description="succeeded, failed or cancelled")
    verdict: RunVerdict | None = Field(description="As in GET /v1/runs/{id}")
    error: str | None
    metadata: dict[str, Any] | None = Field(description="As given when the run was requested")
    run_url: str
    baseline_run_id: str | None = Field(
        default=None, description="A model review's baseline run (baseline_model or _run_id)"
    )
    comparison: dict[str, Any] | None = Field(
        default=None,
        description="With a baseline: the comparison, as GET /v1/comparisons/{id} shows it "
        "(`decision`, `not_worse`, `arms`, `regressions`, ...), or an `error` saying why none",
    )


class RunCompletedEvent(BaseModel):
    type: str = Field(description='Always "run.completed"')
    timestamp: datetime = Field(description="When the run ended")
    data: RunCompletedData
