"""One model call of a run: from the cache, or made under the model's limits and the budget."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.diagnosis.options import RunOptions
from app.diagnosis.plan import (
    DEFAULT_COMPLETION_TOKENS,
    cache_key,
    estimate_tokens,
    estimated_cost,
)
from app.models.base import CallResult, Completion, Model
from app.models.pricing import token_prices
from app.models.ratelimit import LimiterRegistry, Stopped
from app.store import Store
from app.store.batch import RunWriter
from app.store.records import NewCall, StoredCall

if TYPE_CHECKING:
    from app.engine.retrievers import Retriever

FAILURE_FUSE = 5  # this many failed calls and not one success: the endpoint is dead, stop

# Errors that belong to one request, not to the endpoint: they never trip the failure fuse.
CASE_SPECIFIC_ERRORS = frozenset(
    {"BadRequestError", "ContextWindowExceededError", "ContentPolicyViolationError"}
)


@dataclass
class RunContext:
    """One slice of one run, as this process works on it."""

    run_id: str
    part: int
    system_prompt: str
    options: RunOptions
    model: Model
    judge: Model | None
    existing: dict[tuple[str, str, int], StoredCall]
    writer: RunWriter
    limiter: asyncio.Semaphore
    timeout: float
    fresh_ok: int = 0  # calls made by this process that succeeded
    endpoint_failures: int = 0
    last_error: str = ""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False
    ended_elsewhere: bool = False
    fatal: bool = False
    budget_hit: bool = False
    retriever: Retriever | None = None


class Caller:
    """Serves a run's calls: the cache first, then the model under every limit."""

    def __init__(self, store: Store, limiters: LimiterRegistry) -> None:
        self.store = store
        self.limiters = limiters

    async def call(
        self, ctx: RunContext, model: Model, completion: Completion, arm: str, index: int
    ) -> NewCall | None:
        """The call's stored form, from the cache or the model. None when the run stopped first."""
        # The sample index is in the key: repeated samples never share each other's answers.
        key = cache_key(
            model.identity(),
            {
                "messages": list(completion.messages),
                "temperature": completion.temperature,
                "seed": completion.seed,
                "max_tokens": completion.max_tokens,
                "arm": arm,
                "sample": index,
            },
        )
        hit = await ctx.writer.cached_answer(key) if ctx.options.cache else None
        if hit is not None:
            return NewCall(arm=arm, cache_key=key, cached=True, answer=hit, cost_usd=0.0)
        limits = self.limiters.get(model.name, model.limits)
        estimate = estimate_tokens(completion.messages, completion.max_tokens)
        reserved = await self._reserve(ctx, model, estimate, completion.max_tokens)
        if reserved is None:
            return None
        try:
            async with ctx.limiter, limits.slot(estimate, ctx.stop):
                result = await model.complete(completion)
        except Stopped:
            if reserved:
                await self.store.settle_budget(ctx.run_id, -reserved)
            return None
        if ctx.options.max_cost_usd is not None:
            await self.store.settle_budget(ctx.run_id, (result.cost_usd or 0.0) - reserved)
        limits.record_tokens(estimate, result.prompt_tokens + result.completion_tokens)
        self._count(ctx, result)
        return NewCall(
            arm=arm,
            cache_key=key,
            answer=result.text,
            error_class=result.error_class,
            error_message=result.error_message,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost_usd=result.cost_usd,
            latency_ms=result.latency_ms,
        )

    async def _reserve(
        self, ctx: RunContext, model: Model, estimate: int, max_tokens: int | None
    ) -> float | None:
        """Reserve a call's estimated cost against the run's budget (shared by all slices).

        Returns the amount reserved (0.0 without a budget), or None when the call would pass
        the budget: the run then stops cleanly, and calls already in flight are kept.
        """
        budget = ctx.options.max_cost_usd
        prices = token_prices(model.provider_model)
        if budget is None or prices is None:
            return 0.0
        reply = max_tokens or DEFAULT_COMPLETION_TOKENS
        cost = estimated_cost(estimate - reply, reply, prices)
        if await self.store.reserve_budget(ctx.run_id, cost, budget):
            return cost
        ctx.budget_hit = True
        ctx.stop.set()
        return None

    @staticmethod
    def _count(ctx: RunContext, result: CallResult) -> None:
        if result.ok:
            ctx.fresh_ok += 1
            return
        ctx.last_error = f"{result.error_class}: {result.error_message}"
        if result.error_class not in CASE_SPECIFIC_ERRORS:
            ctx.endpoint_failures += 1
        if ctx.fresh_ok == 0 and ctx.endpoint_failures >= FAILURE_FUSE:
            # Not one success and the endpoint itself keeps failing (bad key, dead server):
            # stop now rather than retrying every case for hours.
            ctx.fatal = True
            ctx.stop.set()
