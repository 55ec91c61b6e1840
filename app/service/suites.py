"""What a user can do with suites: store one (once per content), list, read, delete."""

from __future__ import annotations

from app.diagnosis.suite import Suite
from app.service.errors import ConflictError, InvalidRequestError, NotFoundError
from app.service.views import SuiteDetail, SuitePage, SuiteView, suite_view
from app.store import Store
from app.store.errors import SuiteInUseError


async def add_suite(store: Store, suite: Suite) -> tuple[SuiteView, bool]:
    """(the suite, whether it is new): posting identical content again returns the stored one."""
    record, created = await store.add_suite(suite)
    return suite_view(record), created


async def list_suites(store: Store, limit: int, cursor: str | None) -> SuitePage:
    if cursor is not None and await store.get_suite(cursor) is None:
        raise InvalidRequestError("cursor", "not a cursor returned by this API")
    rows = await store.list_suites(limit + 1, cursor)
    page = [suite_view(r) for r in rows[:limit]]
    return SuitePage(items=page, next_cursor=page[-1].id if len(rows) > limit else None)


async def get_suite(store: Store, suite_id: str) -> SuiteDetail:
    record = await store.get_suite(suite_id)
    if record is None:
        raise NotFoundError(f"no suite with id {suite_id!r}")
    cases = [case async for _, case in store.iter_cases(record.id)]
    return SuiteDetail(
        **suite_view(record).model_dump(), system_prompt=record.system_prompt, cases=cases
    )


async def delete_suite(store: Store, suite_id: str, with_runs: bool = False) -> None:
    try:
        deleted = await store.delete_suite(suite_id, with_runs=with_runs)
    except SuiteInUseError as exc:
        if exc.active:
            raise ConflictError(
                f"suite {suite_id!r} is used by {exc.active} queued or running run(s); "
                "cancel them or wait for them to end"
            ) from None
        raise ConflictError(
            f"suite {suite_id!r} is the evidence of {exc.finished} finished run(s); delete "
            "with ?with_runs=true to delete those runs too"
        ) from None
    if not deleted:
        raise NotFoundError(f"no suite with id {suite_id!r}")
