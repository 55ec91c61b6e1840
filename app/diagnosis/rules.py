"""The decision rules shared by every verdict: what is proven, and the rung it points to."""

from __future__ import annotations

from collections.abc import Iterable

from app.diagnosis.stats import mcnemar_mid_p, wilson_interval
from app.diagnosis.verdict_types import CaseOutcome, Diagnosis, NextRung, PromptFixResult, Rate

MIN_CASES = 10  # below this, report descriptives only
ALPHA = 0.05
MAX_CASES_TO_SUGGEST = 5000


def rate_of(passes: int, n: int) -> Rate:
    """A pass rate with its Wilson 95% interval."""
    low, high = wilson_interval(passes, n)
    return Rate(passes=passes, n=n, rate=passes / n if n else None, low=low, high=high)


def provably_fails(failures: int, n: int, threshold: float) -> bool:
    """A rung provably fails when the Wilson lower bound of its failure rate exceeds t."""
    return n > 0 and wilson_interval(failures, n)[0] > threshold


def decide_rung(
    closed_fails: bool, open_fails: bool, lift_up: bool, prompt_fix: PromptFixResult | None
) -> tuple[Diagnosis, NextRung | None]:
    """The decision rules, from what is proven: each arm's failures and a helpful lift."""
    fix_ran = prompt_fix is not None and prompt_fix.cases > 0
    fix_worked = fix_ran and prompt_fix is not None and not prompt_fix.provably_fails
    if not closed_fails:
        return "no_gap", "prompt"
    if lift_up and not open_fails:
        return "knowledge", "retrieval"
    if open_fails and not lift_up:
        if not fix_ran:
            return "behavior", "prompt_fix"
        return "behavior", "prompt" if fix_worked else "adapter"
    if lift_up and open_fails:
        if not fix_ran:
            return "mixed", "retrieval_and_prompt_fix"
        return "mixed", "retrieval" if fix_worked else "retrieval_and_adapter"
    return "inconclusive", None


def prompt_fix_result(
    outcomes: Iterable[CaseOutcome], open_failures: int, n: int, threshold: float
) -> PromptFixResult:
    """Score the candidate prompt against the fresh control, never against the selection run.

    Cases picked because they failed partly pass on any re-run, so only the fix's passes
    beyond the control's count as failures it removed from the `open_failures` of `n` cases.
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
    remaining = max(0, open_failures - max(0, pf_passes - ctrl_passes))
    return PromptFixResult(
        cases=len(pairs),
        prompt_fix_passes=pf_passes,
        control_passes=ctrl_passes,
        fixed=fixed,
        broken=broken,
        mid_p=mcnemar_mid_p(broken, fixed),
        remaining_failures=remaining,
        provably_fails=provably_fails(remaining, n, threshold),
    )
