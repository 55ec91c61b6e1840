"""The run engine: advance a slice of a run by making its remaining calls, idempotently.

`Runner.advance(run_id, part, parts)` is independent of how runs are dispatched: workers claim
slices from the database and call it; the CLI drives every slice in-process. Every call result
is stored as it completes, keyed by its slot (case, arm, sample), so a restarted run
skips stored calls, and by its cache key, so an identical call in any later run is served from
the database. Writes are committed in groups, in order, a few milliseconds after the call
(app/store/batch.py); the slice concludes after the last of them is committed.
"""

from __future__ import annotations

import asyncio

from app.diagnosis.grading import Grade, facts_cover_answer, grade, judge_messages, judge_nodes
from app.diagnosis.labels import ArmTally, arm_needs_sample, decide_arm, decide_case
from app.diagnosis.options import MAX_CONCURRENCY
from app.diagnosis.plan import calls_per_case
from app.diagnosis.retrieval import gold_recall
from app.diagnosis.suite import Arm, Case, build_messages
from app.engine.calls import Caller, RunContext
from app.engine.conclusion import StopReason, conclude, fail_run
from app.engine.retrievers import Retrievers
from app.engine.sufficiency import check_facts
from app.models.base import Completion
from app.models.catalog import UnknownModelError
from app.models.ratelimit import LimiterRegistry
from app.models.registry import ModelRegistry
from app.store import Store
from app.store.batch import RunWriter
from app.store.records import (
    ArmTallies,
    NewCall,
    NewCaseResult,
    RetrievedArm,
    passed_from_grade,
)

JUDGE_SEED = 1234  # judges run at temperature 0 with a pinned seed, so grades repeat


def safe_grade(case: Case, answer: str, judge_replies: list[str]) -> Grade:
    """Grade one answer; a grader that breaks leaves this sample unscored, never the run."""
    try:
        return grade(case.expected, answer, judge_replies, question=case.input, facts=case.facts)
    except Exception as exc:  # a grader bug or a pathological spec: one case's problem
        reason = f"the grader could not score this answer: {type(exc).__name__}: {exc}"
        return Grade(passed=False, score=0.0, reason=reason[:300], kind="unscored")


