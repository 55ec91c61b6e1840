"""Delivering verdict callbacks from the outbox: signed, guarded, retried for hours.

Each attempt POSTs `{"type": "run.completed", "timestamp", "data"}` signed the Standard
Webhooks way: the same `webhook-id` on every attempt (receivers dedupe on it), a fresh timestamp
and signature each time. 2xx is delivered; 410 means the receiver wants no more (dead); a
redirect is not followed (the guard vetted this URL, not the Location), so it counts as a
failure; anything else is retried on `RUNG_CALLBACK_SCHEDULE`, jittered, with Retry-After as a
floor. After the last scheduled retry the callback is dead; a refused address makes it blocked.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx

from app.pipelines.signing import WebhookSecret, parse_secrets, signature_headers
from app.pipelines.ssrf import CallbackBlockedError, CallbackPolicy, GuardedTransport
from app.settings import Settings
from app.store import Store
from app.store.records import AttemptRecord, CallbackRecord

log = logging.getLogger("rung.callbacks")

EVENT_TYPE = "run.completed"
READ_LIMIT = 4096  # bytes of a receiver's reply read at all
EXCERPT_CHARS = 500  # ...and kept in the delivery log
BATCH = 8  # callbacks sent concurrently by one worker
JITTER = 0.2  # each wait is its scheduled value ±20%, so recovering receivers are not stampeded

Clock = Callable[[], float]


def policy_from(settings: Settings) -> CallbackPolicy:
    return CallbackPolicy(
        allow_hosts=frozenset(settings.callback_allow_hosts),
        can_sign=settings.webhook_secret is not None,
        resolve_timeout=settings.callback_timeout_seconds,
    )


def secrets_from(settings: Settings) -> tuple[WebhookSecret, ...]:
    if settings.webhook_secret is None:
        return ()
    return parse_secrets(settings.webhook_secret.get_secret_value())


def next_delay(
    failures: int,
    schedule: Sequence[float],
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds to wait after the `failures`-th consecutive failure; None when none are left.

    Retry-After raises the wait but never beyond the schedule's longest step, so a receiver
    cannot park a callback for a year.
    """
    if failures < 1 or failures > len(schedule):
        return None
    delay = schedule[failures - 1] * (rng or random).uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max(schedule)))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def event_body(callback: CallbackRecord, public_url: str) -> bytes:
    payload = dict(callback.payload)
    finished_at = payload.pop("finished_at", None)
    data = {**payload, "run_url": f"{public_url.rstrip('/')}/v1/runs/{callback.run_id}"}
    event = {"type": EVENT_TYPE, "timestamp": finished_at, "data": data}
    return json.dumps(event, separators=(",", ":"), allow_nan=False).encode()


async def _excerpt(response: httpx.Response) -> str:
    """The start of the reply, read no further than READ_LIMIT bytes."""
    buffer = b""
    async for chunk in response.aiter_bytes():
        buffer += chunk
        if len(buffer) >= READ_LIMIT:
            break
    return buffer[:READ_LIMIT].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


async def attempt(
    client: httpx.AsyncClient,
    callback: CallbackRecord,
    secrets: Sequence[WebhookSecret],
    public_url: str,
    timeout_seconds: float,
    clock: Clock = time.time,
) -> tuple[AttemptRecord, float | None]:
    """Send once. Returns the attempt as logged and the receiver's Retry-After, if any."""
    body = event_body(callback, public_url)
    headers = {
        "content-type": "application/json",
        "user-agent": "rung-callbacks/0.1",
        **signature_headers(secrets, callback.id, body, clock()),
    }
    started_at = datetime.now(UTC)
    started = time.monotonic()

    def done(
        outcome: str, code: int | None = None, error: str | None = None, reply: str | None = None
    ) -> AttemptRecord:
        latency = round((time.monotonic() - started) * 1000, 1)
        return AttemptRecord(started_at, outcome, code, latency, error, reply)

    try:
        async with client.stream(
            "POST", callback.url, content=body, headers=headers, timeout=timeout_seconds
        ) as response:
            reply = await _excerpt(response)
    except CallbackBlockedError as exc:
        return done("blocked", error=str(exc)), None
    except httpx.TimeoutException:
        return done("retry", error=f"no reply within {timeout_seconds:g}s"), None
    except (httpx.HTTPError, OSError) as exc:
        return done("retry", error=f"{type(exc).__name__}: {exc}"[:300]), None
    code = response.status_code
    if 200 <= code < 300:
        return done("delivered", code, reply=reply), None
    if code == 410:
        return done("dead", code, "410 Gone: the receiver asked for no more attempts", reply), None
    if 300 <= code < 400:
        error = f"redirect ({code}) not followed: callbacks go only to the vetted URL"
        return done("retry", code, error, reply), None
    retry_after = parse_retry_after(response.headers.get("retry-after"), started_at)
    return done("retry", code, f"HTTP {code}", reply), retry_after


