"""Power before spending: what lift a suite can prove at the chosen samples, and what it takes.

Planning model (the one the verdict's minimum detectable lift uses, plus sampling noise): the
facts fix a share `lift` of the cases and break none, so the per-case lift has variance
lift (1 - lift) between cases. At temperature > 0 each sample of each arm is also a draw, whose
variance is at most 1/4, so the mean of k samples adds at most 1/(2k) to each case's paired
difference (Miller, "Adding Error Bars to Evals", 2024: resampling shrinks only this part).
With n cases the lift's standard error is sqrt((lift (1 - lift) + w / k) / n), w = 1/2 (w = 0 at
temperature 0, where every sample repeats the first), and a two-sided 5% test has 80% power
once lift >= (z_0.975 + z_0.8) times it. The floor is the exact McNemar bound for answers that
never vary within a case (`minimum_detectable_lift`): no number of samples goes below it.

Both bounds are stated because the truth lies between them and depends on the model: a model
that is consistent per case gains nothing from samples, a noisy one gains up to the noisy bound.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from app.diagnosis.options import MAX_SAMPLES
from app.diagnosis.stats import Z95, minimum_detectable_lift

Z_POWER = 0.8416212335729143  # the 0.8 quantile of the standard normal: 80% power
WITHIN_BOUND = 0.5  # most variance one sample pair adds to a paired difference
MAX_CASES = 100_000


class Power(BaseModel):
    cases: int
    samples: int
    varies_within_cases: bool = Field(
        description="Whether answers can vary between samples (temperature > 0)"
    )
    minimum_detectable_lift: float | None = Field(
        description="Smallest lift detected with 80% power at these cases and samples, if "
        "answers vary within a case as much as they can (None: not even a lift of 1)"
    )
    minimum_detectable_lift_if_consistent: float | None = Field(
        description="The same if every case answers the same way each time: a floor no "
        "number of samples goes below"
    )
    target_lift: float | None = None
    cases_for_target: int | None = Field(
        default=None, description="Cases that detect target_lift at these samples"
    )
    cases_for_target_if_consistent: int | None = None
    samples_for_target: int | None = Field(
        default=None,
        description="Samples per arm that detect target_lift with these cases (None: no "
        f"number up to {MAX_SAMPLES} does; more cases are needed)",
    )
    summary: str = ""


def noisy_detectable_lift(cases: int, samples: int, within: float = WITHIN_BOUND) -> float | None:
    """Smallest lift d with d >= c sqrt((d (1 - d) + within / samples) / cases), c = 2.80.

    Squared, that is d^2 (cases / c^2 + 1) - d - within / samples >= 0: the positive root.
    """
    if cases <= 0:
        return None
    c2 = (Z95 + Z_POWER) ** 2
    a = cases / c2 + 1.0
    noise = within / max(1, samples)
    d = (1.0 + math.sqrt(1.0 + 4.0 * a * noise)) / (2.0 * a)
    return None if d > 1.0 else math.ceil(d * 1000) / 1000


def detectable(cases: int, samples: int, varies: bool) -> float | None:
    """The bound the estimate reports: the noisy one at temperature > 0, never below the floor."""
    floor = minimum_detectable_lift(cases)
    if floor is None or not varies:
        return floor
    noisy = noisy_detectable_lift(cases, samples)
    return None if noisy is None else max(floor, noisy)


def cases_for(target: float, samples: int, varies: bool) -> int | None:
    """Fewest cases whose detectable lift is at most `target` (None past MAX_CASES)."""
    c2 = (Z95 + Z_POWER) ** 2
    noise = WITHIN_BOUND / samples if varies else 0.0
    guess = max(1, math.floor(c2 * (target * (1 - target) + noise) / target**2) - 1)
    lo = max(1, guess // 2)
    for n in range(lo, MAX_CASES + 1):
        lift = detectable(n, samples, varies)
        if lift is not None and lift <= target:
            return n
    return None


def plan_power(
    cases: int, samples: int, temperature: float, target_lift: float | None = None
) -> Power:
    varies = temperature > 0
    power = Power(
        cases=cases,
        samples=samples,
        varies_within_cases=varies,
        minimum_detectable_lift=detectable(cases, samples, varies),
        minimum_detectable_lift_if_consistent=minimum_detectable_lift(cases),
        target_lift=target_lift,
    )
    if target_lift is not None:
        power.cases_for_target = cases_for(target_lift, samples, varies)
        power.cases_for_target_if_consistent = cases_for(target_lift, samples, False)
        if varies:
            power.samples_for_target = next(
                (
                    k
                    for k in range(1, MAX_SAMPLES + 1)
                    if (lift := detectable(cases, k, True)) is not None and lift <= target_lift
                ),
                None,
            )
        elif (floor := minimum_detectable_lift(cases)) is not None and floor <= target_lift:
            power.samples_for_target = 1
    power.summary = _words(power)
    return power


def _pct(x: float | None) -> str:
    return "no lift at all" if x is None else f"{100 * x:.0f} points"


def _words(p: Power) -> str:
    parts = [
        f"{p.cases} cases at {p.samples} sample(s) per arm can detect a lift of about "
        f"{_pct(p.minimum_detectable_lift)} (80% power)"
        + (
            f"; {_pct(p.minimum_detectable_lift_if_consistent)} if the model answers each case "
            "the same way every time, which no number of samples improves."
            if p.varies_within_cases
            else ": at temperature 0 every sample repeats the first, so only more cases help."
        )
    ]
    if p.target_lift is not None:
        target = f"{100 * p.target_lift:.0f} points"
        cases = p.cases_for_target
        if p.varies_within_cases:
            parts.append(
                f"To detect {target}: about {cases if cases is not None else 'too many'} cases "
                f"at these samples ({p.cases_for_target_if_consistent} if answers never vary)"
            )
            parts[-1] += (
                f", or {p.samples_for_target} samples per arm with these {p.cases} cases."
                if p.samples_for_target is not None
                else f"; no number of samples up to {MAX_SAMPLES} gets there with {p.cases} cases."
            )
        else:
            parts.append(
                f"To detect {target}: about {cases if cases is not None else 'too many'} cases."
            )
    return " ".join(parts)
