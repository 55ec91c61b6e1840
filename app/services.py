"""What a user can do, as plain async functions; the routers and the CLI both call these."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from app.api.schemas import (
    ArmDetail,
    ArmEstimate,
    CaseOut,
    CasePage,
    Progress,
    RunEstimate,
    RunOut,
    RunRequest,
)
from app.diagnosis.grading import judge_nodes
from app.diagnosis.suite import Arm, Case, Suite, build_messages
from app.llm import ModelCatalog, UnknownModelError
from app.pricing import token_prices
from app.runconfig import DEFAULT_COMPLETION_TOKENS, RunConfig, estimate_tokens, planned_calls
from app.ssrf import CallbackPolicy, CallbackRefusedError
from app.store.store import TERMINAL, Store
from app.store.tables import RunRow, SuiteRow
from app.webhooks import VerifiedDelivery

# Request fields that are about delivery, not about the diagnosis: kept out of the RunConfig.
NOT_CONFIG = {"suite", "suite_id", "model", "callback_url", "metadata"}


class NotFoundError(LookupError):
    pass


class InvalidRequestError(ValueError):
    """A request that parsed but cannot be served; `loc` names the field at fault."""

    def __init__(self, loc: str, msg: str) -> None:
        super().__init__(f"{loc}: {msg}")
        self.loc = loc
        self.msg = msg


def _check_models(catalog: ModelCatalog, request: RunRequest) -> None:
    for field, name in (("model", request.model), ("judge_model", request.judge_model)):
        if name is not None:
            try:
                catalog.resolve(name)
            except UnknownModelError as exc:
                raise InvalidRequestError(field, str(exc)) from None
    if request.max_cost_usd is not None:
        entry = catalog.resolve(request.model)
        if token_prices(entry.provider_model) is None:
            raise InvalidRequestError(
                "max_cost_usd",
                f"model {request.model!r} has no known price, so a budget cannot be enforced",
            )


async def start_run(
    store: Store,
    catalog: ModelCatalog,
    request: RunRequest,
    slices: int = 1,
    *,
    callbacks: CallbackPolicy | None = None,
    delivery: VerifiedDelivery | None = None,
) -> RunRow:
    """Check everything that can be checked now, store the run queued, and return it.

    `slices`: how many parts worker processes may take on at once (never more than the
    run's concurrency, which the slices share). `callbacks`: where callbacks may go (needed
    for a request with a callback_url). `delivery`: the signed webhook delivery that asked
    for the run, stored with it (a second run for the same delivery id is an IntegrityError).
    """
    _check_models(catalog, request)
    if request.callback_url is not None:
        if callbacks is None:
            raise InvalidRequestError("callback_url", "callbacks are not available here")
        try:
            await callbacks.check_url(request.callback_url)
        except CallbackRefusedError as exc:
            raise InvalidRequestError("callback_url", str(exc)) from None
    if request.suite is not None:
        judged = None if request.judge_model else await _first_judged(_inline_cases(request.suite))
        if judged is not None:
            raise InvalidRequestError(
                f"suite.cases[{judged[0]}].expected",
                "uses a judge grader; name a judge_model for the run",
            )
        suite_row = await store.add_suite(request.suite)
    else:
        suite_row = await _stored_suite(store, request.suite_id)
        judged = (
            None if request.judge_model else await _first_judged(store.iter_cases(suite_row.id))
        )
        if judged is not None:
            position, case = judged
            raise InvalidRequestError(
                "judge_model",
                f"case {case.id!r} (cases[{position}]) uses a judge grader; "
                "name a judge_model for the run",
            )
    config = RunConfig.model_validate(request.model_dump(exclude=NOT_CONFIG))
    return await store.add_run(
        suite_row.id,
        request.model,
        config.model_dump(mode="json"),
        planned_calls(suite_row.case_count, config),
        max(1, min(slices, config.max_concurrency or slices)),
        callback_url=request.callback_url,
        metadata=request.metadata,
        delivery=(delivery.scheme, delivery.delivery_id) if delivery else None,
    )


async def estimate_run(store: Store, catalog: ModelCatalog, request: RunRequest) -> RunEstimate:
    """What a run would cost before anything is spent: calls, tokens and USD (None if unknown).

    Calls assume full sampling (adaptive runs use fewer); prompt-fix calls are an upper bound,
    since only the cases that fail with facts get them.
    """
    _check_models(catalog, request)
    config = RunConfig.model_validate(request.model_dump(exclude=NOT_CONFIG))
    entry = catalog.resolve(request.model)
    if request.suite is not None:
        system_prompt, cases = request.suite.system_prompt, _inline_cases(request.suite)
    else:
        row = await _stored_suite(store, request.suite_id)
        system_prompt, cases = row.system_prompt, store.iter_cases(row.id)
    arms: tuple[Arm, ...] = ("closed_book", "open_book")
    if config.candidate_prompt:
        arms += ("prompt_fix", "open_book_control")
    per_arm = {arm: ArmEstimate() for arm in arms}
    case_count = 0
    async for _, case in cases:
        case_count += 1
        for arm in arms:
            messages = build_messages(
                system_prompt, case, arm, config.injection, config.candidate_prompt
            )
            total = estimate_tokens(messages, config.max_tokens)
            reply = config.max_tokens or DEFAULT_COMPLETION_TOKENS
            per_arm[arm].calls += config.samples
            per_arm[arm].prompt_tokens += (total - reply) * config.samples
            per_arm[arm].completion_tokens += reply * config.samples
    prices = token_prices(entry.provider_model)
    for estimate in per_arm.values():
        if prices is not None:
            estimate.cost_usd = round(
                estimate.prompt_tokens * prices[0] + estimate.completion_tokens * prices[1], 6
            )
    costs = [e.cost_usd for e in per_arm.values()]
    return RunEstimate(
        cases=case_count,
        calls_planned=planned_calls(case_count, config),
        calls_max=sum(e.calls for e in per_arm.values()),
        prompt_tokens=sum(e.prompt_tokens for e in per_arm.values()),
        completion_tokens=sum(e.completion_tokens for e in per_arm.values()),
        cost_usd=None if any(c is None for c in costs) else round(sum(c or 0 for c in costs), 6),
        per_arm=per_arm,
    )


async def _inline_cases(suite: Suite) -> AsyncIterator[tuple[int, Case]]:
    for position, case in enumerate(suite.cases):
        yield position, case


async def _stored_suite(store: Store, suite_id: str | None) -> SuiteRow:
    row = await store.get_suite(suite_id or "")
    if row is None:
        raise InvalidRequestError("suite_id", f"no suite with id {suite_id!r}")
    return row


async def _first_judged(cases: AsyncIterator[tuple[int, Case]]) -> tuple[int, Case] | None:
    """The first case graded by a judge: such a suite needs the run to name a judge_model."""
    async for position, case in cases:
        if any(True for _ in judge_nodes(case.expected)):
            return position, case
    return None


def run_view(run: RunRow) -> RunOut:
    return RunOut(
        id=run.id,
        status=run.status,
        suite_id=run.suite_id,
        model=run.model,
        config=run.config,
        progress=Progress(
            calls_done=run.calls_done,
            calls_planned=max(run.calls_planned, run.calls_done),
            calls_cached=run.calls_cached,
            calls_failed=run.calls_failed,
        ),
        verdict=run.verdict,
        error=run.error,
        cancel_reason=run.cancel_reason if run.status == "cancelled" else None,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        callback_url=run.callback_url,
        metadata=run.meta,
    )


def suite_summary(row: SuiteRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "case_count": row.case_count,
        "created_at": row.created_at,
    }


async def get_run(store: Store, run_id: str) -> RunRow:
    run = await store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"no run with id {run_id!r}")
    return run


async def progress_events(
    store: Store, run_id: str, interval: float = 0.25
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Progress snapshots as they change, ending with the run's final state."""
    last: dict[str, Any] | None = None
    while True:
        run = await get_run(store, run_id)
        view = run_view(run)
        snapshot = {"status": view.status, **view.progress.model_dump()}
        if snapshot != last:
            yield "progress", snapshot
            last = snapshot
        if view.status in TERMINAL:
            yield "end", {"status": view.status, "error": view.error}
            return
        await asyncio.sleep(interval)