async def deliver_one(
    store: Store,
    client: httpx.AsyncClient,
    callback: CallbackRecord,
    owner: str,
    settings: Settings,
    secrets: Sequence[WebhookSecret],
    clock: Clock = time.time,
) -> str:
    """One attempt at a claimed callback, logged; returns the callback's new status."""
    try:
        result, retry_after = await attempt(
            client, callback, secrets, settings.public_url, settings.callback_timeout_seconds, clock
        )
    except asyncio.CancelledError:
        await asyncio.shield(store.release_callback(callback.id, owner))
        raise
    except Exception as exc:  # a bug must not kill the loop; the attempt is logged and retried
        log.exception("callback %s: attempt crashed", callback.id)
        result = AttemptRecord(
            datetime.now(UTC), "retry", None, 0.0, f"internal error: {exc!r}", None
        )
        retry_after = None
    failures = callback.failures
    next_at = result.attempted_at
    status = result.outcome
    if result.outcome == "retry":
        failures += 1
        delay = next_delay(failures, settings.callback_schedule, retry_after)
        if delay is None:
            status = "dead"
            error = f"{result.error}; that was the last scheduled attempt"
            result = replace(result, outcome="dead", error=error)
        else:
            status = "pending"
            next_at = result.attempted_at + timedelta(seconds=delay)
    await store.record_attempt(callback.id, owner, result, status, failures, next_at)
    log.info(
        "callback %s for run %s: %s (%s)",
        callback.id,
        callback.run_id,
        status,
        result.status_code or result.error,
    )
    return status


def make_client(policy: CallbackPolicy) -> httpx.AsyncClient:
    # trust_env=False: environment proxies would otherwise get unguarded transports of their own.
    return httpx.AsyncClient(
        transport=GuardedTransport(policy), follow_redirects=False, trust_env=False
    )


def lease_for(settings: Settings) -> float:
    """Long enough for one attempt (resolution, then the reply: each bounded by the timeout)
    with room to spare; short enough that a crashed worker's callback is soon taken over."""
    return 2 * settings.callback_timeout_seconds + 5


async def deliver_due(
    store: Store,
    client: httpx.AsyncClient,
    owner: str,
    settings: Settings,
    secrets: Sequence[WebhookSecret],
    clock: Clock = time.time,
) -> int:
    """Claim what is due and attempt it; returns how many callbacks were attempted."""
    claimed = await store.claim_due(owner, lease_for(settings), BATCH)
    await asyncio.gather(
        *(deliver_one(store, client, c, owner, settings, secrets, clock) for c in claimed)
    )
    return len(claimed)


async def deliver_forever(settings: Settings, store: Store, owner: str) -> None:
    """The worker's delivery loop; runs until cancelled."""
    secrets = secrets_from(settings)
    if not secrets:
        log.info("RUNG_WEBHOOK_SECRET is not set: no callbacks will be sent")
        return
    async with make_client(policy_from(settings)) as client:
        while True:
            try:
                if await deliver_due(store, client, owner, settings, secrets):
                    continue
            except Exception:  # e.g. the database is briefly locked: try again shortly
                log.exception("callback delivery loop")
            await asyncio.sleep(settings.poll_seconds)
