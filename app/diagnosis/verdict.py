"""The aggregate verdict: counts, intervals, the lift, and the decision rules.

One sample per arm (and every run at temperature 0 with one sample): the paired 2x2 table of
labels, with Wilson, Newcombe and McNemar. Repeated samples: the same rules over the clustered
aggregate of per-case pass rates (app.diagnosis.sampled), since each label is then an
estimate, not an observation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from app.diagnosis.labels import LABELS
from app.diagnosis.rules import (
    ALPHA,
    MAX_CASES_TO_SUGGEST,
    MIN_CASES,
    decide_rung,
    prompt_fix_result,
    provably_fails,
    rate_of,
)
from app.diagnosis.sampled import apply_sampled
from app.diagnosis.stats import (
    mcnemar_exact_p,
    mcnemar_mid_p,
    minimum_detectable_lift,
    newcombe_paired_interval,
    wilson_interval,
)
from app.diagnosis.verdict_types import (
    CaseOutcome,
    ClusteredAggregate,
    Diagnosis,
    Lift,
    NextRung,
    PromptFixResult,
    Rate,
    Share,
    Verdict,
)

__all__ = [
    "MIN_CASES",
    "CaseOutcome",
    "ClusteredAggregate",
    "Diagnosis",
    "Lift",
    "NextRung",
    "PromptFixResult",
    "Rate",
    "Share",
    "Verdict",
    "build_verdict",
    "provably_fails",
    "rate_of",
]


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


def _decide(
    t: _Table, threshold: float, prompt_fix: PromptFixResult | None
) -> tuple[Diagnosis, NextRung | None]:
    # Only a lift in the helpful direction points to retrieval; facts that hurt are distraction.
    return decide_rung(
        provably_fails(t.c + t.d, t.n, threshold),
        provably_fails(t.b + t.d, t.n, threshold),
        t.c > t.b and mcnemar_mid_p(t.b, t.c) < ALPHA,
        prompt_fix,
    )


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


def build_verdict(
    outcomes: list[CaseOutcome],
    max_failure_rate: float,
    prompt_fix_ran: bool = False,
    samples: int = 1,
) -> Verdict:
    """The verdict; with `samples` > 1 the rules run on the clustered per-case pass rates."""
    t = _Table()
    counts: Counter[str] = Counter(o.label for o in outcomes)
    t.a, t.b, t.c, t.d = (
        counts["no_gap"],
        counts["distraction"],
        counts["knowledge"],
        counts["behavior"],
    )
    fix = prompt_fix_result(outcomes, t.b + t.d, t.n, max_failure_rate) if prompt_fix_ran else None
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
    verdict = Verdict(
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
            p_value=mid_p,
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
        facts_insufficient=[o.case_id for o in outcomes if o.facts_sufficient is False],
        distraction_cases=[o.case_id for o in outcomes if o.label == "distraction"],
    )
    if samples > 1:
        apply_sampled(verdict, outcomes, samples, prompt_fix_ran)
    return verdict