class Runner:
    def __init__(
        self,
        store: Store,
        models: ModelRegistry,
        default_concurrency: int = 8,
        timeout: float = 60.0,
        limiters: LimiterRegistry | None = None,
    ) -> None:
        self.store = store
        self.models = models
        self.caller = Caller(store, limiters or LimiterRegistry())
        self.retrievers = Retrievers()
        self.default_concurrency = default_concurrency
        self.timeout = timeout

    async def advance(self, run_id: str, part: int = 0, parts: int = 1) -> str:
        """Do the remaining calls of one slice of a run (cases whose position % parts == part).

        Idempotent: stored calls are never repeated. The slice that finishes last (or the one
        that hits a stop: cancel, budget, a dead endpoint) concludes the run. Returns the run's
        status as this slice leaves it.
        """
        run = await self.store.get_run(run_id)
        if run is None or run.finished:
            return run.status if run else "missing"
        suite = await self.store.get_suite(run.suite_id)
        options = run.options
        try:
            model = self.models.get(run.model)
            judge = self.models.get(options.judge_model) if options.judge_model else None
        except UnknownModelError as exc:
            await fail_run(self.store, run_id, str(exc), self.models.catalog)
            return "failed"
        if suite is None:
            await fail_run(self.store, run_id, "the run's suite is gone", self.models.catalog)
            return "failed"
        await self.store.mark_running(run_id)
        concurrency = options.max_concurrency or model.limits.parallel
        concurrency = min(concurrency or self.default_concurrency, MAX_CONCURRENCY)
        concurrency = max(1, -(-concurrency // parts))  # the slices share the run's concurrency
        retriever = await self.retrievers.get(self.store, options.retrieval)
        ctx = RunContext(
            run_id=run_id,
            part=part,
            system_prompt=suite.system_prompt,
            options=options,
            model=model,
            judge=judge,
            existing=await self.store.stored_calls(run_id),
            writer=RunWriter(self.store, run_id),
            limiter=asyncio.Semaphore(concurrency),
            timeout=self.timeout,
            retriever=retriever,
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
            await ctx.writer.close()  # commits every queued write, even when cancelled
        ctx.writer.raise_failure()  # a run concludes only on what is really stored
        return await self._conclude(ctx)

    async def _watch(self, ctx: RunContext) -> None:
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

    async def _work(self, ctx: RunContext, queue: asyncio.Queue[tuple[int, Case] | None]) -> None:
        while (item := await queue.get()) is not None:
            if not ctx.stop.is_set():
                await self._run_case(ctx, *item)

    async def _run_case(self, ctx: RunContext, position: int, case: Case) -> None:
        k_max = ctx.options.samples
        tallies: dict[str, ArmTally] = {"closed_book": ArmTally(), "open_book": ArmTally()}
        while True:
            decision = decide_case(
                tallies["closed_book"], tallies["open_book"], k_max, ctx.options.deterministic
            )
            if decision.label is not None or decision.next_arm is None:
                break
            arm = decision.next_arm
            passed = await self._sample(ctx, case, arm, tallies[arm].attempts)
            if ctx.stop.is_set():
                return  # unfinished cases are redone on resume, from their stored calls
            tallies[arm] = tallies[arm].add(passed)
        facts = await check_facts(self.caller, ctx, case, decision.label or "inconclusive", tallies)
        if facts is None:
            return  # stopped while the judge was asked; redone on resume
        label = facts.label
        used = tallies["closed_book"].attempts + tallies["open_book"].attempts
        fix: dict[str, bool | None] = {"prompt_fix": None, "open_book_control": None}
        if ctx.options.candidate_prompt and label in ("behavior", "distraction"):
            fix_arms: tuple[Arm, Arm] = ("prompt_fix", "open_book_control")
            for fix_arm in fix_arms:
                fix[fix_arm], attempts = await self._single_arm(ctx, case, fix_arm)
                used += attempts
        retrieved = None
        if ctx.retriever is not None:
            hits = ctx.retriever.search(case.input)
            passed, attempts = await self._single_arm(
                ctx, case, "retrieved", [p.text for p in hits]
            )
            used += attempts
            recall = gold_recall(case.facts, [p.text for p in hits])
            retrieved = RetrievedArm(passed, round(recall, 4), [p.id for p in hits])
        if ctx.stop.is_set():
            return  # unfinished cases are redone on resume, from their stored calls
        await ctx.writer.add_case_result(
            NewCaseResult(
                position=position,
                case_id=case.id,
                label=label,
                confidence=round(decision.confidence, 4),
                facts_cover_answer=facts_cover_answer(case.expected, case.facts, case.input),
                prompt_fix_passed=fix["prompt_fix"],
                control_passed=fix["open_book_control"],
                tallies=ArmTallies(
                    closed_passes=tallies["closed_book"].passes,
                    closed_scored=tallies["closed_book"].scored,
                    open_passes=tallies["open_book"].passes,
                    open_scored=tallies["open_book"].scored,
                ),
                retrieved=retrieved,
                facts_sufficient=facts.sufficient,
                facts_reason=facts.reason,
            ),
            planned_delta=used - calls_per_case(ctx.options),
        )

    async def _single_arm(
        self, ctx: RunContext, case: Case, arm: Arm, passages: list[str] | None = None
    ) -> tuple[bool | None, int]:
        """Sample one arm until it is decided (or out of samples): (passed, attempts)."""
        tally = ArmTally()
        while arm_needs_sample(tally, ctx.options.samples):
            passed = await self._sample(ctx, case, arm, tally.attempts, passages)
            if ctx.stop.is_set():
                break
            tally = tally.add(passed)
        return decide_arm(tally, ctx.options.samples), tally.attempts

    async def _sample(
        self,
        ctx: RunContext,
        case: Case,
        arm: Arm,
        index: int,
        passages: list[str] | None = None,
    ) -> bool | None:
        """One sample of one arm: stored, cached or called. True/False, or None if unscored."""
        stored = ctx.existing.get((case.id, arm, index))
        if stored is not None:
            return stored.passed
        if ctx.stop.is_set():
            return None
        options = ctx.options
        messages = build_messages(
            ctx.system_prompt, case, arm, options.injection, options.candidate_prompt, passages
        )
        seed = None if options.seed is None else options.seed + index
        completion = Completion(
            messages, options.temperature, seed, options.max_tokens, ctx.timeout
        )
        call = await self.caller.call(ctx, ctx.model, completion, arm, index)
        if call is None:
            return None  # the run stopped before this call started
        call.case_id, call.sample_index = case.id, index
        judge_calls: list[NewCall] = []
        if call.error_class is None:
            replies = []
            graded = True
            for j, node in enumerate(judge_nodes(case.expected)):
                if ctx.judge is None:
                    break
                # The judge's own length limit: the run's max_tokens could cut its JSON short.
                judging = Completion(
                    judge_messages(node, case.input, call.answer or ""),
                    0.0,
                    JUDGE_SEED,
                    None,
                    ctx.timeout,
                )
                judge_call = await self.caller.call(
                    ctx, ctx.judge, judging, f"judge:{arm}:{j}", index
                )
                if judge_call is None:  # stopped mid-grading: keep the paid answer, ungraded
                    graded = False
                    break
                judge_call.case_id, judge_call.sample_index = case.id, index
                judge_calls.append(judge_call)
                if judge_call.answer is not None:
                    replies.append(judge_call.answer)
            if graded:
                call.grade = safe_grade(case, call.answer or "", replies).model_dump()
        # The answer and the judge verdicts on it are stored together or not at all.
        await ctx.writer.add_calls([call, *judge_calls])
        return passed_from_grade(call.grade)

    async def _conclude(self, ctx: RunContext) -> str:
        if ctx.ended_elsewhere:
            return await self.store.run_status(ctx.run_id)
        reason: StopReason = "finished"
        if ctx.fatal:
            reason = "dead_endpoint"
        elif ctx.budget_hit:
            reason = "budget"
        elif ctx.cancelled:
            reason = "cancelled"
        elif not await self.store.finish_slice(ctx.run_id, ctx.part):
            return "running"  # other slices are still at work; the last one concludes
        return await conclude(self.store, ctx.run_id, reason, ctx.last_error, self.models.catalog)
