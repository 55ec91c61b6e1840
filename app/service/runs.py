"""What a user can do with runs: start one, watch it, list them, cancel one (pricing one is
in estimates.py, reading its evidence in evidence.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from app.diagnosis.grading import judge_nodes
from app.diagnosis.options import RunOptions
from app.diagnosis.plan import planned_calls
from app.diagnosis.suite import Case, Suite
from app.engine.comparing import settle_reviews
from app.models.catalog import ModelCatalog, UnknownModelError
from app.models.pricing import token_prices
from app.pipelines.signing import VerifiedDelivery
from app.pipelines.ssrf import CallbackPolicy, CallbackRefusedError
from app.service.commands import Baseline, StartRun
from app.service.corpora import resolve_retrieval
from app.service.errors import InvalidRequestError, NotFoundError
from app.service.views import (
    RunPage,
    RunView,
    run_view,
)
from app.store import Store
from app.store.records import TERMINAL, RunRecord, SuiteRecord
from app.store.runs import NewRun, RunFilter


def check_models(
    catalog: ModelCatalog, model: str, options: RunOptions, field: str = "model"
) -> None:
    for where, name in ((field, model), ("judge_model", options.judge_model)):
        if name is not None:
            try:
                catalog.resolve(name)
            except UnknownModelError as exc:
                raise InvalidRequestError(where, str(exc)) from None
    if options.max_cost_usd is not None:
        entry = catalog.resolve(model)
        if token_prices(entry.provider_model) is None:
            raise InvalidRequestError(
                "max_cost_usd",
                f"model {model!r} has no known price, so a budget cannot be enforced",
            )


async def start_run(
    store: Store,
    catalog: ModelCatalog,
    command: StartRun,
    slices: int = 1,
    *,
    callbacks: CallbackPolicy | None = None,
    delivery: VerifiedDelivery | None = None,
    executor: str = "service",
    baseline: Baseline | None = None,
) -> RunView:
    """Check everything that can be checked now, store the run queued, and return it.

    `slices`: how many parts worker processes may take on at once (never more than the
    run's concurrency, which the slices share). `callbacks`: where callbacks may go (needed
    for a command with a callback_url). `delivery`: the signed webhook delivery that asked
    for the run, stored with it (a second run for the same delivery id is a
    DuplicateDeliveryError). `executor`: "cli" for a run only the command line that starts it
    may execute. `baseline`: a model review's baseline (a model to run too, or a run), compared
    with this run when both have ended.
    """
    options = command.options()
    check_models(catalog, command.model, options)
    if command.callback_url is not None:
        if callbacks is None:
            raise InvalidRequestError("callback_url", "callbacks are not available here")
        try:
            await callbacks.check_url(command.callback_url)
        except CallbackRefusedError as exc:
            raise InvalidRequestError("callback_url", str(exc)) from None
    suite = await _suite_for(store, command, options)
    retrieval = await resolve_retrieval(store, options.retrieval, suite)
    options = options.model_copy(update={"retrieval": retrieval})

    def planned(model: str, **extra: Any) -> NewRun:
        return NewRun(
            suite_id=suite.id,
            model=model,
            options=options,
            calls_planned=planned_calls(suite.case_count, options),
            slices=slices_for(catalog, model, options, slices),
            executor=executor,
            model_params=catalog.resolve(model).generation_params(),
            **extra,
        )

    extra: dict[str, Any] = {}
    if baseline is not None:
        extra["comparison_margin"] = baseline.margin
        if baseline.model is not None:
            check_models(catalog, baseline.model, options, field="baseline_model")
            extra["baseline"] = planned(baseline.model)
        elif baseline.run_id is not None:
            extra["baseline_run_id"] = (await _baseline_run(store, baseline.run_id, suite)).id
    run = await store.add_run(
        planned(
            command.model,
            callback_url=command.callback_url,
            metadata=command.metadata,
            delivery=(delivery.scheme, delivery.delivery_id) if delivery else None,
            **extra,
        )
    )
    return run_view(run)


async def _suite_for(store: Store, command: StartRun, options: RunOptions) -> SuiteRecord:
    """The run's suite (an inline one is stored, once per content), checked for judge graders."""
    if command.suite is not None:
        judged = None if options.judge_model else await first_judged(inline_cases(command.suite))
        if judged is not None:
            raise InvalidRequestError(
                f"suite.cases[{judged[0]}].expected",
                "uses a judge grader; name a judge_model for the run",
            )
        suite, _ = await store.add_suite(command.suite)
        return suite
    suite = await stored_suite(store, command.suite_id)
    judged = None if options.judge_model else await first_judged(store.iter_cases(suite.id))
    if judged is not None:
        position, case = judged
        raise InvalidRequestError(
            "judge_model",
            f"case {case.id!r} (cases[{position}]) uses a judge grader; "
            "name a judge_model for the run",
        )
    return suite


