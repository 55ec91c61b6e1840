"""What a user can do, as plain async functions; the routers and the CLI both call these."""

from __future__ import annotations

from typing import Any

from app.api.schemas import ArmDetail, CaseOut, CasePage, Progress, RunOut, RunRequest
from app.diagnosis.grading import judge_nodes
from app.diagnosis.suite import Suite
from app.llm import ModelCatalog, UnknownModelError
from app.runner import RunConfig, planned_calls
from app.store.store import Store
from app.store.tables import RunRow, SuiteRow


class NotFoundError(LookupError):
    pass


class InvalidRequestError(ValueError):
    """A request that parsed but cannot be served; `loc` names the field at fault."""

    def __init__(self, loc: str, msg: str) -> None:
        super().__init__(f"{loc}: {msg}")
        self.loc = loc
        self.msg = msg


async def start_run(store: Store, catalog: ModelCatalog, request: RunRequest) -> RunRow:
    """Check everything that can be checked now, store the run queued, and return it."""
    for field, name in (("model", request.model), ("judge_model", request.judge_model)):
        if name is not None:
            try:
                catalog.resolve(name)
            except UnknownModelError as exc:
                raise InvalidRequestError(field, str(exc)) from None
    if request.suite is not None:
        suite = request.suite
        _check_judges(suite, request.judge_model)
        suite_row = await store.add_suite(suite)
    else:
        assert request.suite_id is not None
        found = await store.get_suite(request.suite_id)
        if found is None:
            raise InvalidRequestError("suite_id", f"no suite with id {request.suite_id!r}")
        suite_row = found
        if request.judge_model is None:
            async for position, case in store.iter_cases(suite_row.id):
                if any(True for _ in judge_nodes(case.expected)):
                    raise InvalidRequestError(
                        "judge_model",
                        f"case {case.id!r} (cases[{position}]) uses a judge grader; "
                        "name a judge_model for the run",
                    )
    config = RunConfig.model_validate(request.model_dump(exclude={"suite", "suite_id", "model"}))
    return await store.add_run(
        suite_row.id,
        request.model,
        config.model_dump(mode="json"),
        planned_calls(suite_row.case_count, config),
    )


def _check_judges(suite: Suite, judge_model: str | None) -> None:
    if judge_model is not None:
        return
    for index, case in enumerate(suite.cases):
        if any(True for _ in judge_nodes(case.expected)):
            raise InvalidRequestError(
                f"suite.cases[{index}].expected",
                "uses a judge grader; name a judge_model for the run",
            )


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
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
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


def _decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return -1
    try:
        value = int(cursor)
    except ValueError:
        raise InvalidRequestError("cursor", "not a cursor returned by this API") from None
    if value < 0:
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
