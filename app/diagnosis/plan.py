"""The arithmetic planned from a run's options: calls, token estimates, costs, cache keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from app.diagnosis.options import RunOptions
from app.diagnosis.power import Power, plan_power
from app.diagnosis.suite import Arm, Case, build_messages

DEFAULT_COMPLETION_TOKENS = 256  # a reply's size before it is known, when max_tokens is unset

Prices = tuple[float, float]  # USD per (prompt, completion) token


def calls_per_case(options: RunOptions) -> int:
    """Both main arms (and the retrieved arm, if asked) at full samples."""
    return (3 if options.retrieval is not None else 2) * options.samples


def planned_calls(case_count: int, options: RunOptions) -> int:
    """Upper bound before the run: every planned arm at full samples (adaptive runs use fewer;
    prompt-fix calls are added as the cases that need them appear)."""
    return case_count * calls_per_case(options)


def estimate_tokens(messages: Sequence[Mapping[str, str]], max_tokens: int | None) -> int:
    """About four characters a token: enough to plan against rate limits and budgets."""
    prompt = sum(len(m.get("content", "")) for m in messages) // 4 + 4 * len(messages)
    return prompt + (max_tokens or DEFAULT_COMPLETION_TOKENS)


def estimated_cost(prompt_tokens: int, completion_tokens: int, prices: Prices) -> float:
    return prompt_tokens * prices[0] + completion_tokens * prices[1]


def cache_key(model_identity: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    """Resolved model (without secrets or limits) + parameters + messages + arm + sample + seed."""
    body = json.dumps({"model": model_identity, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


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
    power: Power = Field(description="What lift this suite can prove at these samples")


class Estimator:
    """Adds up what a run would send, case by case (suites are streamed, not loaded whole).

    Calls assume full sampling (adaptive runs use fewer); prompt-fix calls are an upper bound,
    since only the cases that fail with facts get them.
    """

    def __init__(
        self,
        system_prompt: str,
        options: RunOptions,
        prices: Prices | None,
        target_lift: float | None = None,
    ) -> None:
        self.system_prompt = system_prompt
        self.options = options
        self.prices = prices
        self.target_lift = target_lift
        arms: tuple[Arm, ...] = ("closed_book", "open_book")
        if options.candidate_prompt:
            arms += ("prompt_fix", "open_book_control")
        if options.retrieval is not None:
            arms += ("retrieved",)
        self.per_arm = {arm: ArmEstimate() for arm in arms}
        self.cases = 0

    def add(self, case: Case) -> None:
        self.cases += 1
        options = self.options
        reply = options.max_tokens or DEFAULT_COMPLETION_TOKENS
        for arm, estimate in self.per_arm.items():
            # Retrieved passages are not known before the run: the facts stand in for them.
            messages = build_messages(
                self.system_prompt, case, arm, options.injection, options.candidate_prompt,
                case.facts,
            )  # fmt: skip
            total = estimate_tokens(messages, options.max_tokens)
            estimate.calls += options.samples
            estimate.prompt_tokens += (total - reply) * options.samples
            estimate.completion_tokens += reply * options.samples

    def result(self) -> RunEstimate:
        for estimate in self.per_arm.values():
            if self.prices is not None:
                cost = estimated_cost(
                    estimate.prompt_tokens, estimate.completion_tokens, self.prices
                )
                estimate.cost_usd = round(cost, 6)
        costs = [e.cost_usd for e in self.per_arm.values()]
        return RunEstimate(
            cases=self.cases,
            calls_planned=planned_calls(self.cases, self.options),
            calls_max=sum(e.calls for e in self.per_arm.values()),
            prompt_tokens=sum(e.prompt_tokens for e in self.per_arm.values()),
            completion_tokens=sum(e.completion_tokens for e in self.per_arm.values()),
            cost_usd=None
            if any(c is None for c in costs)
            else round(sum(c or 0 for c in costs), 6),
            per_arm=self.per_arm,
            power=plan_power(
                self.cases, self.options.samples, self.options.temperature, self.target_lift
            ),
        )
