"""Queries. Each write is its own short transaction: a crash loses at most what was in flight."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.diagnosis.suite import Case, Suite
from app.store.db import create_schema, make_engine, make_sessions
from app.store.outbox import enqueue_callback
from app.store.tables import (
    CallRow,
    CaseResultRow,
    InboundDeliveryRow,
    RunRow,
    RunSliceRow,
    SuiteCaseRow,
    SuiteRow,
    utcnow,
)

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class StoredCall:
    passed: bool | None  # None: nothing scored (an error, or an unreadable judge reply)
    ok: bool
    cost_usd: float | None


def passed_from_grade(grade: dict[str, Any] | None) -> bool | None:
    """A stored grade as a sample result: None when nothing was scored."""
    if not grade or grade.get("kind") == "unscored":
        return None
    return bool(grade.get("passed"))


def new_id() -> str:
    return uuid.uuid4().hex


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = make_sessions(engine)

    @classmethod
    async def open(cls, url: str) -> Store:
        store = cls(make_engine(url))
        await create_schema(store.engine)
        return store

    async def close(self) -> None:
        await self.engine.dispose()

    # --- suites ---------------------------------------------------------------------------

    async def add_suite(self, suite: Suite) -> SuiteRow:
        row = SuiteRow(
            id=new_id(),
            name=suite.name,
            description=suite.description,
            system_prompt=suite.system_prompt,
            case_count=len(suite.cases),
            created_at=utcnow(),
        )
        async with self.sessions.begin() as session:
            session.add(row)
            await session.flush()
            session.add_all(
                SuiteCaseRow(
                    suite_id=row.id,
                    position=i,
                    case_id=case.id,
                    body=case.model_dump(mode="json", by_alias=True),
                )
                for i, case in enumerate(suite.cases)
            )
        return row

    async def get_suite(self, suite_id: str) -> SuiteRow | None:
        async with self.sessions() as session:
            return await session.get(SuiteRow, suite_id)

    async def find_suite_by_name(self, name: str) -> SuiteRow | None:
        async with self.sessions() as session:
            query = select(SuiteRow).where(SuiteRow.name == name)
            return (await session.scalars(query.order_by(SuiteRow.created_at.desc()))).first()

    async def list_suites(self, limit: int, before: str | None) -> list[SuiteRow]:
        """Newest first; `before` is the id of the last suite on the previous page."""
        async with self.sessions() as session:
            query = select(SuiteRow).order_by(SuiteRow.created_at.desc(), SuiteRow.id.desc())
            if before:
                anchor = await session.get(SuiteRow, before)
                if anchor is not None:
                    query = query.where(
                        or_(
                            SuiteRow.created_at < anchor.created_at,
                            and_(SuiteRow.created_at == anchor.created_at, SuiteRow.id < anchor.id),
                        )
                    )
            return list(await session.scalars(query.limit(limit)))

    async def iter_cases(
        self, suite_id: str, batch: int = 500, part: int = 0, parts: int = 1
    ) -> AsyncIterator[tuple[int, Case]]:
        """Stream a suite's cases in order, a batch at a time (one slice of them, if asked)."""
        position = -1
        while True:
            async with self.sessions() as session:
                query = select(SuiteCaseRow).where(
                    SuiteCaseRow.suite_id == suite_id, SuiteCaseRow.position > position
                )
                if parts > 1:
                    query = query.where(SuiteCaseRow.position % parts == part)
                rows = list(
                    await session.scalars(query.order_by(SuiteCaseRow.position).limit(batch))
                )
            for row in rows:
                yield row.position, Case.model_validate(row.body)
            if len(rows) < batch:
                return
            position = rows[-1].position

    # --- runs -----------------------------------------------------------------------------

    async def add_run(
        self,
        suite_id: str,
        model: str,
        config: dict[str, Any],
        calls_planned: int,
        slices: int,
        *,
        callback_url: str | None = None,
        metadata: dict[str, Any] | None = None,
        delivery: tuple[str, str] | None = None,
    ) -> RunRow:
        """`delivery` (scheme, id): the webhook delivery that asked for the run, stored in the
        same transaction; a second run for one delivery id raises IntegrityError."""
        row = RunRow(
            id=new_id(),
            suite_id=suite_id,
            model=model,
            config=config,
            status="queued",
            calls_planned=calls_planned,
            slices=slices,
            created_at=utcnow(),
            callback_url=callback_url,
            meta=metadata,
        )
        async with self.sessions.begin() as session:
            session.add(row)
            await session.flush()
            session.add_all(RunSliceRow(run_id=row.id, slice=i, done=False) for i in range(slices))
            if delivery is not None:
                scheme, delivery_id = delivery
                session.add(
                    InboundDeliveryRow(delivery_id=delivery_id, scheme=scheme, run_id=row.id)
                )
        return row

    async def get_run(self, run_id: str) -> RunRow | None:
        async with self.sessions() as session:
            return await session.get(RunRow, run_id)

    async def request_cancel(self, run_id: str) -> RunRow | None:
        """Queued runs cancel at once; running ones stop at their next call."""
        async with self.sessions.begin() as session:
            run = await session.get(RunRow, run_id, with_for_update=True)
            if run is None or run.status in TERMINAL:
                return run
            run.cancel_requested = True
            run.cancel_reason = "request"
            if run.status == "queued":
                run.status = "cancelled"
                run.error = "cancelled before it started"
                run.finished_at = utcnow()
                await session.flush()
                await enqueue_callback(session, run_id)  # the outbox, in this transaction
            return run

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
        verdict: dict[str, Any] | None,
        error: str | None,
        cancel_reason: str | None = None,
    ) -> bool:
        """End a run once: only a live run changes, so racing workers cannot both end it."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status.in_(("queued", "running")))
                .values(
                    status=status,
                    verdict=verdict,
                    error=error,
                    cancel_reason=cancel_reason,
                    finished_at=utcnow(),
                )
            )
            ended = bool(result.rowcount)  # type: ignore[attr-defined]
            if ended:
                await enqueue_callback(session, run_id)  # the outbox, in this transaction
            return ended

    # --- calls ----------------------------------------------------------------------------

    async def calls_for_run(self, run_id: str) -> dict[tuple[str, str, int], CallRow]:
        """Every stored call of a run, by slot (case, arm, sample)."""
        async with self.sessions() as session:
            rows = await session.scalars(select(CallRow).where(CallRow.run_id == run_id))
            return {(r.case_id, r.arm, r.sample_index): r for r in rows}

    async def stored_calls(self, run_id: str) -> dict[tuple[str, str, int], StoredCall]:
        """What a resumed run needs of its stored calls: the result, not the whole row."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(
                    CallRow.case_id,
                    CallRow.arm,
                    CallRow.sample_index,
                    CallRow.grade,
                    CallRow.error_class,
                    CallRow.cost_usd,
                ).where(CallRow.run_id == run_id)
            )
            return {
                (case_id, arm, index): StoredCall(
                    passed=passed_from_grade(grade), ok=error is None, cost_usd=cost
                )
                for case_id, arm, index, grade, error, cost in rows
            }

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

    async def usage(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Calls, tokens and cost per arm (cost None if any call's cost is unknown)."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(
                    CallRow.arm,
                    func.count(),
                    func.sum(CallRow.prompt_tokens),
                    func.sum(CallRow.completion_tokens),
                    func.sum(CallRow.cost_usd),
                    func.count(CallRow.cost_usd),
                    func.sum(func.cast(CallRow.cached, type_=CallRow.prompt_tokens.type)),
                )
                .where(CallRow.run_id == run_id)
                .group_by(CallRow.arm)
            )
            out: dict[str, dict[str, Any]] = {}
            for arm, calls, p_tok, c_tok, cost, costed, cached in rows:
                out[arm] = {
                    "calls": calls,
                    "cached_calls": int(cached or 0),
                    "prompt_tokens": int(p_tok or 0),
                    "completion_tokens": int(c_tok or 0),
                    "cost_usd": float(cost or 0.0) if costed == calls else None,
                }
            return out

    # --- case results ---------------------------------------------------------------------

    async def finished_positions(self, run_id: str) -> set[int]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(CaseResultRow.position).where(CaseResultRow.run_id == run_id)
            )
            return set(rows)

    async def case_results(
        self, run_id: str, after: int = -1, limit: int | None = None
    ) -> list[CaseResultRow]:
        async with self.sessions() as session:
            query = (
                select(CaseResultRow)
                .where(CaseResultRow.run_id == run_id, CaseResultRow.position > after)
                .order_by(CaseResultRow.position)
            )
            if limit is not None:
                query = query.limit(limit)
            return list(await session.scalars(query))

    async def calls_for_cases(self, run_id: str, case_ids: list[str]) -> list[CallRow]:
        async with self.sessions() as session:
            query = (
                select(CallRow)
                .where(CallRow.run_id == run_id, CallRow.case_id.in_(case_ids))
                .order_by(CallRow.arm, CallRow.sample_index)
            )
            return list(await session.scalars(query))
