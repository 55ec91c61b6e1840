"""The run engine: advance a slice of a run by making its remaining calls, idempotently.

`Runner.advance(run_id, part, parts)` is independent of how runs are dispatched: workers claim
slices from the database and call it; the CLI drives every slice in-process. Every call result
is stored the moment it completes, keyed by its slot (case, arm, sample), so a restarted run
skips stored calls, and by its cache key, so an identical call in any later run is served from
the database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from app import llm
from app.conclusion import conclude, status_of, verdict_for
from app.diagnosis.grading import Grade, facts_cover_answer, grade, judge_messages, judge_nodes
from app.diagnosis.labels import ArmTally, arm_needs_sample, decide_arm, decide_case
from app.diagnosis.suite import Arm, Case, build_messages
from app.pricing import token_prices
from app.ratelimit import LimiterRegistry, Stopped
from app.runconfig import (
    DEFAULT_COMPLETION_TOKENS,
    RunConfig,
    cache_key,
    estimate_tokens,
)
from app.store.batch import RunWriter
from app.store.slices import finish_slice
from app.store.store import Store, StoredCall, passed_from_grade
from app.store.tables import CallRow, CaseResultRow, utcnow

JUDGE_SEED = 1234  # judges run at temperature 0 with a pinned seed, so grades repeat
FAILURE_FUSE = 5  # this many failed calls and not one success: the endpoint is dead, stop


@dataclass
class _Context:
    run_id: str
    part: int
    suite_system_prompt: str
    config: RunConfig
    entry: llm.ModelEntry
    judge: llm.ModelEntry | None
    existing: dict[tuple[str, str, int], StoredCall]
    writer: RunWriter
    limiter: asyncio.Semaphore
    timeout: float
    fresh_ok: int = 0  # calls made by this process that succeeded
    reused_ok: int = 0  # successes already stored or served from the cache
    endpoint_failures: int = 0
    failed_calls: int = 0
    last_error: str = ""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False
    ended_elsewhere: bool = False
    fatal: str | None = None
    budget_hit: bool = False


# Errors that belong to one request, not to the endpoint: they never trip the failure fuse.
CASE_SPECIFIC_ERRORS = frozenset(
    {"BadRequestError", "ContextWindowExceededError", "ContentPolicyViolationError"}
)


class Runner:
    def __init__(
        self,
        store: Store,
        catalog: llm.ModelCatalog,
        default_concurrency: int = 8,
        timeout: float = 60.0,
        limiters: LimiterRegistry | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.limiters = limiters or LimiterRegistry()
        self.default_concurrency = default_concurrency
        self.timeout = timeout

    async def advance(self, run_id: str, part: int = 0, parts: int = 1) -> str:
        """Do the remaining calls of one slice of a run (cases whose position % parts == part).

        Idempotent: stored calls are never repeated. The slice that finishes last (or the one
        that hits a stop: cancel, budget, a dead endpoint) concludes the run. Returns the run's
        status as this slice leaves it.
        """
        run = await self.store.get_run(run_id)
        if run is None or run.status in ("succeeded", "failed", "cancelled"):
            return run.status if run else "missing"
        suite = await self.store.get_suite(run.suite_id)
        config = RunConfig.model_validate(run.config)
        try:
            entry = self.catalog.resolve(run.model)
            judge = self.catalog.resolve(config.judge_model) if config.judge_model else None
        except llm.UnknownModelError as exc:
            await self.store.finish_run(run_id, "failed", None, str(exc))
            return "failed"
        if suite is None:
            await self.store.finish_run(run_id, "failed", None, "the run's suite is gone")
            return "failed"
        await self.store.mark_running(run_id)
        concurrency = config.max_concurrency or entry.limit("max_parallel_requests")
        concurrency = min(concurrency or self.default_concurrency, 256)
        concurrency = max(1, -(-concurrency // parts))  # the slices share the run's concurrency
        existing = await self.store.stored_calls(run_id)
        ctx = _Context(
            run_id=run_id,
            part=part,
            suite_system_prompt=suite.system_prompt,
            config=config,
            entry=entry,
            judge=judge,
            existing=existing,
            writer=RunWriter(self.store, run_id),
            limiter=asyncio.Semaphore(concurrency),
            timeout=self.timeout,
            reused_ok=sum(1 for call in existing.values() if call.ok),
        )
        finished = await self.store.finished_positions(run_id)
        queue: asyncio.Queue[tuple[int, Case] | None] = asyncio.Queue(maxsize=concurrency * 2)
        watcher = asyncio.create_task(self._watch(ctx))
        workers = [asyncio.create_task(self._work(ctx, queue)) for _ in range(concurrency)]
        try:
            async for position, case in self.store.iter_cases(suite.id, part=part, parts=parts):
                if ctx.stop.is_set():
                    break
                if position not in finished:
                    await queue.put((position, case))
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            watcher.cancel()
            for worker in workers:
                worker.cancel()
            await ctx.writer.close()
        return await self._conclude(ctx)

    async def _watch(self, ctx: _Context) -> None:
        """Poll for what other processes decide: a cancel, or the run's end."""
        while not ctx.stop.is_set():
            await asyncio.sleep(0.5)
            cancel, ended = await self.store.should_stop(ctx.run_id)
            if ended:
                ctx.ended_elsewhere = True
                ctx.stop.set()
            elif cancel:
                ctx.cancelled = True
                ctx.stop.set()

    async def _work(self, ctx: _Context, queue: asyncio.Queue[tuple[int, Case] | None]) -> None:
        while (item := await queue.get()) is not None:
            if not ctx.stop.is_set():
                await self._run_case(ctx, *item)

    async def _run_case(self, ctx: _Context, position: int, case: Case) -> None:
        k_max = ctx.config.samples
        tallies: dict[str, ArmTally] = {"closed_book": ArmTally(), "open_book": ArmTally()}
        while True:
            decision = decide_case(
                tallies["closed_book"], tallies["open_book"], k_max, ctx.config.deterministic
            )
            if decision.label is not None or decision.next_arm is None:
                break
            arm = decision.next_arm
            passed = await self._sample(ctx, case, arm, tallies[arm].attempts)
            if ctx.stop.is_set():
                return  # unfinished cases are redone on resume, from their stored calls
            tallies[arm] = tallies[arm].add(passed)
        label = decision.label or "inconclusive"
        used = tallies["closed_book"].attempts + tallies["open_book"].attempts
        unused = 2 * k_max - used
        fix: dict[str, bool | None] = {"prompt_fix": None, "open_book_control": None}
        if ctx.config.candidate_prompt and label in ("behavior", "distraction"):
            fix_arms: tuple[Arm, Arm] = ("prompt_fix", "open_book_control")
            for fix_arm in fix_arms:
                tally = ArmTally()
                while arm_needs_sample(tally, k_max):
                    passed = await self._sample(ctx, case, fix_arm, tally.attempts)
                    if ctx.stop.is_set():
                        return
                    tally = tally.add(passed)
                unused -= tally.attempts
                fix[fix_arm] = decide_arm(tally, k_max)
        await ctx.writer.add_case_result(
            CaseResultRow(
                run_id=ctx.run_id,
                position=position,
                case_id=case.id,
                label=label,
                confidence=round(decision.confidence, 4),
                facts_cover_answer=facts_cover_answer(case.expected, case.facts),
                prompt_fix_passed=fix["prompt_fix"],
                control_passed=fix["open_book_control"],
            ),
            planned_delta=-unused,
        )

    async def _sample(self, ctx: _Context, case: Case, arm: Arm, index: int) -> bool | None:
        """One sample of one arm: stored, cached or called. True/False, or None if unscored."""
        stored = ctx.existing.get((case.id, arm, index))
        if stored is not None:
            return stored.passed
        if ctx.stop.is_set():
            return None
        messages = build_messages(
            ctx.suite_system_prompt, case, arm, ctx.config.injection, ctx.config.candidate_prompt
        )
        seed = None if ctx.config.seed is None else ctx.config.seed + index
        row = await self._call(
            ctx,
            ctx.entry,
            messages,
            ctx.config.temperature,
            seed,
            ctx.config.max_tokens,
            arm,
            index,
        )
        if row is None:
            return None  # the run stopped before this call started
        row.case_id, row.sample_index = case.id, index
        judge_rows: list[CallRow] = []
        if row.error_class is None:
            replies = []
            graded = True
            for j, node in enumerate(judge_nodes(case.expected)):
                if ctx.judge is None:
                    break
                # The judge's own length limit: the run's max_tokens could cut its JSON short.
                judge_row = await self._call(
                    ctx,
                    ctx.judge,
                    judge_messages(node, case.input, row.answer or ""),
                    0.0,
                    JUDGE_SEED,
                    None,
                    f"judge:{arm}:{j}",
                    index,
                )
                if judge_row is None:  # stopped mid-grading: keep the paid answer, ungraded
                    graded = False
                    break
                judge_row.case_id, judge_row.sample_index = case.id, index
                judge_rows.append(judge_row)
                if judge_row.answer is not None:
                    replies.append(judge_row.answer)
            if graded:
                result: Grade = grade(case.expected, row.answer or "", replies)
                row.grade = result.model_dump()
        # The answer and the judge verdicts on it are stored together or not at all.
        await ctx.writer.add_calls([row, *judge_rows])
        return passed_from_grade(row.grade)

    async def _call(
        self,
        ctx: _Context,
        entry: llm.ModelEntry,
        messages: list[dict[str, str]],
        temperature: float,
        seed: int | None,
        max_tokens: int | None,
        arm: str,
        index: int,
    ) -> CallRow | None:
        """Serve a call from the cache or make it. None when the run stopped first."""
        # The sample index is in the key: repeated samples never share each other's answers.
        key = cache_key(
            entry,
            {
                "messages": messages,
                "temperature": temperature,
                "seed": seed,
                "max_tokens": max_tokens,
                "arm": arm,
                "sample": index,
            },
        )
        row = CallRow(run_id=ctx.run_id, arm=arm, cache_key=key, created_at=utcnow())
        hit = await ctx.writer.cached_answer(key) if ctx.config.cache else None
        if hit is not None:
            ctx.reused_ok += 1
            row.cached, row.answer = True, hit
            row.prompt_tokens = row.completion_tokens = 0
            row.cost_usd, row.latency_ms = 0.0, 0.0
            return row
        model_limits = self.limiters.get(
            entry.model_name,
            entry.limit("max_parallel_requests"),
            entry.limit("rpm"),
            entry.limit("tpm"),
        )
        estimate = estimate_tokens(messages, max_tokens)
        reserved = await self._reserve(ctx, entry, messages, max_tokens)
        if reserved is None:
            return None
        try:
            async with ctx.limiter, model_limits.slot(estimate, ctx.stop):
                result = await llm.complete(
                    entry,
                    messages,
                    temperature=temperature,
                    seed=seed,
                    max_tokens=max_tokens,
                    call_timeout=ctx.timeout,
                )
        except Stopped:
            if reserved:
                await self.store.settle_budget(ctx.run_id, -reserved)
            return None
        if ctx.config.max_cost_usd is not None:
            await self.store.settle_budget(ctx.run_id, (result.cost_usd or 0.0) - reserved)
        model_limits.record_tokens(estimate, result.prompt_tokens + result.completion_tokens)
        row.cached = False
        row.answer = result.text
        row.error_class, row.error_message = result.error_class, result.error_message
        row.prompt_tokens, row.completion_tokens = result.prompt_tokens, result.completion_tokens
        row.cost_usd, row.latency_ms = result.cost_usd, result.latency_ms
        self._count(ctx, result)
        return row

    async def _reserve(
        self,
        ctx: _Context,
        entry: llm.ModelEntry,
        messages: list[dict[str, str]],
        max_tokens: int | None,
    ) -> float | None:
        """Reserve a call's estimated cost against the run's budget (shared by all slices).

        Returns the amount reserved (0.0 without a budget), or None when the call would pass
        the budget: the run then stops cleanly, and calls already in flight are kept.
        """
        budget = ctx.config.max_cost_usd
        prices = token_prices(entry.provider_model)
        if budget is None or prices is None:
            return 0.0
        reply = max_tokens or DEFAULT_COMPLETION_TOKENS
        prompt = estimate_tokens(messages, max_tokens) - reply
        cost = prompt * prices[0] + reply * prices[1]
        if await self.store.reserve_budget(ctx.run_id, cost, budget):
            return cost
        ctx.budget_hit = True
        ctx.stop.set()
        return None

    def _count(self, ctx: _Context, result: llm.CallResult) -> None:
        if result.ok:
            ctx.fresh_ok += 1
            return
        ctx.failed_calls += 1
        ctx.last_error = f"{result.error_class}: {result.error_message}"
        if result.error_class not in CASE_SPECIFIC_ERRORS:
            ctx.endpoint_failures += 1
        if ctx.fresh_ok == 0 and ctx.endpoint_failures >= FAILURE_FUSE:
            # Not one success and the endpoint itself keeps failing (bad key, dead server):
            # stop now rather than retrying every case for hours.
            ctx.fatal = f"every call failed; last error: {ctx.last_error}"
            ctx.stop.set()

    async def _conclude(self, ctx: _Context) -> str:
        if ctx.ended_elsewhere:
            return await status_of(self.store, ctx.run_id)
        if ctx.fatal:
            await self.store.finish_run(ctx.run_id, "failed", None, ctx.fatal)
            return await status_of(self.store, ctx.run_id)
        if not ctx.budget_hit and not ctx.cancelled:
            if not await finish_slice(self.store, ctx.run_id, ctx.part):
                return "running"  # other slices are still at work; the last one concludes
            return await conclude(self.store, ctx.run_id, ctx.last_error)
        if ctx.budget_hit:
            verdict = await verdict_for(self.store, ctx.run_id, ctx.config, partial=True)
            spent = await self.store.spent_usd(ctx.run_id)
            error = (
                f"budget: spent ${spent:.4f} of max_cost_usd ${ctx.config.max_cost_usd}; "
                "the verdict covers the cases finished before the stop"
            )
            await self.store.finish_run(ctx.run_id, "cancelled", verdict, error, "budget")
            return await status_of(self.store, ctx.run_id)
        verdict = await verdict_for(self.store, ctx.run_id, ctx.config, partial=True)
        await self.store.finish_run(
            ctx.run_id, "cancelled", verdict, "cancelled by request", "request"
        )
        return await status_of(self.store, ctx.run_id)
