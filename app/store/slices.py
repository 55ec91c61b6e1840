"""Claiming work: a run is split into slices that any worker process may take under a lease.

A worker renews its lease while it works and hands the slice back on shutdown; a slice whose
lease lapsed (its worker was killed) is taken over by the next worker that looks. The last
slice to finish concludes the run. A run belongs to an executor: the server's workers take only
"service" runs, so a run the CLI started (with the CLI's own models) is never picked up by a
server that may not know them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from app.store.database import Database
from app.store.records import LIVE
from app.store.tables import RunRow, RunSliceRow, utcnow


@dataclass(frozen=True)
class Claim:
    run_id: str
    slice: int
    slices: int


def _held(claim: Claim, owner: str) -> ColumnElement[bool]:
    return and_(
        RunSliceRow.run_id == claim.run_id,
        RunSliceRow.slice == claim.slice,
        RunSliceRow.owner == owner,
    )


class SliceQueries(Database):
    async def claim_slice(
        self,
        owner: str,
        lease_seconds: float,
        *,
        held: Mapping[str, int] | None = None,
        processes: int = 1,
        run_id: str | None = None,
        executor: str = "service",
        models: Collection[str] | None = None,
    ) -> Claim | None:
        """Take an unfinished slice of a live run that nobody holds (or whose holder went quiet).

        `held` counts the slices this worker already has per run: a worker takes at most its
        share (slices / processes) of one run, so every process gets part of a big run.
        `models`: only runs on these models (a process serves the models it can run).
        """
        now = utcnow()
        free = or_(RunSliceRow.owner.is_(None), RunSliceRow.lease_expires_at < now)
        query = (
            select(RunSliceRow.run_id, RunSliceRow.slice, RunRow.slices)
            .join(RunRow, RunRow.id == RunSliceRow.run_id)
            .where(
                RunRow.status.in_(LIVE),
                RunRow.executor == executor,
                RunRow.cancel_requested.is_(False),
                RunSliceRow.done.is_(False),
                free,
            )
            .order_by(RunRow.created_at, RunSliceRow.slice)
            .limit(32)
        )
        if run_id is not None:
            query = query.where(RunSliceRow.run_id == run_id)
        if models is not None:
            query = query.where(RunRow.model.in_(list(models)))
        async with self.sessions() as session:
            candidates = list(await session.execute(query))
        held = held or {}
        for candidate, index, slices in candidates:
            if held.get(candidate, 0) >= max(1, -(-slices // max(1, processes))):
                continue
            async with self.sessions.begin() as session:
                taken = await session.execute(
                    update(RunSliceRow)
                    .where(
                        RunSliceRow.run_id == candidate,
                        RunSliceRow.slice == index,
                        RunSliceRow.done.is_(False),
                        free,
                    )
                    .values(owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
                )
                if taken.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # another worker was faster
            return Claim(candidate, index, slices)
        return None

    async def renew_slice(self, claim: Claim, owner: str, lease_seconds: float) -> bool:
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(RunSliceRow)
                .where(_held(claim, owner))
                .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release_slice(self, claim: Claim, owner: str) -> None:
        """Hand a slice back at once, for the next process to resume without waiting."""
        async with self.sessions.begin() as session:
            await session.execute(update(RunSliceRow).where(_held(claim, owner)).values(owner=None))

    async def finish_slice(self, run_id: str, part: int) -> bool:
        """Mark a slice done; True when every slice of its run is done."""
        async with self.sessions.begin() as session:
            # Lock the run first: two last slices finishing at once must not both see the other
            # as unfinished (PostgreSQL, read committed); SQLite serialises writers anyway.
            await session.execute(select(RunRow.id).where(RunRow.id == run_id).with_for_update())
            await session.execute(
                update(RunSliceRow)
                .where(RunSliceRow.run_id == run_id, RunSliceRow.slice == part)
                .values(done=True, owner=None)
            )
            left = await session.scalar(
                select(func.count()).where(
                    and_(RunSliceRow.run_id == run_id, RunSliceRow.done.is_(False))
                )
            )
            return not left

    async def pending_slices(self, run_id: str) -> int:
        """Slices of the run not yet done (held by a worker or not)."""
        async with self.sessions() as session:
            left = await session.scalar(
                select(func.count()).where(
                    RunSliceRow.run_id == run_id, RunSliceRow.done.is_(False)
                )
            )
            return int(left or 0)

    async def unconcluded_runs(self, executor: str = "service") -> list[str]:
        """Running runs whose slices are all done but that nobody concluded (a crash between)."""
        pending = select(RunSliceRow.run_id).where(RunSliceRow.done.is_(False))
        async with self.sessions() as session:
            rows = await session.scalars(
                select(RunRow.id).where(
                    RunRow.status == "running",
                    RunRow.executor == executor,
                    RunRow.id.not_in(pending),
                )
            )
            return list(rows)
