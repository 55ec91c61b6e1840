"""The delivery log of verdict callbacks, and sending a dead one again."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.service.errors import ConflictError, NotFoundError
from app.store import Store
from app.store.records import CallbackRecord


class AttemptView(BaseModel):
    attempted_at: datetime
    outcome: str = Field(description="delivered, retry, dead or blocked")
    status_code: int | None = Field(description="The receiver's HTTP status, if it answered")
    latency_ms: float
    error: str | None
    response: str | None = Field(description="The start of the receiver's reply (500 chars)")


class DeliveryView(BaseModel):
    id: str = Field(description="Also the webhook-id header, the same on every attempt")
    run_id: str
    url: str
    status: str = Field(description="pending, delivered, dead (retries spent) or blocked")
    next_attempt_at: datetime | None = Field(description="When pending: the next attempt")
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[AttemptView]


class DeliveryList(BaseModel):
    items: list[DeliveryView]


def delivery_view(callback: CallbackRecord) -> DeliveryView:
    return DeliveryView(
        id=callback.id,
        run_id=callback.run_id,
        url=callback.url,
        status=callback.status,
        next_attempt_at=callback.next_attempt_at if callback.status == "pending" else None,
        created_at=callback.created_at,
        delivered_at=callback.delivered_at,
        attempts=[
            AttemptView(
                attempted_at=a.attempted_at,
                outcome=a.outcome,
                status_code=a.status_code,
                latency_ms=a.latency_ms,
                error=a.error,
                response=a.response,
            )
            for a in callback.attempts
        ],
    )


async def delivery_log(store: Store, run_id: str) -> DeliveryList:
    if await store.get_run(run_id) is None:
        raise NotFoundError(f"no run with id {run_id!r}")
    return DeliveryList(items=[delivery_view(c) for c in await store.callbacks_for_run(run_id)])


async def retry_delivery(store: Store, callback_id: str) -> DeliveryView:
    """Send a dead or blocked callback again, with a fresh round of scheduled attempts."""
    callback, queued = await store.retry_callback(callback_id)
    if callback is None:
        raise NotFoundError(f"no delivery with id {callback_id!r}")
    if not queued:
        raise ConflictError(
            f"delivery {callback_id!r} is {callback.status}; only dead or blocked ones can be "
            "retried"
        )
    for found in await store.callbacks_for_run(callback.run_id):
        if found.id == callback_id:
            return delivery_view(found)
    raise NotFoundError(f"no delivery with id {callback_id!r}")
