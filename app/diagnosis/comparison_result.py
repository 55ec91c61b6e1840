"""A comparison's result: the arms, the regressions, what a correct answer costs each run, the
distillation check, and all of it in plain words.

The distillation check (the fourth rung): when the candidate is the smaller or the cheaper model
and, with the facts in context, it is not worse than the baseline beyond the margin, the task
can be distilled or routed to it, and the saving is stated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from app.diagnosis.comparison import (
    MAIN_ARMS,
    ArmComparison,
    CaseArms,
    Decision,
    Efficiency,
    RunSide,
    compare_arm,
    efficiency,
    pair_arms,
)


class CaseChange(BaseModel):
    case_id: str
    arm: str


class SideView(BaseModel):
    model: str
    parameters: int | None
    efficiency: Efficiency


class ComparisonResult(BaseModel):
    margin: float
    decision: Decision = Field(description="Over the closed-book and with-facts arms")
    not_worse: bool = Field(description="Not worse beyond the margin on every main arm")
    arms: dict[str, ArmComparison]
    regressions: list[CaseChange]
    fixes: list[CaseChange]
    baseline: SideView
    candidate: SideView
    smaller_or_cheaper: Literal["smaller", "cheaper", "smaller_and_cheaper"] | None
    saving: dict[str, float] = Field(
        description="Fractions saved per correct answer by the candidate: cost, latency, tokens"
    )
    distillable: bool = Field(
        description="The candidate is smaller or cheaper and not worse with the facts in context"
    )
    summary: str = ""


def _overall(arms: Sequence[ArmComparison]) -> Decision:
    decisions = {arm.decision for arm in arms}
    if "worse" in decisions:
        return "worse"
    if decisions == {"equivalent"}:
        return "equivalent"
    if "better" in decisions and decisions <= {"better", "equivalent"}:
        return "better"
    return "inconclusive"


def _size_and_cost(base: SideView, cand: SideView) -> tuple[bool, bool]:
    smaller = (
        base.parameters is not None
        and cand.parameters is not None
        and cand.parameters < base.parameters
    )
    b_cost, c_cost = base.efficiency.cost_usd_per_correct, cand.efficiency.cost_usd_per_correct
    cheaper = b_cost is not None and c_cost is not None and c_cost < b_cost
    return smaller, cheaper


def _saving(base: Efficiency, cand: Efficiency) -> dict[str, float]:
    out = {}
    for name, b, c in (
        ("cost", base.cost_usd_per_correct, cand.cost_usd_per_correct),
        ("latency", base.latency_ms_per_correct, cand.latency_ms_per_correct),
        ("tokens", base.tokens_per_correct, cand.tokens_per_correct),
    ):
        if b is not None and c is not None and b > 0:
            out[name] = round(1 - c / b, 4)
    return out


def build_comparison(
    baseline: Sequence[CaseArms],
    candidate: Sequence[CaseArms],
    baseline_side: RunSide,
    candidate_side: RunSide,
    margin: float,
) -> ComparisonResult:
    arms = [arm for arm in ("closed_book", "open_book", "prompt_fix")]
    paired = pair_arms(baseline, candidate, arms)
    results = {
        arm: compare_arm(arm, [(b, c) for _, b, c in pairs], margin)
        for arm, pairs in paired.items()
        if pairs or arm in MAIN_ARMS
    }
    regressions = [CaseChange(case_id=cid, arm=arm) for arm, pairs in paired.items()
                   for cid, b, c in pairs if b and not c]  # fmt: skip
    fixes = [CaseChange(case_id=cid, arm=arm) for arm, pairs in paired.items()
             for cid, b, c in pairs if c and not b]  # fmt: skip

    def correct(cases: Sequence[CaseArms]) -> int:
        return sum(1 for case in cases for arm in MAIN_ARMS if case.passed.get(arm))

    base = SideView(
        model=baseline_side.model,
        parameters=baseline_side.parameters,
        efficiency=efficiency(baseline_side, correct(baseline)),
    )
    cand = SideView(
        model=candidate_side.model,
        parameters=candidate_side.parameters,
        efficiency=efficiency(candidate_side, correct(candidate)),
    )
    smaller, cheaper = _size_and_cost(base, cand)
    kind: Literal["smaller", "cheaper", "smaller_and_cheaper"] | None = (
        "smaller_and_cheaper" if smaller and cheaper else
        "smaller" if smaller else "cheaper" if cheaper else None
    )  # fmt: skip
    main = [results[arm] for arm in MAIN_ARMS]
    result = ComparisonResult(
        margin=margin,
        decision=_overall(main),
        not_worse=all(arm.not_worse for arm in main),
        arms=results,
        regressions=regressions,
        fixes=fixes,
        baseline=base,
        candidate=cand,
        smaller_or_cheaper=kind,
        saving=_saving(base.efficiency, cand.efficiency),
        distillable=kind is not None and results["open_book"].not_worse,
    )
    result.summary = explain_comparison(result)
    return result


_ARM_NAMES = {
    "closed_book": "closed-book",
    "open_book": "with the facts",
    "prompt_fix": "with the candidate prompt",
}


def _pts(value: float) -> str:
    return f"{100 * value:+.0f}"


def explain_comparison(r: ComparisonResult) -> str:
    m = f"{100 * r.margin:.0f}"
    words = {
        "equivalent": f"equivalent to the baseline within ±{m} points",
        "better": f"better than the baseline by more than {m} points",
        "worse": f"worse than the baseline by more than {m} points",
        "inconclusive": f"not yet distinguishable from the baseline at a margin of {m} points",
    }
    parts = [f"{r.candidate.model} against {r.baseline.model}: {words[r.decision]}."]
    for arm in r.arms.values():
        if arm.difference is None:
            continue
        line = (
            f"{_ARM_NAMES.get(arm.arm, arm.arm).capitalize()}: {arm.fixed} fixed, "
            f"{arm.regressed} regressed of {arm.n} (difference {_pts(arm.difference)} points, "
            f"95% CI {_pts(arm.low)} to {_pts(arm.high)}; mid-p {arm.mid_p:.3g}): {arm.decision}"
        )
        if arm.cases_to_decide is not None:
            line += f", about {arm.cases_to_decide} cases would decide it"
        parts.append(line + ".")
    if r.regressions:
        shown = ", ".join(
            f"{c.case_id} ({_ARM_NAMES.get(c.arm, c.arm)})" for c in r.regressions[:5]
        )
        parts.append(f"Regressions: {shown}{' and more' if len(r.regressions) > 5 else ''}.")
    kind = (r.smaller_or_cheaper or "").replace("_", " ")
    if r.distillable:
        saved = ", ".join(f"{100 * v:.0f}% less {k}" for k, v in r.saving.items() if v > 0)
        parts.append(
            f"The candidate is {kind} and not worse with the "
            "facts in context: the task can be distilled or routed to it"
            + (f" ({saved} per correct answer)." if saved else ".")
        )
    elif r.smaller_or_cheaper is not None:
        low = r.arms["open_book"].low
        parts.append(
            f"The candidate is {kind}, but with the facts in context it is not shown to be at "
            f"most {m} points worse (the interval reaches {_pts(low)}): do not route to it yet."
        )
    return " ".join(parts)