async def _baseline_run(store: Store, run_id: str, suite: SuiteRecord) -> RunRecord:
    run = await store.get_run(run_id)
    if run is None:
        raise InvalidRequestError("baseline_run_id", f"no run with id {run_id!r}")
    if run.suite_id != suite.id:
        raise InvalidRequestError(
            "baseline_run_id", f"run {run_id!r} is on another suite; runs pair case by case"
        )
    return run


def slices_for(catalog: ModelCatalog, model: str, options: RunOptions, slices: int) -> int:
    """Parts worker processes may share: never more than the calls that can run at once (the
    run's concurrency, the model's parallelism), since the slices share those."""
    parallel = catalog.resolve(model).limits.parallel
    return max(1, min(slices, options.max_concurrency or slices, parallel or slices))


async def inline_cases(suite: Suite) -> AsyncIterator[tuple[int, Case]]:
    for position, case in enumerate(suite.cases):
        yield position, case


async def stored_suite(store: Store, suite_id: str | None) -> SuiteRecord:
    suite = await store.get_suite(suite_id or "")
    if suite is None:
        raise InvalidRequestError("suite_id", f"no suite with id {suite_id!r}")
    return suite


async def first_judged(cases: AsyncIterator[tuple[int, Case]]) -> tuple[int, Case] | None:
    """The first case graded by a judge: such a suite needs the run to name a judge_model."""
    async for position, case in cases:
        if any(True for _ in judge_nodes(case.expected)):
            return position, case
    return None


async def run_record(store: Store, run_id: str) -> RunRecord:
    run = await store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"no run with id {run_id!r}")
    return run


async def get_run(store: Store, run_id: str) -> RunView:
    return run_view(await run_record(store, run_id))


async def list_runs(
    store: Store, limit: int, cursor: str | None, where: RunFilter | None = None
) -> RunPage:
    """Runs newest first, a page at a time; `cursor` is the previous page's `next_cursor`."""
    if cursor is not None and await store.get_run(cursor) is None:
        raise InvalidRequestError("cursor", "not a cursor returned by this API")
    runs = await store.list_runs(limit + 1, cursor, where)
    page = [run_view(r) for r in runs[:limit]]
    return RunPage(items=page, next_cursor=page[-1].id if len(runs) > limit else None)


async def cancel_run(store: Store, catalog: ModelCatalog, run_id: str) -> RunView:
    """Queued runs end at once (and settle the reviews they are half of); running ones stop at
    their next call."""
    run = await store.request_cancel(run_id)
    if run is None:
        raise NotFoundError(f"no run with id {run_id!r}")
    if run.finished:
        await settle_reviews(store, catalog, run.id)
    return run_view(run)


async def progress_events(
    store: Store, run_id: str, interval: float = 0.25
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Progress snapshots as they change, ending with the run's final state."""
    last: dict[str, Any] | None = None
    while True:
        view = await get_run(store, run_id)
        snapshot = {"status": view.status, **view.progress.model_dump()}
        if snapshot != last:
            yield "progress", snapshot
            last = snapshot
        if view.status in TERMINAL:
            yield "end", {"status": view.status, "error": view.error}
            return
        await asyncio.sleep(interval)
