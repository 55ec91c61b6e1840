"""Model-review pipelines: the signed inbound webhook, the delivery log, and the callback's
description (the OpenAPI document's `webhooks` section)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from app.api.deps import CallbacksDep, CatalogDep, SettingsDep, StoreDep
from app.api.schemas import ReviewAccepted, RunCompletedEvent
from app.pipelines.callbacks import secrets_from
from app.pipelines.signing import SignatureError, verify_delivery
from app.service.deliveries import DeliveryList, DeliveryView, delivery_log, retry_delivery
from app.service.reviews import PayloadError, ReviewRequested, accept_review

# The signature is the credential here, not an API key. Declared as a security scheme so the
# OpenAPI document says so; the check itself runs over the raw body in the handler.
_signed = APIKeyHeader(
    name="webhook-signature",
    scheme_name="StandardWebhooks",
    auto_error=False,
    description=(
        "Standard Webhooks: webhook-id, webhook-timestamp (Unix seconds, within 5 minutes) and "
        "webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body> keyed with the "
        "base64-decoded part of RUNG_WEBHOOK_SECRET (whsec_...). MLflow's X-MLflow-Signature / "
        "X-MLflow-Timestamp / X-MLflow-Delivery-Id (keyed with the secret as text) and GitHub's "
        "X-Hub-Signature-256 / X-GitHub-Delivery are accepted too."
    ),
)

NOT_CONFIGURED = (
    "webhooks are not configured on this server: set RUNG_WEBHOOK_SECRET to a whsec_ secret "
    'and restart (make one with: python -c "import base64, secrets; '
    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\")"
)

_EXAMPLE = {
    "type": "review.requested",
    "data": {
        "model": "builtin/reader",
        "suite_name": "northwind-support",
        "callback_url": "https://ci.example.com/hooks/rung",
        "metadata": {"registry_version": "7", "review_id": "rv-123"},
    },
}


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """Resolve local $refs, so the schema stands alone inside the operation."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(item, defs) for item in schema]
    return schema


_REVIEW_SCHEMA = ReviewRequested.model_json_schema()
_REVIEW_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": _inline(_REVIEW_SCHEMA, _REVIEW_SCHEMA.get("$defs", {})),
            "example": _EXAMPLE,
        }
    },
}

inbound = APIRouter(tags=["webhooks"])
deliveries = APIRouter(tags=["webhooks"])


@inbound.post(
    "/v1/webhooks/model-review",
    status_code=202,
    response_model=ReviewAccepted,
    openapi_extra={"requestBody": _REVIEW_BODY},
    responses={
        400: {"description": "Well signed, but not UTF-8 JSON"},
        401: {"description": "Missing, malformed, stale or wrong signature"},
        413: {"description": "Body over RUNG_WEBHOOK_MAX_BODY_BYTES (1 MB)"},
        422: {"description": "Well signed, but not a runnable review (loc names the field)"},
        503: {"description": "RUNG_WEBHOOK_SECRET is not set"},
    },
)
async def model_review(
    request: Request,
    store: StoreDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    callbacks: CallbacksDep,
    _signature: Annotated[str | None, Depends(_signed)],
) -> Any:
    """A pipeline asks for a diagnosis; the run is stored now and executed by a worker.

    Signed, not API-keyed. The same delivery id always answers with the same run_id and
    starts nothing new. With a `callback_url`, the verdict is POSTed there when the run ends.
    """
    secrets = secrets_from(settings)
    if not secrets:
        return JSONResponse({"detail": NOT_CONFIGURED}, 503)
    body = await request.body()
    try:
        delivery = verify_delivery(secrets, request.headers.items(), body, time.time())
        run_id, created = await accept_review(
            store, catalog, callbacks, delivery, body, settings.run_slices
        )
    except SignatureError as exc:
        return JSONResponse({"detail": f"webhook signature: {exc}"}, 401)
    except PayloadError as exc:
        return JSONResponse({"detail": exc.errors}, exc.status)
    return ReviewAccepted(run_id=run_id, duplicate=not created)


@deliveries.get("/v1/runs/{run_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(store: StoreDep, run_id: str) -> DeliveryList:
    """The run's verdict callback and every attempt to deliver it (no headers, no secrets)."""
    return await delivery_log(store, run_id)


@deliveries.post(
    "/v1/deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=DeliveryView,
    responses={409: {"description": "The delivery is not dead or blocked"}},
)
async def retry(store: StoreDep, delivery_id: str) -> DeliveryView:
    """Send a dead (or blocked) callback again, with a fresh round of scheduled attempts."""
    return await retry_delivery(store, delivery_id)


def describe_callbacks(app: FastAPI) -> None:
    """The outbound callback, in the OpenAPI document's `webhooks` section."""

    @app.webhooks.post("run.completed")
    def run_completed(
        event: RunCompletedEvent,
        webhook_id: Annotated[str, Header(description="The same on every retry: dedupe on it")],
        webhook_timestamp: Annotated[str, Header(description="Unix seconds of this attempt")],
        webhook_signature: Annotated[
            str, Header(description="v1,<base64 HMAC-SHA256 of id.timestamp.body>")
        ],
    ) -> None:
        """rung POSTs this to a run's `callback_url` when the run ends, whatever its status.

        Verify it with the `standardwebhooks` package and RUNG_WEBHOOK_SECRET; answer 2xx.
        Other answers are retried for hours (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, jittered,
        Retry-After honoured); 410 stops retries; redirects are not followed.
        """
