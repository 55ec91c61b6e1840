"""The aggregate verdict: counts, intervals, the lift, and the decision rules of design §3."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from app.diagnosis.labels import LABELS, Label
from app.diagnosis.stats import (
    mcnemar_exact_p,
    mcnemar_mid_p,
    minimum_detectable_lift,
    newcombe_paired_interval,
    wilson_interval,
)

Diagnosis = Literal["no_gap", "knowledge", "behavior", "mixed", "inconclusive"]
NextRung = Literal[
    "prompt", "prompt_fix", "retrieval", "retrieval_and_prompt_fix", "adapter",
    "retrieval_and_adapter",
]  # fmt: skip

MIN_CASES = 10  # below this, report descriptives only
ALPHA = 0.05
MAX_CASES_TO_SUGGEST = 5000


class Rate(BaseModel):
    passes: int
    n: int
    rate: float | None
    low: float
    high: float


class Lift(BaseModel):
    value: float | None
    low: float
    high: float
    mid_p: float
    exact_p: float
    significant: bool


class Share(BaseModel):
    value: float | None
    low: float
    high: float


class PromptFixResult(BaseModel):
    cases: int
    prompt_fix_passes: int
    control_passes: int
    fixed: int  # pass with the candidate prompt, fail on the fresh control
    broken: int  # the reverse
    mid_p: float
    remaining_failures: int
    provably_fails: bool


class Verdict(BaseModel):
    diagnosis: Diagnosis
    next_rung: NextRung | None
    summary: str = ""
    counts: dict[str, int]
    labelled: int
    insufficient_evidence: bool
    max_failure_rate: float
    pass_rates: dict[str, Rate]
    closed_book_provably_fails: bool
    open_book_provably_fails: bool
    lift: Lift
    knowledge_share: Share
    minimum_detectable_lift: float | None
    prompt_fix: PromptFixResult | None = None
    cases_to_decide: int | None = None
    facts_missing_answer: list[str] = []
    distraction_cases: list[str] = []
    partial: bool = False


@dataclass
class CaseOutcome:
    """What the verdict needs from one case."""

    case_id: str
    label: Label
    facts_cover_answer: bool | None = None
    # For cases that ran the prompt-fix arm and its fresh open-book control:
    prompt_fix_passed: bool | None = None
    control_passed: bool | None = None


@dataclass
class _Table:
    a: int = 0  # no_gap
    b: int = 0  # distraction
    c: int = 0  # knowledge
    d: int = 0  # behavior
    extra: Counter[str] = field(default_factory=Counter)

    @property
    def n(self) -> int:
        return self.a + self.b + self.c + self.d


def rate_of(passes: int, n: int) -> Rate:
    """A pass rate with its Wilson 95% interval."""
    low, high = wilson_interval(passes, n)
    return Rate(passes=passes, n=n, rate=passes / n if n else None, low=low, high=high)


def provably_fails(failures: int, n: int, threshold: float) -> bool:
    """A rung provably fails when the Wilson lower bound of its failure rate exceeds t."""
    return n > 0 and wilson_interval(failures, n)[0] > threshold


def _decide(
    t: _Table, threshold: float, prompt_fix: PromptFixResult | None
) -> tuple[Diagnosis, NextRung | None]:
    closed_fails = provably_fails(t.c + t.d, t.n, threshold)
    open_fails = provably_fails(t.b + t.d, t.n, threshold)
    # Only a lift in the helpful direction points to retrieval; facts that hurt are distraction.
    lift_significant = t.c > t.b and mcnemar_mid_p(t.b, t.c) < ALPHA
    fix_ran = prompt_fix is not None and prompt_fix.cases > 0
    fix_worked = fix_ran and prompt_fix is not None and not prompt_fix.provably_fails
    if not closed_fails:
        return "no_gap", "prompt"
    if lift_significant and not open_fails:
        return "knowledge", "retrieval"
    if open_fails and not lift_significant:
        if not fix_ran:
            return "behavior", "prompt_fix"
        return "behavior", "prompt" if fix_worked else "adapter"
    if lift_significant and open_fails:
        if not fix_ran:
            return "mixed", "retrieval_and_prompt_fix"
        return "mixed", "retrieval" if fix_worked else "retrieval_and_adapter"
    return "inconclusive", None


def _cases_to_decide(t: _Table, threshold: float) -> int | None:
    """How many cases in all would decide it, if the observed proportions held."""
    if t.n == 0:
        return None
    for total in range(max(t.n + 1, MIN_CASES), MAX_CASES_TO_SUGGEST + 1):
        s = total / t.n
        scaled = _Table(round(t.a * s), round(t.b * s), round(t.c * s), round(t.d * s))
        if scaled.n >= MIN_CASES and _decide(scaled, threshold, None)[0] != "inconclusive":
            return total
    return None


def prompt_fix_result(
    outcomes: Iterable[CaseOutcome], t: _Table, threshold: float
) -> PromptFixResult:
    """Score the candidate prompt against the fresh control, never against the selection run.

    Cases picked because they failed partly pass on any re-run, so only the fix's passes
    beyond the control's count as failures it removed.
    """
    pairs = [
        (o.prompt_fix_passed, o.control_passed)
        for o in outcomes
        if o.prompt_fix_passed is not None and o.control_passed is not None
    ]
    fixed = sum(1 for pf, ctrl in pairs if pf and not ctrl)
    broken = sum(1 for pf, ctrl in pairs if ctrl and not pf)
    pf_passes = sum(1 for pf, _ in pairs if pf)
    ctrl_passes = sum(1 for _, ctrl in pairs if ctrl)
    remaining = t.b + t.d - max(0, pf_passes - ctrl_passes)
    return PromptFixResult(
        cases=len(pairs),
        prompt_fix_passes=pf_passes,
        control_passes=ctrl_passes,
        fixed=fixed,
        broken=broken,
        mid_p=mcnemar_mid_p(broken, fixed),
        remaining_failures=remaining,
        provably_fails=provably_fails(remaining, t.n, threshold),
    )


def build_verdict(
    outcomes: list[CaseOutcome], max_failure_rate: float, prompt_fix_ran: bool = False
) -> Verdict:
    t = _Table()
    counts: Counter[str] = Counter(o.label for o in outcomes)
    t.a, t.b, t.c, t.d = (
        counts["no_gap"],
        counts["distraction"],
        counts["knowledge"],
        counts["behavior"],
    )
    fix = prompt_fix_result(outcomes, t, max_failure_rate) if prompt_fix_ran else None
    insufficient = t.n < MIN_CASES
    if insufficient:
        diagnosis: Diagnosis = "inconclusive"
        rung: NextRung | None = None
    else:
        diagnosis, rung = _decide(t, max_failure_rate, fix)
    lift_low, lift_high = newcombe_paired_interval(t.a, t.b, t.c, t.d)
    mid_p = mcnemar_mid_p(t.b, t.c)
    share_low, share_high = wilson_interval(t.c, t.c + t.d)
    pass_rates = {
        "closed_book": rate_of(t.a + t.b, t.n),
        "open_book": rate_of(t.a + t.c, t.n),
    }
    if fix is not None:
        pass_rates["prompt_fix"] = rate_of(t.n - fix.remaining_failures, t.n)
    return Verdict(
        diagnosis=diagnosis,
        next_rung=rung,
        counts={label: counts[label] for label in LABELS} | {"total": len(outcomes)},
        labelled=t.n,
        insufficient_evidence=insufficient,
        max_failure_rate=max_failure_rate,
        pass_rates=pass_rates,
        closed_book_provably_fails=provably_fails(t.c + t.d, t.n, max_failure_rate),
        open_book_provably_fails=provably_fails(t.b + t.d, t.n, max_failure_rate),
        lift=Lift(
            value=(t.c - t.b) / t.n if t.n else None,
            low=lift_low,
            high=lift_high,
            mid_p=mid_p,
            exact_p=mcnemar_exact_p(t.b, t.c),
            significant=mid_p < ALPHA,  # either direction; only a positive one means retrieval
        ),
        knowledge_share=Share(
            value=t.c / (t.c + t.d) if t.c + t.d else None, low=share_low, high=share_high
        ),
        minimum_detectable_lift=minimum_detectable_lift(t.n) if t.n else None,
        prompt_fix=fix,
        cases_to_decide=(
            _cases_to_decide(t, max_failure_rate) if diagnosis == "inconclusive" else None
        ),
        facts_missing_answer=[o.case_id for o in outcomes if o.facts_cover_answer is False],
        distraction_cases=[o.case_id for o in outcomes if o.label == "distraction"],
    )
