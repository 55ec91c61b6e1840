"""An in-process model behind the `Model` seam, for fast engine tests (no HTTP, no litellm).

    model = FakeModel("fake", lambda call: "Paris")
    rung.models.add(model)          # the registry serves it under its name

It records every completion it was asked for, can fail on demand (as a provider fault, a result,
never an exception: the seam's contract), and can hold calls until released.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.models.base import CallResult, Completion, ModelLimits
from app.models.catalog import ModelEntry

Answer = Callable[[Completion], str]


def entry_for(name: str) -> ModelEntry:
    """A catalog entry for a fake, so the service accepts runs that name it."""
    return ModelEntry(model_name=name, litellm_params={"model": f"fake/{name}"})


@dataclass
class FakeModel:
    fake_name: str
    answer: Answer
    parallel: int | None = None
    fail_with: str | None = None  # an error class: every call fails with it
    calls: list[Completion] = field(default_factory=list)
    gate: asyncio.Event | None = None  # when set, calls wait for it

    @property
    def name(self) -> str:
        return self.fake_name

    @property
    def provider_model(self) -> str:
        return f"fake/{self.fake_name}"

    @property
    def limits(self) -> ModelLimits:
        return ModelLimits(parallel=self.parallel)

    def identity(self) -> dict[str, Any]:
        return {"model": self.provider_model}

    async def complete(self, call: Completion) -> CallResult:
        self.calls.append(call)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            return CallResult(text=None, error_class=self.fail_with, error_message="scripted")
        text = self.answer(call)
        return CallResult(text=text, prompt_tokens=10, completion_tokens=len(text.split()))


def first_fact(call: Completion) -> str:
    """Knows nothing closed-book; with facts, answers with the first one."""
    for message in call.messages:
        for line in str(message.get("content", "")).splitlines():
            if line.startswith("- "):
                return line[2:]
    return "I don't know."
