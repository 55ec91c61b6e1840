"""What the service hands back: typed views, the same for the REST API and the CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.diagnosis.labels import Label
from app.diagnosis.options import RunOptions
from app.diagnosis.suite import Case
from app.diagnosis.usage import RunVerdict
from app.store.records import RunRecord, SuiteRecord

RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class SuiteView(BaseModel):
    id: str
    name: str
    description: str
    case_count: int
    created_at: datetime


class SuiteDetail(SuiteView):
    system_prompt: str
    cases: list[Case]


class SuitePage(BaseModel):
    items: list[SuiteView]
    next_cursor: str | None


class Progress(BaseModel):
    calls_done: int
    calls_planned: int
    calls_cached: int
    calls_failed: int


class RunView(BaseModel):
    id: str
    status: RunStatus
    suite_id: str
    model: str
    config: RunOptions = Field(description="The run's options, as given or defaulted")
    progress: Progress
    verdict: RunVerdict | None
    error: str | None
    cancel_reason: Literal["request", "budget"] | None = Field(
        description="Why a cancelled run stopped"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    callback_url: str | None = None
    metadata: dict[str, Any] | None = None
    model_params: dict[str, Any] | None = Field(
        default=None,
        description="The model's answer-shaping parameters at the run (the model list's "
        "defaults, a built-in model's reply cap); never keys or endpoints",
    )
    baseline_run_id: str | None = Field(
        default=None, description="A model review's baseline run, compared with this one"
    )


class RunPage(BaseModel):
    items: list[RunView]
    next_cursor: str | None


class ArmDetail(BaseModel):
    passes: int
    samples: int
    answers: list[str | None]
    grades: list[dict[str, Any] | None]
    errors: list[str | None]
    cached: list[bool] = Field(default_factory=list, description="Per sample: served from cache")
    cost_usd: float | None = Field(
        default=0.0,
        description="The arm's calls for this case, with the judge calls grading them; "
        "None when a call's price is unknown",
    )


class RetrievedView(BaseModel):
    passed: bool | None
    recall: float = Field(description="Share of the case's gold facts among the passages")
    passages: list[str] = Field(description="The retrieved passages' ids, best first")


class CaseView(BaseModel):
    case_id: str
    label: Label
    confidence: float
    facts_cover_answer: bool | None
    facts_sufficient: bool | None = Field(
        default=None,
        description="The judge's sufficient-context check (asked with a judge_model when the "
        "case fails even with its facts); false makes a behavior label inconclusive",
    )
    facts_reason: str | None = None
    arms: dict[str, ArmDetail]
    retrieved: RetrievedView | None = None


class CasePage(BaseModel):
    items: list[CaseView]
    next_cursor: str | None


def suite_view(record: SuiteRecord) -> SuiteView:
    return SuiteView(
        id=record.id,
        name=record.name,
        description=record.description,
        case_count=record.case_count,
        created_at=record.created_at,
    )


def run_view(run: RunRecord) -> RunView:
    return RunView(
        id=run.id,
        status=run.status,
        suite_id=run.suite_id,
        model=run.model,
        config=run.options,
        progress=Progress(
            calls_done=run.calls_done,
            calls_planned=max(run.calls_planned, run.calls_done),
            calls_cached=run.calls_cached,
            calls_failed=run.calls_failed,
        ),
        verdict=run.verdict,
        error=run.error,
        cancel_reason=run.cancel_reason if run.status == "cancelled" else None,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        callback_url=run.callback_url,
        metadata=run.metadata,
        model_params=run.model_params,
        baseline_run_id=run.baseline_run_id,
    )
