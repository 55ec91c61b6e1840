"""Calls and case results: the evidence of a run, and what it cost."""

from __future__ import annotations

from sqlalchemy import func, select

from app.diagnosis.usage import ArmUsage
from app.store.database import Database
from app.store.records import (
    ArmTallies,
    CallRecord,
    CaseResultRecord,
    RetrievedArm,
    StoredCall,
    passed_from_grade,
)
from app.store.tables import CallRow, CaseResultRow


def call_record(row: CallRow) -> CallRecord:
    return CallRecord(
        case_id=row.case_id,
        arm=row.arm,
        sample_index=row.sample_index,
        cache_key=row.cache_key,
        answer=row.answer,
        grade=row.grade,
        error_class=row.error_class,
        error_message=row.error_message,
        cached=row.cached,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=row.cost_usd,
        latency_ms=row.latency_ms,
    )


def case_result_record(row: CaseResultRow) -> CaseResultRecord:
    return CaseResultRecord(
        position=row.position,
        case_id=row.case_id,
        label=row.label,
        confidence=row.confidence,
        facts_cover_answer=row.facts_cover_answer,
        prompt_fix_passed=row.prompt_fix_passed,
        control_passed=row.control_passed,
        tallies=ArmTallies(
            closed_passes=row.closed_passes,
            closed_scored=row.closed_scored,
            open_passes=row.open_passes,
            open_scored=row.open_scored,
        ),
        retrieved=(
            RetrievedArm(
                passed=row.retrieved_passed,
                recall=row.retrieval_recall,
                passages=list(row.retrieved or []),
            )
            if row.retrieval_recall is not None
            else None
        ),
        facts_sufficient=row.facts_sufficient,
        facts_reason=row.facts_reason,
    )


class CallQueries(Database):
    async def calls_for_run(self, run_id: str) -> dict[tuple[str, str, int], CallRecord]:
        """Every stored call of a run, by slot (case, arm, sample)."""
        async with self.sessions() as session:
            rows = await session.scalars(select(CallRow).where(CallRow.run_id == run_id))
            return {(r.case_id, r.arm, r.sample_index): call_record(r) for r in rows}

    async def stored_calls(self, run_id: str) -> dict[tuple[str, str, int], StoredCall]:
        """What a resumed run needs of its stored calls: the result, not the whole row."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(
                    CallRow.case_id,
                    CallRow.arm,
                    CallRow.sample_index,
                    CallRow.grade,
                    CallRow.error_class,
                    CallRow.cost_usd,
                ).where(CallRow.run_id == run_id)
            )
            return {
                (case_id, arm, index): StoredCall(
                    passed=passed_from_grade(grade),
                    ok=error is None,
                    cost_usd=cost,
                    reason=str(grade.get("reason")) if grade and grade.get("reason") else None,
                )
                for case_id, arm, index, grade, error, cost in rows
            }

    async def usage(self, run_id: str) -> dict[str, ArmUsage]:
        """Calls, tokens and cost per arm (cost None if any call's cost is unknown)."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(
                    CallRow.arm,
                    func.count(),
                    func.sum(CallRow.prompt_tokens),
                    func.sum(CallRow.completion_tokens),
                    func.sum(CallRow.cost_usd),
                    func.count(CallRow.cost_usd),
                    func.sum(func.cast(CallRow.cached, type_=CallRow.prompt_tokens.type)),
                    func.sum(CallRow.latency_ms),
                )
                .where(CallRow.run_id == run_id)
                .group_by(CallRow.arm)
            )
            return {
                arm: ArmUsage(
                    calls=calls,
                    cached_calls=int(cached or 0),
                    prompt_tokens=int(p_tok or 0),
                    completion_tokens=int(c_tok or 0),
                    cost_usd=float(cost or 0.0) if costed == calls else None,
                    latency_ms=round(float(latency or 0.0), 1),
                )
                for arm, calls, p_tok, c_tok, cost, costed, cached, latency in rows
            }

    async def finished_positions(self, run_id: str) -> set[int]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(CaseResultRow.position).where(CaseResultRow.run_id == run_id)
            )
            return set(rows)

    async def case_results(
        self, run_id: str, after: int = -1, limit: int | None = None, label: str | None = None
    ) -> list[CaseResultRecord]:
        async with self.sessions() as session:
            query = (
                select(CaseResultRow)
                .where(CaseResultRow.run_id == run_id, CaseResultRow.position > after)
                .order_by(CaseResultRow.position)
            )
            if label is not None:
                query = query.where(CaseResultRow.label == label)
            if limit is not None:
                query = query.limit(limit)
            return [case_result_record(r) for r in await session.scalars(query)]

    async def calls_for_cases(self, run_id: str, case_ids: list[str]) -> list[CallRecord]:
        async with self.sessions() as session:
            query = (
                select(CallRow)
                .where(CallRow.run_id == run_id, CallRow.case_id.in_(case_ids))
                .order_by(CallRow.arm, CallRow.sample_index)
            )
            return [call_record(r) for r in await session.scalars(query)]
