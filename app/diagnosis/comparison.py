"""Comparing two runs on the same suite: paired case by case, per arm, against a margin.

Per arm, each case is one of: both pass, fixed (the candidate passes where the baseline
failed), regressed (the reverse), both fail. The paired difference of pass rates (candidate -
baseline) gets Newcombe's interval and McNemar's mid-p. Against a margin m: `equivalent` when
the interval lies inside ±m, `better` / `worse` when it lies entirely beyond +m / -m, else
`inconclusive`, with how many cases would decide it if the pattern held. A candidate is
`not_worse` on an arm when the interval's lower end is above -m (non-inferiority).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from app.diagnosis.stats import mcnemar_mid_p, newcombe_paired_interval

Decision = Literal["equivalent", "better", "worse", "inconclusive"]
MAIN_ARMS = ("closed_book", "open_book")
MAX_CASES_TO_SUGGEST = 5000


@dataclass(frozen=True)
class CaseArms:
    """One case of one run: per arm, did it pass (None: nothing scored, not paired)."""

    case_id: str
    passed: Mapping[str, bool | None]


class ArmComparison(BaseModel):
    arm: str
    n: int = Field(description="Cases scored in both runs on this arm")
    both_pass: int
    fixed: int = Field(description="Pass with the candidate, fail with the baseline")
    regressed: int = Field(description="Fail with the candidate, pass with the baseline")
    both_fail: int
    baseline_rate: float | None
    candidate_rate: float | None
    difference: float | None = Field(description="Candidate minus baseline pass rate")
    low: float
    high: float
    mid_p: float
    decision: Decision
    not_worse: bool = Field(description="The interval's lower end is above -margin")
    cases_to_decide: int | None = None


class Efficiency(BaseModel):
    """What one correct answer cost a run, over its main arms."""

    correct: int
    tokens_per_correct: float | None
    latency_ms_per_correct: float | None
    cost_usd_per_correct: float | None


@dataclass(frozen=True)
class RunSide:
    """What the comparison needs of one run beyond its cases."""

    model: str
    parameters: int | None  # declared model size, when known
    tokens: int
    latency_ms: float
    cost_usd: float | None


def decide(low: float, high: float, margin: float) -> Decision:
    if -margin < low and high < margin:
        return "equivalent"
    if low > margin:
        return "better"
    if high < -margin:
        return "worse"
    return "inconclusive"


def _counts(pairs: Sequence[tuple[bool, bool]]) -> tuple[int, int, int, int]:
    """(both pass, regressed, fixed, both fail) with baseline first in each pair."""
    a = sum(1 for base, cand in pairs if base and cand)
    b = sum(1 for base, cand in pairs if base and not cand)
    c = sum(1 for base, cand in pairs if not base and cand)
    return a, b, c, len(pairs) - a - b - c


def _cases_to_decide(a: int, b: int, c: int, d: int, margin: float) -> int | None:
    """Cases in all that would decide it if the observed proportions held."""
    n = a + b + c + d
    if n == 0:
        return None
    for total in range(n + 1, MAX_CASES_TO_SUGGEST + 1):
        s = total / n
        low, high = newcombe_paired_interval(round(a * s), round(b * s), round(c * s), round(d * s))
        if decide(low, high, margin) != "inconclusive":
            return total
    return None


def compare_arm(arm: str, pairs: Sequence[tuple[bool, bool]], margin: float) -> ArmComparison:
    a, b, c, d = _counts(pairs)
    n = len(pairs)
    low, high = newcombe_paired_interval(a, b, c, d)
    decision = decide(low, high, margin) if n else "inconclusive"
    return ArmComparison(
        arm=arm,
        n=n,
        both_pass=a,
        fixed=c,
        regressed=b,
        both_fail=d,
        baseline_rate=(a + b) / n if n else None,
        candidate_rate=(a + c) / n if n else None,
        difference=(c - b) / n if n else None,
        low=low,
        high=high,
        mid_p=mcnemar_mid_p(b, c),
        decision=decision,
        not_worse=bool(n) and low > -margin,
        cases_to_decide=_cases_to_decide(a, b, c, d, margin)
        if decision == "inconclusive"
        else None,
    )


def pair_arms(
    baseline: Sequence[CaseArms], candidate: Sequence[CaseArms], arms: Sequence[str]
) -> dict[str, list[tuple[str, bool, bool]]]:
    """Per arm: (case id, baseline passed, candidate passed) for cases scored in both."""
    by_id = {case.case_id: case for case in candidate}
    paired: dict[str, list[tuple[str, bool, bool]]] = {arm: [] for arm in arms}
    for base in baseline:
        cand = by_id.get(base.case_id)
        if cand is None:
            continue
        for arm in arms:
            b, c = base.passed.get(arm), cand.passed.get(arm)
            if b is not None and c is not None:
                paired[arm].append((base.case_id, b, c))
    return paired


def efficiency(side: RunSide, correct: int) -> Efficiency:
    return Efficiency(
        correct=correct,
        tokens_per_correct=round(side.tokens / correct, 1) if correct else None,
        latency_ms_per_correct=round(side.latency_ms / correct, 1) if correct else None,
        cost_usd_per_correct=(
            round(side.cost_usd / correct, 8) if correct and side.cost_usd is not None else None
        ),
    )
