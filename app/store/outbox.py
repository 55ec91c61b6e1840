"""The callback outbox of model-review pipelines: verdicts waiting to be delivered.

The outbox row is written in the same transaction that ends the run (`enqueue_callback`, called
when a run ends), so a crash between the verdict and its delivery loses nothing: workers
deliver whatever is due, under a lease like the one on runs, after any restart.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.database import Database, absent_key
from app.store.records import AttemptRecord, CallbackRecord
from app.store.tables import CallbackAttemptRow, CallbackRow, RunRow, utcnow

RETRYABLE = ("dead", "blocked")  # what POST /v1/deliveries/{id}/retry may send again


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


async def enqueue_callback(session: AsyncSession, run_id: str) -> None:
    """Record the run's callback, if it has a callback_url, inside the caller's transaction.

    Call it after the run's terminal status is written in that same transaction. Idempotent:
    a run has at most one callback. A run with a baseline (a model review) waits for its
    comparison: its callback is `waiting` until `attach_comparison` completes it.
    """
    run = (
        await session.execute(
            select(
                RunRow.callback_url,
                RunRow.meta,
                RunRow.status,
                RunRow.verdict,
                RunRow.error,
                RunRow.finished_at,
                RunRow.baseline_run_id,
            ).where(RunRow.id == run_id)
        )
    ).first()
    if run is None or run.callback_url is None:
        return
    if await session.scalar(select(CallbackRow.id).where(CallbackRow.run_id == run_id)):
        return
    now = utcnow()
    session.add(
        CallbackRow(
            id=new_message_id(),
            run_id=run_id,
            url=run.callback_url,
            payload={
                "run_id": run_id,
                "status": run.status,
                "verdict": run.verdict,
                "error": run.error,
                "metadata": run.meta,
                "finished_at": (run.finished_at or now).isoformat(),
                "baseline_run_id": run.baseline_run_id,
            },
            status="waiting" if run.baseline_run_id else "pending",
            failures=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        CallbackRow.status == "pending",
        CallbackRow.next_attempt_at <= now,
        or_(CallbackRow.lease_expires_at.is_(None), CallbackRow.lease_expires_at < now),
    )


def attempt_record(row: CallbackAttemptRow) -> AttemptRecord:
    return AttemptRecord(
        attempted_at=row.attempted_at,
        outcome=row.outcome,
        status_code=row.status_code,
        latency_ms=row.latency_ms,
        error=row.error,
        response=row.response,
    )


def callback_record(
    row: CallbackRow, attempts: list[AttemptRecord] | None = None
) -> CallbackRecord:
    return CallbackRecord(
        id=row.id,
        run_id=row.run_id,
        url=row.url,
        payload=dict(row.payload),
        status=row.status,
        failures=row.failures,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        attempts=attempts or [],
    )


class OutboxQueries(Database):
    async def attach_comparison(self, run_id: str, comparison: dict[str, Any]) -> bool:
        """Complete a waiting callback with its comparison and make it due; False if none waits."""
        async with self.sessions.begin() as session:
            row = await session.scalar(
                select(CallbackRow)
                .where(CallbackRow.run_id == run_id, CallbackRow.status == "waiting")
                .with_for_update()
            )
            if row is None:
                return False
            row.payload = {**row.payload, "comparison": comparison}
            row.status = "pending"
            row.next_attempt_at = utcnow()
            return True

    async def claim_due(self, owner: str, lease_seconds: float, limit: int) -> list[CallbackRecord]:
        """Take up to `limit` due callbacks under a lease, oldest due first."""
        now = utcnow()
        async with self.sessions() as session:
            ids = list(
                await session.scalars(
                    select(CallbackRow.id)
                    .where(_due(now))
                    .order_by(CallbackRow.next_attempt_at)
                    .limit(limit)
                )
            )
        claimed = []
        for callback_id in ids:
            async with self.sessions.begin() as session:
                result = await session.execute(
                    update(CallbackRow)
                    .where(CallbackRow.id == callback_id, _due(now))
                    .values(
                        lease_owner=owner,
                        lease_expires_at=now + timedelta(seconds=lease_seconds),
                    )
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    row = await session.get(CallbackRow, callback_id)
                    if row is not None:
                        claimed.append(callback_record(row))
        return claimed

    async def record_attempt(
        self,
        callback_id: str,
        owner: str,
        attempt: AttemptRecord,
        status: str,
        failures: int,
        next_attempt_at: datetime,
    ) -> None:
        """Log the attempt and move the callback on, releasing this worker's lease."""
        async with self.sessions.begin() as session:
            session.add(
                CallbackAttemptRow(
                    callback_id=callback_id,
                    attempted_at=attempt.attempted_at,
                    outcome=attempt.outcome,
                    status_code=attempt.status_code,
                    latency_ms=attempt.latency_ms,
                    error=attempt.error,
                    response=attempt.response,
                )
            )
            await session.execute(
                update(CallbackRow)
                .where(CallbackRow.id == callback_id, CallbackRow.lease_owner == owner)
                .values(
                    status=status,
                    failures=failures,
                    next_attempt_at=next_attempt_at,
                    last_error=attempt.error,
                    delivered_at=attempt.attempted_at if status == "delivered" else None,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )

    async def release_callback(self, callback_id: str, owner: str) -> None:
        """Hand a claimed callback back at once (shutting down mid-attempt)."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(CallbackRow)
                .where(CallbackRow.id == callback_id, CallbackRow.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    async def callbacks_for_run(self, run_id: str) -> list[CallbackRecord]:
        """The run's callbacks with every attempt, for the delivery log."""
        async with self.sessions() as session:
            callbacks = list(
                await session.scalars(select(CallbackRow).where(CallbackRow.run_id == run_id))
            )
            out = []
            for callback in callbacks:
                attempts = await session.scalars(
                    select(CallbackAttemptRow)
                    .where(CallbackAttemptRow.callback_id == callback.id)
                    .order_by(CallbackAttemptRow.id)
                )
                out.append(callback_record(callback, [attempt_record(a) for a in attempts]))
            return out

    async def retry_callback(self, callback_id: str) -> tuple[CallbackRecord | None, bool]:
        """Queue a dead or blocked callback for a fresh round of attempts: (it, whether queued)."""
        if absent_key(callback_id):
            return None, False
        async with self.sessions.begin() as session:
            row = await session.get(CallbackRow, callback_id, with_for_update=True)
            if row is None or row.status not in RETRYABLE:
                return (callback_record(row) if row is not None else None), False
            row.status = "pending"
            row.failures = 0
            row.next_attempt_at = utcnow()
            row.lease_owner = None
            row.lease_expires_at = None
            return callback_record(row), True