def _decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return -1
    try:
        value = int(cursor)
    except ValueError:
        raise InvalidRequestError("cursor", "not a cursor returned by this API") from None
    if not 0 <= value < 2**63:
        raise InvalidRequestError("cursor", "not a cursor returned by this API")
    return value


async def case_page(store: Store, run_id: str, cursor: str | None, limit: int) -> CasePage:
    await get_run(store, run_id)
    after = _decode_cursor(cursor)
    rows = await store.case_results(run_id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    calls = await store.calls_for_cases(run_id, [r.case_id for r in rows])
    arms: dict[str, dict[str, ArmDetail]] = {r.case_id: {} for r in rows}
    for call in calls:
        if call.arm.startswith("judge:"):
            continue
        detail = arms[call.case_id].setdefault(
            call.arm, ArmDetail(passes=0, samples=0, answers=[], grades=[], errors=[])
        )
        detail.answers.append(call.answer)
        detail.grades.append(call.grade)
        detail.errors.append(
            f"{call.error_class}: {call.error_message}" if call.error_class else None
        )
        if call.grade and call.grade.get("kind") != "unscored":
            detail.samples += 1
            detail.passes += int(bool(call.grade.get("passed")))
    items = [
        CaseOut(
            case_id=r.case_id,
            label=r.label,
            confidence=r.confidence,
            facts_cover_answer=r.facts_cover_answer,
            arms=arms[r.case_id],
        )
        for r in rows
    ]
    return CasePage(items=items, next_cursor=str(rows[-1].position) if more and rows else None)
