"""What a run spent, and the run's verdict with it: the diagnosis plus calls, tokens and cost."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field

from app.diagnosis.retrieval import RetrievalResult
from app.diagnosis.verdict import Verdict


class ArmUsage(BaseModel):
    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = Field(default=0.0, description="None when a call's price is unknown")
    latency_ms: float = Field(default=0.0, description="Summed over the calls (cached: 0)")


class Usage(ArmUsage):
    per_arm: dict[str, ArmUsage] = Field(default_factory=dict)


def total_usage(per_arm: Mapping[str, ArmUsage]) -> Usage:
    costs = [u.cost_usd for u in per_arm.values()]
    return Usage(
        calls=sum(u.calls for u in per_arm.values()),
        cached_calls=sum(u.cached_calls for u in per_arm.values()),
        prompt_tokens=sum(u.prompt_tokens for u in per_arm.values()),
        completion_tokens=sum(u.completion_tokens for u in per_arm.values()),
        cost_usd=None if any(c is None for c in costs) else round(sum(c or 0.0 for c in costs), 6),
        latency_ms=round(sum(u.latency_ms for u in per_arm.values()), 1),
        per_arm=dict(per_arm),
    )


class Sampling(BaseModel):
    samples: int = Field(description="Most samples per arm per case")
    calls_used: int = Field(description="Calls the two main arms made")
    calls_fixed_design: int = Field(description="What fixed sampling at `samples` would make")


class RunVerdict(Verdict):
    """A finished run's verdict, as stored and served."""

    usage: Usage
    sampling: Sampling
    retrieval: RetrievalResult | None = Field(
        default=None, description="With the retrieved arm: will retrieval actually fix it?"
    )
