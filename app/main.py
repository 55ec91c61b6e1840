"""The FastAPI application: create_app(settings) and its lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

from app.api import health, runs, suites, webhooks
from app.api.deps import require_api_key
from app.api.guards import ApiKeyMiddleware
from app.api.limits import BodyLimitMiddleware
from app.callbacks import policy_from
from app.diagnosis.suite import located_errors
from app.llm import ModelCatalog
from app.services import InvalidRequestError, NotFoundError
from app.settings import Settings
from app.store.store import Store

log = logging.getLogger("rung.api")

DESCRIPTION = """\
**rung** tells you which rung of the LLM ladder a task needs — prompt, retrieval, fine-tune —
by running the *facts-in-context test*: every eval case goes to the model closed-book and again
with its relevant facts injected. Facts fix it → a **knowledge** gap (retrieval). It fails even
with the facts → a **behavior** gap (prompt fix, then a thin adapter).

Try it: `POST /v1/runs` with the *demo* example (the built-in offline model), then
`GET /v1/runs/{run_id}` (the `id` it returned) until `status` is `succeeded`, and
`GET /v1/runs/{run_id}/cases` for the evidence.
When the server has API keys, click **Authorize** and paste one.
"""


class FieldProblem(BaseModel):
    loc: str = Field(description="The field at fault, as the user wrote it: cases[3].expected")
    msg: str


class ErrorBody(BaseModel):
    detail: list[FieldProblem] | str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not valid JSON"},
    401: {"model": ErrorBody, "description": "Missing or invalid API key (RUNG_API_KEYS)"},
    404: {"model": ErrorBody, "description": "No such suite, run or delivery"},
    413: {"model": ErrorBody, "description": "The body is larger than the limit"},
    422: {"model": ErrorBody, "description": "Invalid input; each problem names its field"},
}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    # The request part (body, query, path) is not a field the user named.
    errors = [
        {**err, "loc": [p for p in err["loc"] if p not in ("body", "query", "path")]}
        for err in exc.errors()
    ]
    return [{"loc": e.loc or "body", "msg": e.msg} for e in located_errors(errors)]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return JSONResponse(
                {"detail": [{"loc": "body", "msg": "request body is not valid JSON"}]}, 400
            )
        return JSONResponse({"detail": _validation_errors(exc)}, 422)

    @app.exception_handler(InvalidRequestError)
    async def _unservable(_: Request, exc: InvalidRequestError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": exc.loc, "msg": exc.msg}]}, 422)

    @app.exception_handler(NotFoundError)
    async def _missing(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 404)


def create_app(
    settings: Settings | None = None, on_shutdown: Callable[[], None] | None = None
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = await Store.open(settings.database_url)
        try:
            yield
        finally:
            if on_shutdown is not None:
                await asyncio.to_thread(on_shutdown)
            await app.state.store.close()

    app: FastAPI = FastAPIOffline(
        title="rung",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # The key is not persisted in the browser's storage: a shared machine keeps no secret.
        swagger_ui_parameters={"tryItOutEnabled": True},
        # FastAPI's built-in OpenTelemetry: off, including its env-driven exporter set-up, so
        # no request data or exception text is shipped anywhere and requests carry no spans.
        telemetry={
            "tracing": False,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
            "auto_configure": False,
        },
    )
    app.state.settings = settings
    app.state.catalog = ModelCatalog.from_file(settings.models_file)
    app.state.callbacks = policy_from(settings)
    auth: Any = [Depends(require_api_key)]
    app.include_router(suites.router, dependencies=auth, responses=ERROR_RESPONSES)
    app.include_router(runs.router, dependencies=auth, responses=ERROR_RESPONSES)
    app.include_router(health.router)
    app.include_router(webhooks.inbound)  # signed: the signature is its credential, not a key
    app.include_router(webhooks.deliveries, dependencies=auth, responses=ERROR_RESPONSES)
    webhooks.describe_callbacks(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        prefix_limits={"/v1/webhooks/": settings.webhook_max_body_bytes},
    )
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys)  # outermost: before any body
    _install_error_handlers(app)
    return app
