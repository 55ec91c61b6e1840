"""What a user can do with two runs: compare them (another model, another prompt, a new model
version), and read the comparison back."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.diagnosis.comparison_result import ComparisonResult
from app.engine.comparing import stored_comparison
from app.models.catalog import ModelCatalog
from app.service.errors import ConflictError, InvalidRequestError, NotFoundError
from app.store import Store
from app.store.records import ComparisonRecord, RunRecord

DEFAULT_MARGIN = 0.05


class CompareRuns(BaseModel):
    """Pair two finished runs on the same cases (one suite, or two that differ only in their
    system prompt), case by case."""

    baseline_run_id: str = Field(min_length=1, description="The run to compare against")
    candidate_run_id: str = Field(min_length=1, description="The new model, prompt or version")
    margin: float = Field(
        default=DEFAULT_MARGIN,
        gt=0,
        lt=1,
        description="Differences within ±margin (a fraction: 0.05 is 5 points) are equivalent",
    )


class ComparisonView(ComparisonResult):
    id: str
    baseline_run_id: str
    candidate_run_id: str
    created_at: datetime


def comparison_view(record: ComparisonRecord) -> ComparisonView:
    return ComparisonView(
        id=record.id,
        baseline_run_id=record.baseline_run_id,
        candidate_run_id=record.candidate_run_id,
        created_at=record.created_at,
        **ComparisonResult.model_validate(record.result).model_dump(),
    )


async def _finished_run(store: Store, run_id: str, field: str) -> RunRecord:
    run = await store.get_run(run_id)
    if run is None:
        raise InvalidRequestError(field, f"no run with id {run_id!r}")
    if run.status != "succeeded":
        raise ConflictError(f"run {run_id!r} is {run.status}; only succeeded runs are compared")
    return run


async def same_cases(store: Store, first: str, second: str) -> bool:
    """Two suites that differ only in their name, system prompt or tags hold the same cases,
    so their runs pair up: that is how two prompts are compared."""

    async def cases(suite_id: str) -> list[dict[str, object]]:
        return [
            case.model_dump(mode="json", exclude={"tags"})
            async for _, case in store.iter_cases(suite_id)
        ]

    return await cases(first) == await cases(second)


async def compare_runs(store: Store, catalog: ModelCatalog, command: CompareRuns) -> ComparisonView:
    """Compare two succeeded runs on the same cases (stored; the same request returns it)."""
    baseline = await _finished_run(store, command.baseline_run_id, "baseline_run_id")
    candidate = await _finished_run(store, command.candidate_run_id, "candidate_run_id")
    if baseline.suite_id != candidate.suite_id and not await same_cases(
        store, baseline.suite_id, candidate.suite_id
    ):
        raise InvalidRequestError(
            "candidate_run_id",
            f"runs on suites with different cases ({baseline.suite_id} and "
            f"{candidate.suite_id}) cannot be paired case by case",
        )
    return comparison_view(
        await stored_comparison(store, catalog, baseline, candidate, command.margin)
    )


async def get_comparison(store: Store, comparison_id: str) -> ComparisonView:
    record = await store.get_comparison(comparison_id)
    if record is None:
        raise NotFoundError(f"no comparison with id {comparison_id!r}")
    return comparison_view(record)
