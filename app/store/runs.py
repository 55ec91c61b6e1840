"""Runs: create, read, list, cancel, end. Each write is its own short transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.diagnosis.options import RunOptions
from app.diagnosis.usage import RunVerdict
from app.store.database import Database, absent_key
from app.store.errors import DuplicateDeliveryError
from app.store.outbox import enqueue_callback
from app.store.records import LIVE, TERMINAL, RunRecord
from app.store.tables import CallRow, InboundDeliveryRow, RunRow, RunSliceRow, utcnow


def run_record(row: RunRow) -> RunRecord:
    return RunRecord(
        id=row.id,
        suite_id=row.suite_id,
        model=row.model,
        options=RunOptions.model_validate(row.config),
        status=row.status,
        executor=row.executor,
        cancel_requested=row.cancel_requested,
        cancel_reason=row.cancel_reason,
        error=row.error,
        verdict=RunVerdict.model_validate(row.verdict) if row.verdict is not None else None,
        calls_planned=row.calls_planned,
        calls_done=row.calls_done,
        calls_cached=row.calls_cached,
        calls_failed=row.calls_failed,
        slices=row.slices,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        callback_url=row.callback_url,
        metadata=row.meta,
        model_params=row.model_params,
        baseline_run_id=row.baseline_run_id,
        comparison_margin=row.comparison_margin,
    )


@dataclass(frozen=True)
class NewRun:
    suite_id: str
    model: str
    options: RunOptions
    calls_planned: int
    slices: int
    executor: str = "service"
    callback_url: str | None = None
    metadata: dict[str, Any] | None = None
    delivery: tuple[str, str] | None = None  # (scheme, id) of the webhook delivery that asked
    model_params: dict[str, Any] | None = None
    baseline_run_id: str | None = None
    comparison_margin: float | None = None
    # A baseline to run too (a model review naming baseline_model), stored in the same
    # transaction; the new run's baseline_run_id then points at it.
    baseline: NewRun | None = None


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    suite_id: str | None = None
    model: str | None = None


def _new_row(new: NewRun, baseline_run_id: str | None) -> RunRow:
    return RunRow(
        id=uuid.uuid4().hex,
        suite_id=new.suite_id,
        model=new.model,
        config=new.options.model_dump(mode="json"),
        status="queued",
        executor=new.executor,
        calls_planned=new.calls_planned,
        slices=new.slices,
        created_at=utcnow(),
        callback_url=new.callback_url,
        meta=new.metadata,
        model_params=new.model_params,
        baseline_run_id=baseline_run_id,
        comparison_margin=new.comparison_margin,
        cancel_requested=False,
        calls_done=0,
        calls_cached=0,
        calls_failed=0,
        cost_reserved_usd=0.0,
    )


class RunQueries(Database):
    async def add_run(self, new: NewRun) -> RunRecord:
        """Store a queued run with its slices (and its baseline run, if it brings one); with
        `delivery`, in the same transaction the delivery id, so a second run for one delivery
        id raises DuplicateDeliveryError."""
        planned: list[tuple[RunRow, int]] = []
        baseline_id = new.baseline_run_id
        if new.baseline is not None:
            baseline = _new_row(new.baseline, None)
            planned.append((baseline, new.baseline.slices))
            baseline_id = baseline.id
        row = _new_row(new, baseline_id)
        planned.append((row, new.slices))
        try:
            async with self.sessions.begin() as session:
                for made, slices in planned:
                    session.add(made)
                    await session.flush()
                    session.add_all(
                        RunSliceRow(run_id=made.id, slice=i, done=False) for i in range(slices)
                    )
                if new.delivery is not None:
                    scheme, delivery_id = new.delivery
                    session.add(
                        InboundDeliveryRow(delivery_id=delivery_id, scheme=scheme, run_id=row.id)
                    )
        except IntegrityError:
            if new.delivery is None:
                raise
            raise DuplicateDeliveryError(new.delivery[1]) from None
        return run_record(row)

    async def runs_with_baseline(self, baseline_run_id: str) -> list[RunRecord]:
        """The runs to be compared with this one once both have ended."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(RunRow).where(RunRow.baseline_run_id == baseline_run_id)
            )
            return [run_record(r) for r in rows]

    async def get_run(self, run_id: str) -> RunRecord | None:
        if absent_key(run_id):
            return None
        async with self.sessions() as session:
            row = await session.get(RunRow, run_id)
            return run_record(row) if row is not None else None

    async def run_status(self, run_id: str) -> str:
        async with self.sessions() as session:
            status = await session.scalar(select(RunRow.status).where(RunRow.id == run_id))
            return status or "missing"

    async def list_runs(
        self, limit: int, before: str | None, where: RunFilter | None = None
    ) -> list[RunRecord]:
        """Newest first; `before` is the id of the last run on the previous page."""
        where = where or RunFilter()
        async with self.sessions() as session:
            query = select(RunRow).order_by(RunRow.created_at.desc(), RunRow.id.desc())
            if where.status is not None:
                query = query.where(RunRow.status == where.status)
            if where.suite_id is not None:
                query = query.where(RunRow.suite_id == where.suite_id)
            if where.model is not None:
                query = query.where(RunRow.model == where.model)
            if before:
                anchor = await session.get(RunRow, before)
                if anchor is not None:
                    query = query.where(
                        or_(
                            RunRow.created_at < anchor.created_at,
                            and_(RunRow.created_at == anchor.created_at, RunRow.id < anchor.id),
                        )
                    )
            return [run_record(r) for r in await session.scalars(query.limit(limit))]

    async def request_cancel(self, run_id: str) -> RunRecord | None:
        """Queued runs cancel at once; running ones stop at their next call."""
        if absent_key(run_id):
            return None
        async with self.sessions.begin() as session:
            run = await session.get(RunRow, run_id, with_for_update=True)
            if run is None or run.status in TERMINAL:
                return run_record(run) if run is not None else None
            run.cancel_requested = True
            run.cancel_reason = "request"
            if run.status == "queued":
                run.status = "cancelled"
                run.error = "cancelled before it started"
                run.finished_at = utcnow()
                await session.flush()
                await enqueue_callback(session, run_id)  # the outbox, in this transaction
            return run_record(run)

    async def mark_running(self, run_id: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == "queued")
                .values(status="running", started_at=utcnow())
            )

    async def finish_run(
        self,
        run_id: str,
        status: str,
        verdict: RunVerdict | None,
        error: str | None,
        cancel_reason: str | None = None,
    ) -> bool:
        """End a run once: only a live run changes, so racing workers cannot both end it."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status.in_(LIVE))
                .values(
                    status=status,
                    verdict=verdict.model_dump(mode="json") if verdict is not None else None,
                    error=error,
                    cancel_reason=cancel_reason,
                    finished_at=utcnow(),
                )
            )
            ended = bool(result.rowcount)  # type: ignore[attr-defined]
            if ended:
                await enqueue_callback(session, run_id)  # the outbox, in this transaction
            return ended

    async def should_stop(self, run_id: str) -> tuple[bool, bool]:
        """(cancel requested, run already ended elsewhere): what a working slice polls for."""
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(RunRow.cancel_requested, RunRow.status).where(RunRow.id == run_id)
                )
            ).first()
            if row is None:
                return True, True
            return bool(row[0]), row[1] in TERMINAL

    async def reserve_budget(self, run_id: str, amount: float, budget: float) -> bool:
        """Reserve the estimated cost of a call, unless that would pass the budget."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.cost_reserved_usd + amount <= budget)
                .values(cost_reserved_usd=RunRow.cost_reserved_usd + amount)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def settle_budget(self, run_id: str, correction: float) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(RunRow)
                .where(RunRow.id == run_id)
                .values(cost_reserved_usd=RunRow.cost_reserved_usd + correction)
            )

    async def spent_usd(self, run_id: str) -> float:
        async with self.sessions() as session:
            total = await session.scalar(
                select(func.sum(CallRow.cost_usd)).where(CallRow.run_id == run_id)
            )
            return float(total or 0.0)

    async def run_for_delivery(self, delivery_id: str) -> str | None:
        """The run a signed webhook delivery started, if any."""
        async with self.sessions() as session:
            return await session.scalar(
                select(InboundDeliveryRow.run_id).where(
                    InboundDeliveryRow.delivery_id == delivery_id
                )
            )
