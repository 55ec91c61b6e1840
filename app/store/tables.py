"""The schema: suites and their cases, runs, every model call with its grade, case results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """SQLite forgets time zones; store UTC and hand back aware datetimes everywhere."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class SuiteRow(Base):
    __tablename__ = "suites"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    case_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # sha256 of the suite's content: posting the same suite again returns the stored one.
    content_hash: Mapped[str | None] = mapped_column(
        String(64), nullable=True, unique=True, index=True
    )


class SuiteCaseRow(Base):
    """Cases live in their own rows so a large suite streams instead of loading whole."""

    __tablename__ = "suite_cases"

    suite_id: Mapped[str] = mapped_column(
        ForeignKey("suites.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    suite_id: Mapped[str] = mapped_column(ForeignKey("suites.id"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    # Who executes it: "service" (the server's workers) or "cli" (only the `rung` command
    # that made it, which knows its models; a server never picks up a CLI run).
    executor: Mapped[str] = mapped_column(String(16), default="service", server_default="service")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    calls_planned: Mapped[int] = mapped_column(Integer, default=0)
    calls_done: Mapped[int] = mapped_column(Integer, default=0)
    calls_cached: Mapped[int] = mapped_column(Integer, default=0)
    calls_failed: Mapped[int] = mapped_column(Integer, default=0)
    # The run's cases are split into slices (by position modulo `slices`) that worker
    # processes claim independently, so one run uses every process and every core.
    slices: Mapped[int] = mapped_column(Integer, default=1)
    # Estimated cost of calls started (settled to the real cost as they finish): every slice
    # reserves here before a call, so the budget holds across processes.
    cost_reserved_usd: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Model-review pipelines: where the verdict is POSTed when the run ends, and the caller's
    # own fields, echoed back in that callback. (`metadata` is taken by SQLAlchemy: `meta`.)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)
    # The model's answer-shaping parameters when the run was made (the model list's defaults,
    # a built-in model's reply cap): what the run's answers came from.
    model_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # A model review with a baseline: the run this one is compared with when both have ended.
    # No foreign key: SQLite cannot add one to an existing table without rebuilding it, and a
    # deleted baseline only means there is nothing left to compare with.
    baseline_run_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    comparison_margin: Mapped[float | None] = mapped_column(Float, nullable=True)


class RunSliceRow(Base):
    """A worker's claim on part of a run, kept alive by a lease it renews while it works."""

    __tablename__ = "run_slices"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    slice: Mapped[int] = mapped_column(Integer, primary_key=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CallRow(Base):
    """One model call (or a result reused from the cache), stored the moment it completes."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_slot", "run_id", "case_id", "arm", "sample_index", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(String(200))
    arm: Mapped[str] = mapped_column(String(32))
    sample_index: Mapped[int] = mapped_column(Integer)
    cache_key: Mapped[str] = mapped_column(String(64), index=True)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_class: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    grade: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CaseResultRow(Base):
    __tablename__ = "case_results"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    facts_cover_answer: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    prompt_fix_passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    control_passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # Passes out of scored samples per main arm (None for results stored before they were kept).
    closed_passes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    closed_scored: Mapped[int | None] = mapped_column(Integer, nullable=True)
    open_passes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    open_scored: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The retrieved arm: did it pass, which passages it got, what share of the gold facts.
    retrieved_passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    retrieval_recall: Mapped[float | None] = mapped_column(Float, nullable=True)
    retrieved: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    # The judge's sufficient-context check of the case's facts (None: not asked).
    facts_sufficient: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    facts_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)


class CorpusRow(Base):
    """Passages a retriever searches, with the BM25 index built over them once."""

    __tablename__ = "corpora"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    passage_count: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    index_blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PassageRow(Base):
    __tablename__ = "corpus_passages"

    corpus_id: Mapped[str] = mapped_column(
        ForeignKey("corpora.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    passage_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    source_case: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ComparisonRow(Base):
    """Two runs on the same suite, paired case by case, with the decision against a margin."""

    __tablename__ = "comparisons"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    baseline_run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    candidate_run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    margin: Mapped[float] = mapped_column(Float)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- model-review pipelines: inbound idempotency and the callback outbox -----------------------


class InboundDeliveryRow(Base):
    """A signed webhook delivery that started a run: the same delivery id never starts two."""

    __tablename__ = "webhook_deliveries_in"

    delivery_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CallbackRow(Base):
    """The outbox: a verdict callback, written in the transaction that ends its run.

    `id` is also the `webhook-id` header, the same on every attempt so receivers can dedupe.
    `payload` is the event's data frozen at the end of the run (run_url is added when sent).
    """

    __tablename__ = "callbacks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), unique=True, index=True
    )
    url: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending delivered dead blocked
    failures: Mapped[int] = mapped_column(Integer, default=0)  # since the last manual retry
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CallbackAttemptRow(Base):
    """One delivery attempt, for the delivery log: never a header, a secret or a signature."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    callback_id: Mapped[str] = mapped_column(
        ForeignKey("callbacks.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16))  # delivered retry dead blocked
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    response: Mapped[str | None] = mapped_column(Text, nullable=True)  # truncated body
