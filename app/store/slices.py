"""Claiming work: a run is split into slices that any worker process may take under a lease.

A worker renews its lease while it works and hands the slice back on shutdown; a slice whose
lease lapsed (its worker was killed) is taken over by the next worker that looks. The last
slice to finish concludes the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from app.store.store import Store
from app.store.tables import RunRow, RunSliceRow, utcnow


@dataclass(frozen=True)
class Claim:
    run_id: str
    slice: int
    slices: int


async def claim_slice(
    store: Store,
    owner: str,
    lease_seconds: float,
    held: Mapping[str, int] | None = None,
    processes: int = 1,
    run_id: str | None = None,
) -> Claim | None:
    """Take an unfinished slice of a live run that nobody holds (or whose holder went quiet).

    `held` counts the slices this worker already has per run: a worker takes at most its
    share (slices / processes) of one run, so every process gets part of a big run.
    """
    now = utcnow()
    free = or_(RunSliceRow.owner.is_(None), RunSliceRow.lease_expires_at < now)
    query = (
        select(RunSliceRow.run_id, RunSliceRow.slice, RunRow.slices)
        .join(RunRow, RunRow.id == RunSliceRow.run_id)
        .where(
            RunRow.status.in_(("queued", "running")),
            RunRow.cancel_requested.is_(False),
            RunSliceRow.done.is_(False),
            free,
        )
        .order_by(RunRow.created_at, RunSliceRow.slice)
        .limit(32)
    )
    if run_id is not None:
        query = query.where(RunSliceRow.run_id == run_id)
    async with store.sessions() as session:
        candidates = list(await session.execute(query))
    held = held or {}
    for candidate, index, slices in candidates:
        if held.get(candidate, 0) >= max(1, -(-slices // max(1, processes))):
            continue
        async with store.sessions.begin() as session:
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


def _held(claim: Claim, owner: str) -> ColumnElement[bool]:
    return and_(
        RunSliceRow.run_id == claim.run_id,
        RunSliceRow.slice == claim.slice,
        RunSliceRow.owner == owner,
    )


async def renew_slice(store: Store, claim: Claim, owner: str, lease_seconds: float) -> bool:
    async with store.sessions.begin() as session:
        result = await session.execute(
            update(RunSliceRow)
            .where(_held(claim, owner))
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_slice(store: Store, claim: Claim, owner: str) -> None:
    """Hand a slice back at once, for the next process to resume without waiting."""
    async with store.sessions.begin() as session:
        await session.execute(update(RunSliceRow).where(_held(claim, owner)).values(owner=None))


async def finish_slice(store: Store, run_id: str, part: int) -> bool:
    """Mark a slice done; True when every slice of its run is done."""
    async with store.sessions.begin() as session:
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


async def unconcluded_runs(store: Store) -> list[str]:
    """Running runs whose slices are all done but that nobody concluded (a crash in between)."""
    pending = select(RunSliceRow.run_id).where(RunSliceRow.done.is_(False))
    async with store.sessions() as session:
        rows = await session.scalars(
            select(RunRow.id).where(RunRow.status == "running", RunRow.id.not_in(pending))
        )
        return list(rows)
