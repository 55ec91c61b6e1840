"""What a user asks for: commands in. The REST API takes them as request bodies as they are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator, model_validator

from app.diagnosis.options import RunOptions
from app.diagnosis.suite import NUL_MESSAGE, FieldError, LocatedError, Suite, first_nul

MAX_METADATA_BYTES = 16 * 1024
MAX_URL_LENGTH = 2048


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


def refuse_nul(data: Any, skip: tuple[str, ...] = ()) -> Any:
    """A before-validator: raise where a NUL character is (the Suite checks its own fields)."""
    if isinstance(data, dict):
        where = first_nul({k: v for k, v in data.items() if k not in skip})
        if where is not None:
            raise LocatedError([FieldError(where, NUL_MESSAGE)])
    return data


class StartRun(RunOptions):
    """Start a diagnosis. Name a stored suite or send one inline; never an endpoint or a key."""

    suite_id: str | None = Field(default=None, description="A suite stored with POST /v1/suites")
    suite: Suite | None = Field(default=None, description="Or the suite itself, inline")
    model: str = Field(min_length=1, description="A model_name from the operator's model list")
    callback_url: str | None = Field(
        default=None,
        max_length=MAX_URL_LENGTH,
        description="POST the signed verdict here when the run ends (public http(s) hosts, or "
        "hosts in RUNG_CALLBACK_ALLOW_HOSTS)",
    )
    metadata: dict[str, Any] | None = Field(
        default=None, description="Your own fields, stored with the run and echoed in the callback"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data, skip=("suite",))

    @field_validator("metadata")
    @classmethod
    def _small_plain_json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_metadata(value)

    @model_validator(mode="after")
    def _one_suite(self) -> StartRun:
        if (self.suite_id is None) == (self.suite is None):
            raise ValueError("give exactly one of suite_id or suite")
        return self

    def options(self) -> RunOptions:
        """The diagnosis options alone: what is stored as the run's config."""
        return RunOptions.model_validate(self.model_dump(include=set(RunOptions.model_fields)))


class EstimateRun(StartRun):
    """Price a run before starting it: the same body, and optionally a lift to plan for."""

    target_lift: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="A lift (0-1) to plan for: how many cases or samples would detect it",
    )


@dataclass(frozen=True)
class Baseline:
    """What a model review compares its run with: a model to run too, or a run made before."""

    model: str | None = None
    run_id: str | None = None
    margin: float = 0.05
