"""What the store hands out and takes in: plain records. No ORM row leaves `app/store/`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.diagnosis.options import RunOptions
from app.diagnosis.usage import RunVerdict

TERMINAL = ("succeeded", "failed", "cancelled")
LIVE = ("queued", "running")


@dataclass(frozen=True)
class SuiteRecord:
    id: str
    name: str
    description: str
    system_prompt: str
    case_count: int
    created_at: datetime


@dataclass(frozen=True)
class RunRecord:
    id: str
    suite_id: str
    model: str
    options: RunOptions
    status: str
    executor: str  # "service": the server's workers run it; "cli": only the CLI that made it
    cancel_requested: bool
    cancel_reason: str | None
    error: str | None
    verdict: RunVerdict | None
    calls_planned: int
    calls_done: int
    calls_cached: int
    calls_failed: int
    slices: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    callback_url: str | None
    metadata: dict[str, Any] | None
    model_params: dict[str, Any] | None = None
    baseline_run_id: str | None = None
    comparison_margin: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class ArmTallies:
    """Passes out of scored samples, per main arm (None: stored before these were kept)."""

    closed_passes: int | None = None
    closed_scored: int | None = None
    open_passes: int | None = None
    open_scored: int | None = None


@dataclass(frozen=True)
class RetrievedArm:
    """What the retrieved arm did for one case."""

    passed: bool | None  # None: nothing scored
    recall: float  # the share of the case's gold facts among the retrieved passages
    passages: list[str]  # the retrieved passages' ids, best first


@dataclass(frozen=True)
class CaseResultRecord:
    position: int
    case_id: str
    label: str
    confidence: float
    facts_cover_answer: bool | None
    prompt_fix_passed: bool | None
    control_passed: bool | None
    tallies: ArmTallies = field(default_factory=ArmTallies)
    retrieved: RetrievedArm | None = None
    facts_sufficient: bool | None = None  # the judge's sufficient-context check, if asked
    facts_reason: str | None = None


@dataclass(frozen=True)
class CallRecord:
    """A stored model call, as the evidence shows it."""

    case_id: str
    arm: str
    sample_index: int
    cache_key: str
    answer: str | None
    grade: dict[str, Any] | None
    error_class: str | None
    error_message: str | None
    cached: bool
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float


@dataclass(frozen=True)
class StoredCall:
    """What a resumed run needs of a stored call: its result, not the whole record."""

    passed: bool | None  # None: nothing scored (an error, or an unreadable judge reply)
    ok: bool
    cost_usd: float | None
    reason: str | None = None  # the grade's reason


@dataclass
class NewCall:
    """A call result to store (or one served from the cache)."""

    arm: str
    cache_key: str
    case_id: str = ""
    sample_index: int = 0
    cached: bool = False
    answer: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    grade: dict[str, Any] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0


@dataclass(frozen=True)
class NewCaseResult:
    position: int
    case_id: str
    label: str
    confidence: float
    facts_cover_answer: bool | None
    prompt_fix_passed: bool | None = None
    control_passed: bool | None = None
    tallies: ArmTallies = field(default_factory=ArmTallies)
    retrieved: RetrievedArm | None = None
    facts_sufficient: bool | None = None
    facts_reason: str | None = None


@dataclass(frozen=True)
class CorpusRecord:
    id: str
    name: str
    passage_count: int
    created_at: datetime


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    source_case: str | None = None


@dataclass(frozen=True)
class ComparisonRecord:
    id: str
    baseline_run_id: str
    candidate_run_id: str
    margin: float
    result: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class AttemptRecord:
    attempted_at: datetime
    outcome: str  # delivered retry dead blocked
    status_code: int | None
    latency_ms: float
    error: str | None
    response: str | None


@dataclass(frozen=True)
class CallbackRecord:
    id: str
    run_id: str
    url: str
    payload: dict[str, Any]
    status: str
    failures: int
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[AttemptRecord] = field(default_factory=list)


def passed_from_grade(grade: dict[str, Any] | None) -> bool | None:
    """A stored grade as a sample result: None when nothing was scored."""
    if not grade or grade.get("kind") == "unscored":
        return None
    return bool(grade.get("passed"))
