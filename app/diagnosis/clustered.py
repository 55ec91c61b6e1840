"""The aggregate of a sampled run: the case is the unit, its observation its pass rate per arm.

With repeated samples a case's label is itself an estimate, so the verdict does not count
labels. Each case contributes its (unbiased) pass rate per arm, and every interval carries both
the spread between cases and the sampling noise within them, as Miller recommends ("Adding Error
Bars to Evals", 2024, arXiv:2411.00640): the standard error of a mean over cases is the sample
standard deviation of the per-case values over sqrt(n), which already contains each case's
sampling variance.

- Pass rate per arm: the mean case rate, with a Wilson interval on the effective sample size
  rate (1 - rate) / SE^2 (the design effect of clustering samples in cases), kept between the
  number of cases (every case fully consistent) and the number of samples (no case effect).
  With one consistent sample per case this is exactly the Wilson interval on counts.
- Lift: the mean paired difference of the per-case rates (open minus closed) with its clustered
  standard error; its 95% limits are built like Newcombe's paired interval (MOVER, Zou & Donner
  2008, Stat Med 27:1693) from the two arms' clustered Wilson limits and the case-level
  correlation of their rates, so they stay inside [-1, 1] and never collapse to a point.
  The p-value is the level at which those limits just reach zero.
- Knowledge share: of the closed-book failures, the share the facts fix, sum (1 - r_c) r_o over
  sum (1 - r_c) (a ratio estimator with a linearised clustered standard error).
- Variance of the lift split into between cases and within (sampling): more samples can only
  remove the within part; more cases shrink both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from app.diagnosis.stats import Z95

ALPHA = 0.05


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def wilson_rate(rate: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion `rate` observed on an effective sample of `n`."""
    if n <= 0:
        return (0.0, 1.0)
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (rate + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(max(0.0, rate * (1.0 - rate)) / n + z2 / (4.0 * n * n)) / denom
    lower = 0.0 if rate <= 0.0 else max(0.0, centre - half)
    upper = 1.0 if rate >= 1.0 else min(1.0, centre + half)
    return (lower, upper)


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def _var(xs: Sequence[float]) -> float:
    """Sample variance (n - 1); 0 for fewer than two values."""
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def effective_n(rate: float, se2: float, low: float, high: float) -> float:
    """rate (1 - rate) / SE^2, kept within [low, high]; `low` when it cannot be estimated."""
    if rate <= 0.0 or rate >= 1.0:
        return low
    if se2 <= 0.0:
        return high
    return min(high, max(low, rate * (1.0 - rate) / se2))


@dataclass(frozen=True)
class CaseRates:
    """One case's observation: its pass rate per arm and the samples behind it."""

    closed: float
    open: float
    closed_passes: int
    closed_scored: int
    open_passes: int
    open_scored: int
    unbiased: bool = True  # False: plain proportions (the case's sampling was interrupted)


@dataclass(frozen=True)
class ArmStats:
    cases: int
    mean: float
    variance: float  # between-case sample variance of the rates
    samples: int  # scored samples over all cases

    def at(self, cases: int) -> ArmStats:
        """The same arm observed on another number of cases (same rates, same spread)."""
        return replace(self, cases=cases, samples=round(self.samples * cases / self.cases))

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.variance / self.cases)

    @property
    def effective_n(self) -> float:
        return effective_n(self.mean, self.variance / self.cases, self.cases, self.samples)

    def interval(self, z: float = Z95) -> tuple[float, float]:
        return wilson_rate(self.mean, self.effective_n, z)


@dataclass(frozen=True)
class LiftStats:
    value: float
    low: float
    high: float
    p_value: float
    standard_error: float


