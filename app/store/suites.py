"""Suites and their cases. A suite is stored once per content: the same suite posted again is
the stored one."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from app.diagnosis.suite import Case, Suite
from app.store.database import Database, absent_key
from app.store.errors import SuiteInUseError
from app.store.records import LIVE, SuiteRecord
from app.store.tables import RunRow, SuiteCaseRow, SuiteRow, utcnow


def new_id() -> str:
    return uuid.uuid4().hex


def content_hash(suite: Suite) -> str:
    """sha256 of the suite as stored (name, description, system prompt, cases in order)."""
    body: dict[str, Any] = suite.model_dump(mode="json", by_alias=True)
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def suite_record(row: SuiteRow) -> SuiteRecord:
    return SuiteRecord(
        id=row.id,
        name=row.name,
        description=row.description,
        system_prompt=row.system_prompt,
        case_count=row.case_count,
        created_at=row.created_at,
    )


class SuiteQueries(Database):
    async def add_suite(self, suite: Suite) -> tuple[SuiteRecord, bool]:
        """Store a suite, or find the identical one stored before: (suite, whether new)."""
        digest = content_hash(suite)
        existing = await self._suite_by_hash(digest)
        if existing is not None:
            return existing, False
        row = SuiteRow(
            id=new_id(),
            name=suite.name,
            description=suite.description,
            system_prompt=suite.system_prompt,
            case_count=len(suite.cases),
            created_at=utcnow(),
            content_hash=digest,
        )
        try:
            async with self.sessions.begin() as session:
                session.add(row)
                await session.flush()
                session.add_all(
                    SuiteCaseRow(
                        suite_id=row.id,
                        position=i,
                        case_id=case.id,
                        body=case.model_dump(mode="json", by_alias=True),
                    )
                    for i, case in enumerate(suite.cases)
                )
        except IntegrityError:
            # The same suite posted twice at once: the other request stored it first.
            existing = await self._suite_by_hash(digest)
            if existing is None:
                raise
            return existing, False
        return suite_record(row), True

    async def _suite_by_hash(self, digest: str) -> SuiteRecord | None:
        async with self.sessions() as session:
            row = await session.scalar(select(SuiteRow).where(SuiteRow.content_hash == digest))
            return suite_record(row) if row is not None else None

    async def get_suite(self, suite_id: str) -> SuiteRecord | None:
        if absent_key(suite_id):
            return None
        async with self.sessions() as session:
            row = await session.get(SuiteRow, suite_id)
            return suite_record(row) if row is not None else None

    async def find_suite_by_name(self, name: str) -> SuiteRecord | None:
        """The newest suite of that name."""
        if absent_key(name):
            return None
        async with self.sessions() as session:
            query = select(SuiteRow).where(SuiteRow.name == name)
            row = (await session.scalars(query.order_by(SuiteRow.created_at.desc()))).first()
            return suite_record(row) if row is not None else None

    async def list_suites(self, limit: int, before: str | None) -> list[SuiteRecord]:
        """Newest first; `before` is the id of the last suite on the previous page."""
        async with self.sessions() as session:
            query = select(SuiteRow).order_by(SuiteRow.created_at.desc(), SuiteRow.id.desc())
            if before:
                anchor = await session.get(SuiteRow, before)
                if anchor is not None:
                    query = query.where(
                        or_(
                            SuiteRow.created_at < anchor.created_at,
                            and_(SuiteRow.created_at == anchor.created_at, SuiteRow.id < anchor.id),
                        )
                    )
            return [suite_record(r) for r in await session.scalars(query.limit(limit))]

    async def iter_cases(
        self, suite_id: str, batch: int = 500, part: int = 0, parts: int = 1
    ) -> AsyncIterator[tuple[int, Case]]:
        """Stream a suite's cases in order, a batch at a time (one slice of them, if asked)."""
        position = -1
        while True:
            async with self.sessions() as session:
                query = select(SuiteCaseRow).where(
                    SuiteCaseRow.suite_id == suite_id, SuiteCaseRow.position > position
                )
                if parts > 1:
                    query = query.where(SuiteCaseRow.position % parts == part)
                rows = list(
                    await session.scalars(query.order_by(SuiteCaseRow.position).limit(batch))
                )
            for row in rows:
                yield row.position, Case.model_validate(row.body)
            if len(rows) < batch:
                return
            position = rows[-1].position

    async def cases_by_id(self, suite_id: str, case_ids: list[str]) -> dict[str, Case]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(SuiteCaseRow).where(
                    SuiteCaseRow.suite_id == suite_id, SuiteCaseRow.case_id.in_(case_ids)
                )
            )
            return {row.case_id: Case.model_validate(row.body) for row in rows}

    async def delete_suite(self, suite_id: str, with_runs: bool = False) -> bool:
        """Delete a suite (and, if asked, its finished runs); False if there is no such suite.

        Raises SuiteInUseError while a run is queued or running on it, or while finished runs
        refer to it and `with_runs` is not set: their evidence needs the suite's cases.
        """
        if absent_key(suite_id):
            return False
        async with self.sessions.begin() as session:
            row = await session.get(SuiteRow, suite_id, with_for_update=True)
            if row is None:
                return False
            counts = dict(
                (bool(live), int(n))
                for live, n in await session.execute(
                    select(RunRow.status.in_(LIVE), func.count())
                    .where(RunRow.suite_id == suite_id)
                    .group_by(RunRow.status.in_(LIVE))
                )
            )
            active, finished = counts.get(True, 0), counts.get(False, 0)
            if active or (finished and not with_runs):
                raise SuiteInUseError(active, finished)
            await session.execute(delete(RunRow).where(RunRow.suite_id == suite_id))
            await session.delete(row)
            return True
