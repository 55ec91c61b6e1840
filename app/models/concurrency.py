"""How many requests an endpoint takes at once, learned from how it answers.

A local server (llama.cpp, Ollama, a single-GPU vLLM) serves fewer requests at once than a
client sends; the rest wait in the server's queue, and their time there counts against the
client's timeout. Sending eight requests to a one-at-a-time server with a 60 s timeout makes the
eighth wait for seven answers first, and time out, and be retried in vain.

The rule here keeps every request's latency well inside its timeout:
- a latency above half the timeout means requests are queueing: halve what is sent at once;
- a timeout while others were in flight is that queue overflowing: halve, and the attempt is
  retried without counting against the retries (the endpoint is alive, it was just busy);
- while latencies stay under a quarter of the timeout with every slot in use, add one slot.
It never looks at latency against a baseline: a busy client (its own CPU) would read as a slow
server, and cutting concurrency would then cost throughput for nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

QUEUEING = 0.5  # of the timeout: a latency above this is requests waiting in the server
COMFORT = 0.25  # of the timeout: below this, there is room for one more at once
FREE_RETRIES = 3  # queue timeouts retried beyond the retry policy, per call
DEAD_AFTER = 5  # attempts in a row that got no answer at all, and never one answer before


@dataclass
class Attempt:
    """One request as the gate saw it: how many others were out when it started."""

    crowd: int
    timed_out: bool = False
    unreachable: bool = False  # no connection, or a timeout
    latency: float | None = None


class AdaptiveConcurrency:
    """A gate in front of one endpoint (per model, per process)."""

    def __init__(self, ceiling: int, start: int | None = None) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = max(1, min(self.ceiling, start or self.ceiling))
        self.in_flight = 0
        self.answered = 0  # successful answers: proof the endpoint is alive
        self.unanswered = 0  # attempts in a row that reached no one
        self._saturated_ok = 0
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def attempt(self, call_timeout: float) -> AsyncIterator[Attempt]:
        """Hold a slot for one request; waiting here is rung's queue, outside the timeout."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            probe = Attempt(crowd=self.in_flight)
        try:
            yield probe
        finally:
            async with self._changed:
                self.in_flight -= 1
                self._learn(probe, call_timeout)
                self._changed.notify_all()

    def queue_timeout(self, probe: Attempt) -> bool:
        """A timeout that says "busy", not "dead": others were in flight and answers came."""
        return probe.timed_out and probe.crowd > 1 and self.answered > 0

    @property
    def dead(self) -> bool:
        """Nothing ever answered and the last attempts reached no one: retrying each call for
        minutes would only delay the run's failure (its fuse stops it once calls fail)."""
        return self.answered == 0 and self.unanswered >= DEAD_AFTER

    def _learn(self, probe: Attempt, timeout: float) -> None:
        self.unanswered = self.unanswered + 1 if probe.unreachable or probe.timed_out else 0
        if probe.timed_out:
            if probe.crowd > 1:
                self.limit = max(1, probe.crowd // 2)
                self._saturated_ok = 0
            return
        if probe.latency is None:
            return  # an error answer says nothing about the queue
        self.answered += 1
        if probe.latency > QUEUEING * timeout and probe.crowd > 1:
            self.limit = max(1, min(self.limit, probe.crowd) // 2)
            self._saturated_ok = 0
        elif probe.latency < COMFORT * timeout and probe.crowd >= self.limit:
            self._saturated_ok += 1
            if self._saturated_ok >= self.limit and self.limit < self.ceiling:
                self.limit += 1
                self._saturated_ok = 0
