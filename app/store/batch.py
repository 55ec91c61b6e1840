"""Group commit for a run's writes and cache look-ups.

At 64 concurrent calls a transaction per call costs more CPU than the calls themselves, and a
sample that waited for its own commit would spend as long waiting as its model call took
(40-90 ms measured under load: the commit needs several turns of a busy event loop). So writes
are queued in order and committed together a few milliseconds later, while the case moves on.
Order is what keeps the store consistent: a case's result is committed with or after its calls,
and the progress counters in the same transaction. A run concludes only after `close()` has
committed everything queued, so its verdict reads every call; a process killed outright repeats
at most the calls answered since the last commit (they were never stored), never a stored one.
Cache look-ups are grouped into one `IN (...)` query, and those do wait for their answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import insert, select, update

from app.store.database import Database
from app.store.records import NewCall, NewCaseResult
from app.store.tables import CallRow, CaseResultRow, RunRow, utcnow

T = TypeVar("T")
R = TypeVar("R")


class _Batcher(Generic[T, R]):
    """Collect items for up to `delay` seconds (or `max_items`), then handle them together,
    in the order they arrived."""

    def __init__(
        self,
        handle: Callable[[list[T]], Awaitable[list[R]]],
        delay: float,
        max_items: int,
    ) -> None:
        self._handle = handle
        self._delay = delay
        self._max = max_items
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last: asyncio.Future[R] | None = None
        self.failure: BaseException | None = None  # the first batch that could not be handled

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def enqueue(self, item: T) -> asyncio.Future[R]:
        """Queue `item`; the future resolves once its batch has been handled."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._last = future
        self._wake.set()
        return future

    async def submit(self, item: T) -> R:
        return await self.enqueue(item)

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if len(self._pending) < self._max:
                await asyncio.sleep(self._delay)
            batch, self._pending = self._pending[: self._max], self._pending[self._max :]
            if self._pending:
                self._wake.set()
            if not batch:
                continue
            try:
                results = await self._handle([item for item, _ in batch])
            except Exception as exc:  # every waiter learns its write failed
                self.failure = self.failure or exc
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # retrieved: nobody need await a queued write
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def drain(self) -> None:
        """Wait until everything queued so far has been handled (or has failed)."""
        if self._last is not None and self._task is not None and not self._task.done():
            await asyncio.wait([self._last])

    async def close(self) -> None:
        """Handle what is queued, then stop. A shutdown that cancels the caller meanwhile
        does not cut the queued writes short."""
        try:
            await asyncio.shield(self.drain())
        finally:
            if self._task is not None:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)


def _clean(text: str | None) -> str | None:
    """PostgreSQL text holds no NUL character; a model may still answer with one."""
    return text.replace("\x00", "\ufffd") if text is not None and "\x00" in text else text


def _call_values(run_id: str, call: NewCall, now: datetime) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "case_id": call.case_id,
        "arm": call.arm,
        "sample_index": call.sample_index,
        "cache_key": call.cache_key,
        "cached": call.cached,
        "answer": _clean(call.answer),
        "error_class": call.error_class,
        "error_message": _clean(call.error_message),
        "grade": call.grade,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "cost_usd": call.cost_usd,
        "latency_ms": call.latency_ms,
        "created_at": now,
    }


def _case_values(run_id: str, result: NewCaseResult) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "position": result.position,
        "case_id": result.case_id,
        "label": result.label,
        "confidence": result.confidence,
        "facts_cover_answer": result.facts_cover_answer,
        "prompt_fix_passed": result.prompt_fix_passed,
        "control_passed": result.control_passed,
        "closed_passes": result.tallies.closed_passes,
        "closed_scored": result.tallies.closed_scored,
        "open_passes": result.tallies.open_passes,
        "open_scored": result.tallies.open_scored,
        "retrieved_passed": result.retrieved.passed if result.retrieved else None,
        "retrieval_recall": result.retrieved.recall if result.retrieved else None,
        "retrieved": result.retrieved.passages if result.retrieved else None,
        "facts_sufficient": result.facts_sufficient,
        "facts_reason": result.facts_reason,
    }


class WriteFailed(RuntimeError):
    """A queued write of this run could not be committed."""


class RunWriter:
    """One run's call rows, case results and progress, committed in groups, in order."""

    def __init__(self, store: Database, run_id: str, delay: float = 0.01, max_items: int = 256):
        self.store = store
        self.run_id = run_id
        self._max_backlog = 2 * max_items
        self._writes: _Batcher[tuple[str, Any, int], None] = _Batcher(self._flush, delay, max_items)
        self._lookups: _Batcher[str, str | None] = _Batcher(self._find, delay, max_items)

    async def add_calls(self, rows: list[NewCall]) -> None:
        """Queue calls for the next commit (a main call with its judge calls goes in one row
        group, atomically)."""
        await self._queue(("calls", rows, 0))

    async def add_case_result(self, row: NewCaseResult, planned_delta: int = 0) -> None:
        await self._queue(("case", row, planned_delta))

    async def _queue(self, item: tuple[str, Any, int]) -> None:
        self.raise_failure()
        written = self._writes.enqueue(item)
        if self._writes.backlog > self._max_backlog:
            # The database is slower than the calls: wait rather than pile rows up in memory.
            await asyncio.wait([written])
            self.raise_failure()

    def raise_failure(self) -> None:
        """A write that failed fails the run: its rows are not in the store."""
        if self._writes.failure is not None:
            failure = self._writes.failure
            raise WriteFailed(f"a write of run {self.run_id} failed: {failure!r}") from failure

    async def cached_answer(self, cache_key: str) -> str | None:
        return await self._lookups.submit(cache_key)

    async def _flush(self, items: list[tuple[str, Any, int]]) -> list[None]:
        calls = [r for kind, rows, _ in items if kind == "calls" for r in rows]
        cases = [row for kind, row, _ in items if kind == "case"]
        planned = sum(delta for _, _, delta in items)
        now = utcnow()
        async with self.store.sessions.begin() as session:
            if calls:
                values = [_call_values(self.run_id, r, now) for r in calls]
                await session.execute(insert(CallRow), values)
            if cases:
                values = [_case_values(self.run_id, r) for r in cases]
                await session.execute(insert(CaseResultRow), values)
            await session.execute(
                update(RunRow)
                .where(RunRow.id == self.run_id)
                .values(
                    calls_done=RunRow.calls_done + len(calls),
                    calls_cached=RunRow.calls_cached + sum(r.cached for r in calls),
                    calls_failed=RunRow.calls_failed
                    + sum(r.error_class is not None for r in calls),
                    # judge calls are not in the plan until the answers they grade exist
                    calls_planned=RunRow.calls_planned
                    + planned
                    + sum(r.arm.startswith("judge:") for r in calls),
                )
            )
        return [None] * len(items)

    async def _find(self, keys: list[str]) -> list[str | None]:
        async with self.store.sessions() as session:
            rows = await session.execute(
                select(CallRow.cache_key, CallRow.answer).where(
                    CallRow.cache_key.in_(set(keys)),
                    CallRow.error_class.is_(None),
                    CallRow.answer.is_not(None),
                )
            )
            found = {key: answer for key, answer in rows}
        return [found.get(key) for key in keys]

    async def close(self) -> None:
        """Commit everything queued; `raise_failure()` then tells whether it all went in."""
        await self._writes.close()
        await self._lookups.close()
