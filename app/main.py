"""The FastAPI application: create_app(settings) and its lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from app import __version__
from app.api import comparisons, corpora, health, imports, kits, pages, runs, suites, webhooks
from app.api.deps import require_api_key
from app.api.errors import ERROR_RESPONSES, install_error_handlers
from app.api.guards import ApiKeyMiddleware, NulGuardMiddleware
from app.api.limits import BodyLimitMiddleware
from app.bootstrap import Rung, load_catalog
from app.settings import Settings

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


def create_app(
    settings: Settings | None = None, on_shutdown: Callable[[], None] | None = None
) -> FastAPI:
    settings = settings or Settings()
    catalog = load_catalog(settings)  # a broken model list stops the start, not a later run

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.rung = await Rung.open(settings, catalog)
        try:
            yield
        finally:
            if on_shutdown is not None:
                await asyncio.to_thread(on_shutdown)
            await app.state.rung.close()

    app: FastAPI = FastAPIOffline(
        title="rung",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
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
    auth: Any = [Depends(require_api_key)]
    routers = (
        imports.router,  # before suites: /v1/suites/import is not a suite id
        suites.router,
        runs.router,
        pages.report,
        kits.router,
        comparisons.router,
        pages.comparison_report,
        corpora.router,
        health.models,
        webhooks.deliveries,
    )
    for router in routers:
        app.include_router(router, dependencies=auth, responses=ERROR_RESPONSES)
    app.include_router(health.router)
    app.include_router(pages.index)  # open, like /docs: it holds no data
    app.include_router(webhooks.inbound)  # signed: the signature is its credential, not a key
    webhooks.describe_callbacks(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        prefix_limits={"/v1/webhooks/": settings.webhook_max_body_bytes},
    )
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys)  # outermost: before any body
    install_error_handlers(app)
    return app
