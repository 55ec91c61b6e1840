"""A run's options and the arithmetic planned from them: calls, token estimates, cache keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.diagnosis.suite import FactInjection
from app.llm import ModelEntry


class RunConfig(BaseModel):
    """A run's options, stored with it: the run is reproducible from this and the suite."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    samples: int = Field(default=1, ge=1, le=20)
    candidate_prompt: str | None = None
    judge_model: str | None = None
    max_failure_rate: float = Field(default=0.05, ge=0.0, lt=1.0)
    max_concurrency: int | None = Field(default=None, ge=1)
    seed: int | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    injection: FactInjection = Field(default_factory=FactInjection)
    cache: bool = True
    max_cost_usd: float | None = Field(default=None, gt=0)

    @property
    def deterministic(self) -> bool:
        return self.temperature == 0 and self.samples == 1


def planned_calls(case_count: int, config: RunConfig) -> int:
    """Upper bound before the run: both main arms at full samples (adaptive runs use fewer)."""
    return case_count * 2 * config.samples


DEFAULT_COMPLETION_TOKENS = 256  # a reply's size before it is known, when max_tokens is unset


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int | None) -> int:
    """About four characters a token: enough to plan against rate limits and budgets."""
    prompt = sum(len(m.get("content", "")) for m in messages) // 4 + 4 * len(messages)
    return prompt + (max_tokens or DEFAULT_COMPLETION_TOKENS)


def cache_key(entry: ModelEntry, payload: dict[str, Any]) -> str:
    """Resolved model (without secrets) + parameters + messages + arm + sample index + seed."""
    body = json.dumps({"model": entry.cache_identity(), **payload}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()
