"""The inbound model-review webhook as a service: one signed delivery starts at most one run.

The router has already checked the signature (app/pipelines/signing.py); this parses the
payload, names the suite, and stores the run queued together with the delivery id, in one
transaction, so a redelivery (or a concurrent duplicate) gets the same run back and starts
nothing.
"""

from __future__ import annotations

import json
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.diagnosis.options import RunOptions
from app.diagnosis.suite import errors_from_validation
from app.models.catalog import ModelCatalog
from app.pipelines.signing import VerifiedDelivery
from app.pipelines.ssrf import CallbackPolicy
from app.service.commands import (
    MAX_URL_LENGTH,
    Baseline,
    StartRun,
    check_metadata,
    refuse_nul,
)
from app.service.errors import InvalidRequestError, ServiceError
from app.service.runs import start_run
from app.store import Store
from app.store.errors import DuplicateDeliveryError

EVENT_TYPE = "review.requested"


class ReviewRequestData(RunOptions):
    """What to diagnose: the run options of POST /v1/runs, with the suite named by id or name."""

    model: str = Field(min_length=1, description="A model_name from the operator's model list")
    suite_id: str | None = Field(default=None, description="A suite stored with POST /v1/suites")
    suite_name: str | None = Field(
        default=None, min_length=1, description="Or its name: the newest suite of that name"
    )
    callback_url: str | None = Field(
        default=None, max_length=MAX_URL_LENGTH, description="Where the signed verdict is POSTed"
    )
    metadata: dict[str, Any] | None = Field(
        default=None, description="Stored with the run and echoed in the callback"
    )
    baseline_model: str | None = Field(
        default=None,
        min_length=1,
        description="Also run this model (the current one) on the suite; the callback then "
        "carries the comparison, so the pipeline can gate on 'not worse'",
    )
    baseline_run_id: str | None = Field(
        default=None, min_length=1, description="Or compare with this run, made before"
    )
    margin: float = Field(
        default=0.05, gt=0, lt=1, description="The comparison's margin (0.05 is 5 points)"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data)

    @field_validator("metadata")
    @classmethod
    def _small_plain_json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_metadata(value)

    @model_validator(mode="after")
    def _one_suite(self) -> ReviewRequestData:
        if (self.suite_id is None) == (self.suite_name is None):
            raise ValueError("give exactly one of suite_id or suite_name")
        if self.baseline_model is not None and self.baseline_run_id is not None:
            raise ValueError("give at most one of baseline_model or baseline_run_id")
        return self

    def baseline(self) -> Baseline | None:
        if self.baseline_model is None and self.baseline_run_id is None:
            return None
        return Baseline(model=self.baseline_model, run_id=self.baseline_run_id, margin=self.margin)


class ReviewRequested(BaseModel):
    """The envelope (Standard Webhooks style); other top-level fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["review.requested"]
    data: ReviewRequestData


class PayloadError(ServiceError, ValueError):
    """A well-signed delivery whose body cannot be served: 400 (not JSON) or 422 (invalid)."""

    def __init__(self, status: int, errors: list[dict[str, str]]) -> None:
        super().__init__(errors)
        self.status = status
        self.errors = errors


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _located(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    problems = errors_from_validation(exc, prefix)
    return [{"loc": e.loc or "body", "msg": e.msg} for e in problems]


def parse_review(body: bytes) -> ReviewRequestData:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(400, [{"loc": "body", "msg": "the body is not UTF-8"}]) from None
    try:
        parsed = json.loads(text, parse_constant=_no_constants)
    except ValueError:
        raise PayloadError(400, [{"loc": "body", "msg": "the body is not valid JSON"}]) from None
    try:
        return ReviewRequested.model_validate(parsed).data
    except ValidationError as exc:
        raise PayloadError(422, _located(exc)) from None


async def accept_review(
    store: Store,
    catalog: ModelCatalog,
    callbacks: CallbackPolicy,
    delivery: VerifiedDelivery,
    body: bytes,
    slices: int = 1,
) -> tuple[str, bool]:
    """(run id, whether this delivery started it). Raises PayloadError or InvalidRequestError."""
    existing = await store.run_for_delivery(delivery.delivery_id)
    if existing is not None:
        return existing, False
    review = parse_review(body)
    suite_id = review.suite_id
    if review.suite_name is not None:
        suite = await store.find_suite_by_name(review.suite_name)
        if suite is None:
            raise InvalidRequestError(
                "data.suite_name",
                f"no suite named {review.suite_name!r}; store it with POST /v1/suites first",
            )
        suite_id = suite.id
    review_only = {"suite_id", "suite_name", "baseline_model", "baseline_run_id", "margin"}
    command = StartRun.model_validate(
        {"suite_id": suite_id, **review.model_dump(exclude=review_only)}
    )
    try:
        run = await start_run(
            store,
            catalog,
            command,
            slices,
            callbacks=callbacks,
            delivery=delivery,
            baseline=review.baseline(),
        )
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"data.{exc.loc}", exc.msg) from None
    except DuplicateDeliveryError:
        # A concurrent duplicate stored the same delivery id first: its run is the answer.
        existing = await store.run_for_delivery(delivery.delivery_id)
        if existing is None:
            raise
        return existing, False
    return run.id, True
