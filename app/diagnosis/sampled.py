"""The verdict of a sampled run: the decision rules over the clustered per-case pass rates."""

from __future__ import annotations

from app.diagnosis.clustered import Aggregate, ArmStats, aggregate, knowledge_share, noise_split
from app.diagnosis.options import MAX_SAMPLES
from app.diagnosis.rules import (
    MAX_CASES_TO_SUGGEST,
    MIN_CASES,
    decide_rung,
    prompt_fix_result,
    rate_of,
)
from app.diagnosis.stats import minimum_detectable_lift
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


def _decide_sampled(
    agg: Aggregate, threshold: float, prompt_fix: PromptFixResult | None
) -> tuple[Diagnosis, NextRung | None]:
    """The same rules over the clustered aggregate: an arm provably fails when the Wilson lower
    bound of its failure rate (1 - the upper bound of its pass rate) exceeds t."""
    return decide_rung(
        1 - agg.closed.interval()[1] > threshold,
        1 - agg.open.interval()[1] > threshold,
        agg.lift_limits()[0] > 0,
        prompt_fix,
    )


def _cases_to_decide_sampled(agg: Aggregate, threshold: float) -> int | None:
    """The same, if the per-case rates kept their means, spread and correlation."""
    for total in range(max(agg.cases + 1, MIN_CASES), MAX_CASES_TO_SUGGEST + 1):
        if _decide_sampled(agg.at(total), threshold, None)[0] != "inconclusive":
            return total
    return None


def apply_sampled(
    v: Verdict, outcomes: list[CaseOutcome], samples: int, prompt_fix_ran: bool
) -> None:
    """Replace the label-count statistics with the clustered aggregate of per-case rates.

    Every case observed on both arms counts (inconclusive ones too: dropping them would keep
    only the cases that looked clear by luck); errors and cases whose facts the judge found
    insufficient do not. Runs stored without per-arm tallies keep the label statistics.
    """
    observed = [(o, o.rates(samples)) for o in outcomes]
    if any(r is None and o.label != "error" and o.facts_sufficient is not False
           for o, r in observed):  # fmt: skip
        return
    rates = [r for _, r in observed if r is not None]
    n, t = len(rates), v.max_failure_rate
    if n == 0:
        return
    agg = aggregate(rates)
    fix = None
    if prompt_fix_ran:
        open_failures = round(sum(1 - r.open for r in rates))
        fix = prompt_fix_result(outcomes, open_failures, n, t)
        v.prompt_fix = fix
    v.insufficient_evidence = n < MIN_CASES
    decision: tuple[Diagnosis, NextRung | None] = (
        ("inconclusive", None) if v.insufficient_evidence else _decide_sampled(agg, t, fix)
    )
    v.diagnosis, v.next_rung = decision
    v.pass_rates = {
        arm: _sampled_rate(stats, [(r.closed_passes, r.closed_scored) if arm == "closed_book"
                                   else (r.open_passes, r.open_scored) for r in rates])
        for arm, stats in (("closed_book", agg.closed), ("open_book", agg.open))
    }  # fmt: skip
    if fix is not None:
        v.pass_rates["prompt_fix"] = rate_of(n - fix.remaining_failures, n)
    v.closed_book_provably_fails = 1 - agg.closed.interval()[1] > t
    v.open_book_provably_fails = 1 - agg.open.interval()[1] > t
    lift = agg.lift()
    v.lift = Lift(
        value=lift.value,
        low=lift.low,
        high=lift.high,
        mid_p=v.lift.mid_p,
        exact_p=v.lift.exact_p,
        significant=lift.low > 0 or lift.high < 0,
        method="clustered",
        p_value=lift.p_value,
        standard_error=lift.standard_error,
    )
    share = knowledge_share(rates)
    v.knowledge_share = Share(value=share.value, low=share.low, high=share.high)
    v.minimum_detectable_lift = minimum_detectable_lift(n)
    v.cases_to_decide = _cases_to_decide_sampled(agg, t) if v.diagnosis == "inconclusive" else None
    noise = noise_split(rates, MAX_SAMPLES)
    v.clustered = ClusteredAggregate(
        cases=n,
        unbiased_cases=sum(r.unbiased for r in rates),
        samples=samples,
        between_case_variance=noise.between,
        within_case_variance=noise.within,
        sampling_share=noise.within_share,
        lift_standard_error=noise.standard_error,
        standard_error_at_max_samples=noise.at_max_samples,
        standard_error_with_twice_the_cases=noise.with_twice_the_cases,
        more_evidence=(
            "more_samples"
            if noise.within > noise.between and samples < MAX_SAMPLES
            else "more_cases"
        ),
    )


def _sampled_rate(stats: ArmStats, tallies: list[tuple[int, int]]) -> Rate:
    low, high = stats.interval()
    return Rate(
        passes=sum(p for p, _ in tallies),
        n=sum(k for _, k in tallies),
        rate=stats.mean,
        low=low,
        high=high,
        cases=stats.cases,
        standard_error=stats.standard_error,
        effective_n=stats.effective_n,
    )
