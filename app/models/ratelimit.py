"""Per-model concurrency and rate limits, shared by every run in a worker process.

Why not a token bucket (aiolimiter and friends): a bucket of capacity `rpm` lets a full burst
through and then refills, so a sliding 60-second window can see close to 2 x rpm. Providers count
in windows, and the model list's `rpm`/`tpm` promise "never more than this in any minute", so
this keeps a log of what was sent in the last window and waits until a request fits.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from app.models.base import ModelLimits


class Stopped(Exception):
    """The run stopped (cancel, budget, shutdown) while a call waited for a slot."""


async def sleep_unless_stopped(seconds: float, stop: asyncio.Event) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return
    raise Stopped


async def acquire_unless_stopped(semaphore: asyncio.Semaphore, stop: asyncio.Event) -> None:
    if stop.is_set():
        raise Stopped
    acquire = asyncio.ensure_future(semaphore.acquire())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({acquire, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if acquire.done() and not acquire.cancelled():
        if not stop.is_set():
            return
        semaphore.release()  # got it just as the run stopped: give it back
    else:
        acquire.cancel()
    raise Stopped


@dataclass
class SlidingWindow:
    """At most `limit` units in any `period` seconds."""

    limit: int
    period: float = 60.0
    _log: deque[tuple[float, int]] = field(default_factory=deque)
    _used: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _expire(self, now: float) -> None:
        while self._log and self._log[0][0] <= now - self.period:
            self._used -= self._log.popleft()[1]

    async def acquire(self, units: int, stop: asyncio.Event) -> None:
        units = min(units, self.limit)  # a single oversized request waits for an empty window
        async with self._lock:  # first come, first served
            while True:
                now = time.monotonic()
                self._expire(now)
                if self._used + units <= self.limit:
                    self._log.append((now, units))
                    self._used += units
                    return
                oldest = self._log[0][0]
                await sleep_unless_stopped(max(0.001, oldest + self.period - now), stop)

    def add(self, units: int) -> None:
        """Record units beyond an estimate (tokens the reply really used); never waits.

        Over-estimates are not given back: the window stays conservative.
        """
        if units > 0:
            self._log.append((time.monotonic(), units))
            self._used += units


class ModelLimiter:
    """max_parallel_requests, rpm and tpm for one model."""

    def __init__(self, parallel: int | None, rpm: int | None, tpm: int | None) -> None:
        self.parallel = asyncio.Semaphore(parallel) if parallel else None
        self.rpm = SlidingWindow(rpm) if rpm else None
        self.tpm = SlidingWindow(tpm) if tpm else None

    def record_tokens(self, estimated: int, actual: int) -> None:
        if self.tpm is not None:
            self.tpm.add(actual - estimated)

    @asynccontextmanager
    async def slot(self, estimated_tokens: int, stop: asyncio.Event) -> AsyncIterator[None]:
        """Wait for room under every limit; raise `Stopped` as soon as `stop` is set."""
        if self.parallel is not None:
            await acquire_unless_stopped(self.parallel, stop)
        try:
            if self.rpm is not None:
                await self.rpm.acquire(1, stop)
            if self.tpm is not None:
                await self.tpm.acquire(max(1, estimated_tokens), stop)
            yield
        finally:
            if self.parallel is not None:
                self.parallel.release()


class LimiterRegistry:
    """One limiter per model name, per process: every run on the model shares it."""

    def __init__(self, share: int = 1) -> None:
        # With N worker processes each takes 1/N of the limits, so the sum never exceeds them.
        self.share = max(1, share)
        self._limiters: dict[str, ModelLimiter] = {}

    def _part(self, value: int | None) -> int | None:
        return max(1, value // self.share) if value else None

    def get(self, name: str, limits: ModelLimits) -> ModelLimiter:
        if name not in self._limiters:
            self._limiters[name] = ModelLimiter(
                self._part(limits.parallel), self._part(limits.rpm), self._part(limits.tpm)
            )
        return self._limiters[name]
