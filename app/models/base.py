"""The seam between the engine and models: the engine holds a `Model` and calls `complete`.

Every model (a provider through litellm, `builtin/reader`, a built-in local model, or a test's
in-process fake) implements this protocol, so the runner never knows which one it is talking to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class ModelError(Exception):
    """The base of the models layer's errors."""


@dataclass(frozen=True)
class Completion:
    """One request to a model."""

    messages: Sequence[Mapping[str, str]]
    temperature: float
    seed: int | None = None
    max_tokens: int | None = None
    timeout: float = 60.0


@dataclass
class CallResult:
    """What a call produced. Provider faults are results (`error_class`), never exceptions."""

    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0
    error_class: str | None = None
    error_message: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error_class is None


@dataclass(frozen=True)
class ModelLimits:
    """What the operator (or a built-in model) declares the endpoint can take."""

    parallel: int | None = None  # requests at once
    rpm: int | None = None
    tpm: int | None = None


class Model(Protocol):
    @property
    def name(self) -> str:
        """The catalog name a run refers to."""

    @property
    def provider_model(self) -> str:
        """The provider's own model id (for pricing)."""

    @property
    def limits(self) -> ModelLimits: ...

    def identity(self) -> dict[str, Any]:
        """What identifies this model's answers for the call cache: no secrets, no limits."""

    async def complete(self, call: Completion) -> CallResult: ...
