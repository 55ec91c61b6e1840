"""A run's evidence, a page at a time: each case's label and each arm's answers, grades,
errors and cost."""

from __future__ import annotations

from app.service.errors import InvalidRequestError
from app.service.runs import run_record
from app.service.views import ArmDetail, CasePage, CaseView, RetrievedView
from app.store import Store


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


def _add_cost(total: float | None, cost: float | None) -> float | None:
    """A sum that stays unknown once one part is unknown (a model without a price)."""
    return None if total is None or cost is None else round(total + cost, 9)


async def case_page(
    store: Store, run_id: str, cursor: str | None, limit: int, label: str | None = None
) -> CasePage:
    """A page of per-case evidence: the label and each arm's answers, grades and errors."""
    await run_record(store, run_id)
    after = _decode_cursor(cursor)
    rows = await store.case_results(run_id, after=after, limit=limit + 1, label=label)
    more = len(rows) > limit
    rows = rows[:limit]
    calls = await store.calls_for_cases(run_id, [r.case_id for r in rows])
    arms: dict[str, dict[str, ArmDetail]] = {r.case_id: {} for r in rows}
    judge_costs: list[tuple[str, str, float | None]] = []
    for call in calls:
        if call.case_id not in arms:
            continue
        if call.arm.startswith("judge:"):  # "judge:<arm>:<check>": its cost is the arm's
            judge_costs.append((call.case_id, call.arm.split(":")[1], call.cost_usd))
            continue
        detail = arms[call.case_id].setdefault(
            call.arm, ArmDetail(passes=0, samples=0, answers=[], grades=[], errors=[])
        )
        detail.cost_usd = _add_cost(detail.cost_usd, call.cost_usd)
        detail.cached.append(call.cached)
        detail.answers.append(call.answer)
        detail.grades.append(call.grade)
        detail.errors.append(
            f"{call.error_class}: {call.error_message}" if call.error_class else None
        )
        if call.grade and call.grade.get("kind") != "unscored":
            detail.samples += 1
            detail.passes += int(bool(call.grade.get("passed")))
    for case_id, arm, cost in judge_costs:
        if arm in arms[case_id]:
            arms[case_id][arm].cost_usd = _add_cost(arms[case_id][arm].cost_usd, cost)
    items = [
        CaseView(
            case_id=r.case_id,
            label=r.label,
            confidence=r.confidence,
            facts_cover_answer=r.facts_cover_answer,
            facts_sufficient=r.facts_sufficient,
            facts_reason=r.facts_reason,
            arms=arms[r.case_id],
            retrieved=(
                RetrievedView(
                    passed=r.retrieved.passed,
                    recall=r.retrieved.recall,
                    passages=r.retrieved.passages,
                )
                if r.retrieved is not None
                else None
            ),
        )
        for r in rows
    ]
    return CasePage(items=items, next_cursor=str(rows[-1].position) if more and rows else None)
