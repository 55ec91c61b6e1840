"""Request and response bodies of the public REST contract."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.diagnosis.suite import FactInjection, Suite

MAX_METADATA_BYTES = 16 * 1024


def check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Metadata is echoed in callbacks as JSON: keep it small, and strict JSON (no NaN)."""
    if value is None:
        return None
    try:
        size = len(json.dumps(value, allow_nan=False).encode())
    except ValueError:
        raise ValueError("must be plain JSON (no NaN or Infinity)") from None
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_METADATA_BYTES}")
    return value


class SuiteOut(BaseModel):
    id: str
    name: str
    description: str
    case_count: int
    created_at: datetime


class SuiteDetail(SuiteOut):
    system_prompt: str
    cases: list[dict[str, Any]]


class SuitePage(BaseModel):
    items: list[SuiteOut]
    next_cursor: str | None


class RunRequest(BaseModel):
    """Start a diagnosis. Name a stored suite or send one inline; never an endpoint or a key."""

    model_config = ConfigDict(extra="forbid")

    suite_id: str | None = None
    suite: Suite | None = None
    model: str = Field(min_length=1, description="A model_name from the operator's model list")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    samples: int = Field(default=1, ge=1, le=20, description="Most samples per arm per case")
    candidate_prompt: str | None = Field(default=None, min_length=1)
    judge_model: str | None = None
    max_failure_rate: float = Field(default=0.05, ge=0.0, lt=1.0)
    max_concurrency: int | None = Field(default=None, ge=1, le=256)
    seed: int | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=100_000)
    injection: FactInjection = Field(default_factory=FactInjection)
    cache: bool = Field(default=True, description="false forces fresh model calls")
    max_cost_usd: float | None = Field(
        default=None, gt=0, description="Stop the run cleanly (cancelled, reason budget) here"
    )
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        description="POST the signed verdict here when the run ends (public http(s) hosts, or "
        "hosts in RUNG_CALLBACK_ALLOW_HOSTS)",
    )
    metadata: dict[str, Any] | None = Field(
        default=None, description="Your own fields, stored with the run and echoed in the callback"
    )

    @field_validator("metadata")
    @classmethod
    def _small_plain_json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_metadata(value)

    @model_validator(mode="after")
    def _one_suite(self) -> RunRequest:
        if (self.suite_id is None) == (self.suite is None):
            raise ValueError("give exactly one of suite_id or suite")
        return self


class Progress(BaseModel):
    calls_done: int
    calls_planned: int
    calls_cached: int
    calls_failed: int


class RunOut(BaseModel):
    id: str
    status: str
    suite_id: str
    model: str
    config: dict[str, Any]
    progress: Progress
    verdict: dict[str, Any] | None
    error: str | None
    cancel_reason: str | None = Field(description="request or budget, for cancelled runs")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    callback_url: str | None = None
    metadata: dict[str, Any] | None = None


class ArmEstimate(BaseModel):
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


class RunEstimate(BaseModel):
    cases: int
    calls_planned: int = Field(description="Both main arms at full sampling")
    calls_max: int = Field(description="Including prompt-fix calls if every case needed them")
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = Field(description="None when the model's price is unknown")
    per_arm: dict[str, ArmEstimate]


class ArmDetail(BaseModel):
    passes: int
    samples: int
    answers: list[str | None]
    grades: list[dict[str, Any] | None]
    errors: list[str | None]


class CaseOut(BaseModel):
    case_id: str
    label: str
    confidence: float
    facts_cover_answer: bool | None
    arms: dict[str, ArmDetail]


class CasePage(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None


# --- model-review pipelines ------------------------------------------------------------------


class ReviewAccepted(BaseModel):
    run_id: str
    duplicate: bool = Field(description="true when this delivery id already started the run")


class AttemptOut(BaseModel):
    attempted_at: datetime
    outcome: str = Field(description="delivered, retry, dead or blocked")
    status_code: int | None = Field(description="The receiver's HTTP status, if it answered")
    latency_ms: float
    error: str | None
    response: str | None = Field(description="The start of the receiver's reply (500 chars)")


class DeliveryOut(BaseModel):
    id: str = Field(description="Also the webhook-id header, the same on every attempt")
    run_id: str
    url: str
    status: str = Field(description="pending, delivered, dead (retries spent) or blocked")
    next_attempt_at: datetime | None = Field(description="When pending: the next attempt")
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[AttemptOut]


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


class RunCompletedData(BaseModel):
    run_id: str
    status: str = Field(description="succeeded, failed or cancelled")
    verdict: dict[str, Any] | None = Field(description="As in GET /v1/runs/{id}")
    error: str | None
    metadata: dict[str, Any] | None = Field(description="As given when the run was requested")
    run_url: str


class RunCompletedEvent(BaseModel):
    type: str = Field(description='Always "run.completed"')
    timestamp: datetime = Field(description="When the run ended")
    data: RunCompletedData