@dataclass(frozen=True)
class Aggregate:
    """What the decision rules need, at the observed number of cases or a scaled one."""

    closed: ArmStats
    open: ArmStats
    covariance: float  # between the arms' case rates
    difference_variance: float  # sample variance of the per-case differences

    @property
    def cases(self) -> int:
        return self.closed.cases

    @property
    def correlation(self) -> float:
        sd = math.sqrt(self.closed.variance * self.open.variance)
        return max(-1.0, min(1.0, self.covariance / sd)) if sd > 0 else 0.0

    def at(self, cases: int) -> Aggregate:
        return replace(self, closed=self.closed.at(cases), open=self.open.at(cases))

    def _limits(self, z: float) -> tuple[float, float]:
        """MOVER limits of open - closed from the arms' Wilson limits at this z."""
        mo, mc = self.open.mean, self.closed.mean
        lo_o, hi_o = self.open.interval(z)
        lo_c, hi_c = self.closed.interval(z)
        phi, d = self.correlation, mo - mc
        down_o, up_c, up_o, down_c = mo - lo_o, hi_c - mc, hi_o - mo, mc - lo_c
        low = d - math.sqrt(max(0.0, down_o**2 - 2 * phi * down_o * up_c + up_c**2))
        high = d + math.sqrt(max(0.0, up_o**2 - 2 * phi * up_o * down_c + down_c**2))
        return (max(-1.0, low), min(1.0, high))

    def lift_limits(self) -> tuple[float, float]:
        return self._limits(Z95)

    def lift(self) -> LiftStats:
        d = self.open.mean - self.closed.mean
        low, high = self._limits(Z95)
        return LiftStats(
            value=d,
            low=low,
            high=high,
            p_value=self._p_value(d),
            standard_error=math.sqrt(self.difference_variance / self.cases),
        )

    def _p_value(self, d: float) -> float:
        """Two-sided: twice the tail beyond the z at which the limit nearest 0 reaches 0."""
        if d == 0.0:
            return 1.0
        side = 0 if d > 0 else 1

        def clear(z: float) -> bool:
            limits = self._limits(z)
            return limits[0] > 0 if side == 0 else limits[1] < 0

        lo, hi = 0.0, 40.0
        if clear(hi):
            return 0.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if clear(mid) else (lo, mid)
        return min(1.0, 2.0 * normal_sf(lo))


def aggregate(cases: Sequence[CaseRates]) -> Aggregate:
    closed = [c.closed for c in cases]
    open_ = [c.open for c in cases]
    n = len(cases)
    mc, mo = _mean(closed), _mean(open_)
    cov = (
        sum((c - mc) * (o - mo) for c, o in zip(closed, open_, strict=True)) / (n - 1)
        if n > 1
        else 0.0
    )
    return Aggregate(
        closed=ArmStats(n, mc, _var(closed), sum(c.closed_scored for c in cases)),
        open=ArmStats(n, mo, _var(open_), sum(c.open_scored for c in cases)),
        covariance=cov,
        difference_variance=_var([o - c for c, o in zip(closed, open_, strict=True)]),
    )


@dataclass(frozen=True)
class ShareStats:
    value: float | None
    low: float
    high: float


def knowledge_share(cases: Sequence[CaseRates]) -> ShareStats:
    """Of the closed-book failures, the share the facts fix (samples are independent within a
    case, so a closed-book failure of case i is fixed with probability r_o)."""
    x = [1.0 - c.closed for c in cases]
    y = [(1.0 - c.closed) * c.open for c in cases]
    total = sum(x)
    if total <= 0.0:
        return ShareStats(None, 0.0, 1.0)
    ratio = sum(y) / total
    n = len(cases)
    residual = [yi - ratio * xi for xi, yi in zip(x, y, strict=True)]
    se2 = sum(r * r for r in residual) / (n * (n - 1)) / (total / n) ** 2 if n > 1 else 0.0
    failed_samples = sum(c.closed_scored - c.closed_passes for c in cases)
    low, high = wilson_rate(ratio, effective_n(ratio, se2, total, max(total, failed_samples)))
    return ShareStats(ratio, low, high)


@dataclass(frozen=True)
class NoiseSplit:
    """The lift's variance per case, split into between cases and within (sampling noise)."""

    between: float
    within: float  # at this run's samples
    standard_error: float
    at_max_samples: float  # standard error if every arm had `max_samples` samples
    with_twice_the_cases: float

    @property
    def within_share(self) -> float:
        total = self.between + self.within
        return self.within / total if total > 0 else 0.0


def _within(passes: int, scored: int) -> float:
    """Unbiased sampling variance of an arm's pass rate from its own samples; with one sample
    it cannot be estimated, so the worst case (1/4) is used."""
    if scored < 2:
        return 0.25
    p = passes / scored
    return p * (1.0 - p) / (scored - 1)


def noise_split(cases: Sequence[CaseRates], max_samples: int) -> NoiseSplit:
    n = len(cases)
    total = _var([c.open - c.closed for c in cases])
    within_now = [
        (_within(c.closed_passes, c.closed_scored), c.closed_scored,
         _within(c.open_passes, c.open_scored), c.open_scored)
        for c in cases
    ]  # fmt: skip
    within = _mean([wc + wo for wc, _, wo, _ in within_now])
    between = max(0.0, total - within)
    within_max = _mean(
        [wc * kc / max(kc, max_samples) + wo * ko / max(ko, max_samples)
         for wc, kc, wo, ko in within_now]
    )  # fmt: skip
    se = math.sqrt(total / n)
    return NoiseSplit(
        between=between,
        within=within,
        standard_error=se,
        at_max_samples=min(se, math.sqrt((between + within_max) / n)),
        with_twice_the_cases=se / math.sqrt(2.0),
    )
