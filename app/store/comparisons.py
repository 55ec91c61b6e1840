"""Stored comparisons of two runs."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from app.store.database import Database, absent_key
from app.store.records import ComparisonRecord
from app.store.tables import ComparisonRow, utcnow


def comparison_record(row: ComparisonRow) -> ComparisonRecord:
    return ComparisonRecord(
        id=row.id,
        baseline_run_id=row.baseline_run_id,
        candidate_run_id=row.candidate_run_id,
        margin=row.margin,
        result=row.result,
        created_at=row.created_at,
    )


class ComparisonQueries(Database):
    async def add_comparison(
        self, baseline_run_id: str, candidate_run_id: str, margin: float, result: dict[str, Any]
    ) -> ComparisonRecord:
        row = ComparisonRow(
            id=uuid.uuid4().hex,
            baseline_run_id=baseline_run_id,
            candidate_run_id=candidate_run_id,
            margin=margin,
            result=result,
            created_at=utcnow(),
        )
        async with self.sessions.begin() as session:
            session.add(row)
        return comparison_record(row)

    async def get_comparison(self, comparison_id: str) -> ComparisonRecord | None:
        if absent_key(comparison_id):
            return None
        async with self.sessions() as session:
            row = await session.get(ComparisonRow, comparison_id)
            return comparison_record(row) if row is not None else None

    async def find_comparison(
        self, baseline_run_id: str, candidate_run_id: str, margin: float
    ) -> ComparisonRecord | None:
        """The comparison of these two runs at this margin, if one was made (they are final)."""
        async with self.sessions() as session:
            row = await session.scalar(
                select(ComparisonRow).where(
                    ComparisonRow.baseline_run_id == baseline_run_id,
                    ComparisonRow.candidate_run_id == candidate_run_id,
                    ComparisonRow.margin == margin,
                )
            )
            return comparison_record(row) if row is not None else None
