"""Small-sample statistics for the facts-in-context test (design §3).

Pure stdlib on purpose: the handful of formulas we need (Wilson, Newcombe's paired interval,
binomial tails, McNemar mid-p, a Beta posterior and a power search) are short and exactly
specified, so pulling in scipy (~100 MB) for them would cost more than it saves. Each function is
tested against published worked examples in ``tests/test_stats.py``.

Conventions for the paired 2x2 table of one case per row::

                        open-book pass   open-book fail
    closed-book pass          a                b
    closed-book fail          c                d

so the lift (open-book pass rate minus closed-book pass rate) is (c - b) / n.
"""

from __future__ import annotations

import math

__all__ = [
    "Z95",
    "binom_cdf",
    "binom_pmf",
    "binom_sf",
    "mcnemar_exact_p",
    "mcnemar_mid_p",
    "minimum_detectable_lift",
    "newcombe_paired_interval",
    "prob_rate_at_least",
    "wilson_interval",
    "wilson_lower_exceeds",
]

Z95: float = 1.959963984540054
"""The 0.975 quantile of the standard normal: two-sided 95% intervals."""

# A term this much smaller than the running tail sum can no longer change it in double precision;
# tail terms shrink at least geometrically away from the mode, so we can stop summing there.
_NEGLIGIBLE = 1e-17


def _check_counts(k: int, n: int) -> None:
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")


# --- Wilson ---------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for successes/n, without continuity correction.

    Chosen over Wald because it stays inside [0, 1] and keeps near-nominal coverage at the small
    n and extreme proportions that are normal here (Newcombe 1998, Stat Med 17:857, method 3).
    With no data the honest answer is "anything": (0, 1).
    """
    _check_counts(successes, n)
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    # The bounds are exactly 0 / 1 at the edges; pin them so rounding can't leave 1e-17 or 0.99..9.
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return (lower, upper)


def wilson_lower_exceeds(failures: int, n: int, threshold: float) -> bool:
    """True when a rung "provably fails": the Wilson 95% lower bound of its failure rate exceeds
    the acceptable failure rate. No cases prove nothing."""
    if n == 0:
        return False
    return wilson_interval(failures, n)[0] > threshold


# --- Newcombe paired interval ---------------------------------------------------------------


def _newcombe_phi(a: int, b: int, c: int, d: int) -> float:
    """Newcombe's continuity-corrected phi between the two paired proportions.

    Raw phi = (ad - bc) / sqrt(product of the margins). Newcombe (1998, Stat Med 17:2635, method
    10) shrinks a positive ad - bc by n/2 (and to 0 when it is within n/2) because uncorrected
    phi made the interval too narrow; negative values are used as they are. Any empty margin
    makes phi undefined; 0 (independence) is then the conservative choice.
    """
    n = a + b + c + d
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return 0.0
    cross = a * d - b * c
    if cross > n / 2:
        adjusted = cross - n / 2
    elif cross >= 0:
        adjusted = 0.0
    else:
        adjusted = float(cross)
    return adjusted / math.sqrt(margins)


def newcombe_paired_interval(a: int, b: int, c: int, d: int, z: float = Z95) -> tuple[float, float]:
    """Newcombe's score interval (method 10) for the paired difference (c - b) / n.

    That is the open-book pass rate (a + c) / n minus the closed-book pass rate (a + b) / n.
    It combines the Wilson intervals of the two marginal rates ("square and add") and corrects
    for their correlation: paired arms are positively correlated, which narrows the interval
    compared with treating the arms as independent samples. Newcombe (1998, Stat Med 17:2635)
    showed good coverage down to small n, unlike the Wald interval, and it cannot leave [-1, 1].
    """
    for count in (a, b, c, d):
        if count < 0:
            raise ValueError(f"cell counts must be >= 0, got {(a, b, c, d)}")
    n = a + b + c + d
    if n == 0:
        return (-1.0, 1.0)
    p_open = (a + c) / n
    p_closed = (a + b) / n
    diff = p_open - p_closed
    lo_open, hi_open = wilson_interval(a + c, n, z)
    lo_closed, hi_closed = wilson_interval(a + b, n, z)
    phi = _newcombe_phi(a, b, c, d)

    # Lower limit: open-book could be as low as its lower bound while closed-book is as high as
    # its upper bound; the upper limit is the mirror image.
    down_open, up_closed = p_open - lo_open, hi_closed - p_closed
    up_open, down_closed = hi_open - p_open, p_closed - lo_closed
    delta = math.sqrt(max(0.0, down_open**2 - 2 * phi * down_open * up_closed + up_closed**2))
    epsilon = math.sqrt(max(0.0, up_open**2 - 2 * phi * up_open * down_closed + down_closed**2))
    return (max(-1.0, diff - delta), min(1.0, diff + epsilon))


# --- Binomial distribution ------------------------------------------------------------------


def binom_pmf(k: int, n: int, p: float) -> float:
    """P(X = k) for X ~ Binomial(n, p), in log space so n in the tens of thousands is fine."""
    _check_probability(p)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0 <= k <= n:
        return 0.0
    if p == 0.0:
        return 1.0 if k == 0 else 0.0
    if p == 1.0:
        return 1.0 if k == n else 0.0
    log_pmf = (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )
    return math.exp(log_pmf)


def _tail_sum(start: int, stop: int, n: int, p: float) -> float:
    """Sum pmf over the integers from start towards stop (inclusive), walking away from the mode.

    Walking outward from the term nearest the mode means the terms only shrink, so the sum can
    stop early and each term comes from the previous one by a ratio instead of a fresh lgamma.
    Summing the small tail directly (rather than 1 - the big one) keeps tiny p-values accurate.
    """
    term = binom_pmf(start, n, p)
    total = term
    odds = p / (1.0 - p)
    step = 1 if stop >= start else -1
    i = start
    while i != stop and term > total * _NEGLIGIBLE:
        if step == 1:  # pmf(i + 1) = pmf(i) * (n - i) / (i + 1) * p / (1 - p)
            term *= (n - i) / (i + 1) * odds
        else:  # pmf(i - 1) = pmf(i) * i / (n - i + 1) * (1 - p) / p
            term *= i / (n - i + 1) / odds
        i += step
        total += term
    return total


def _mode(n: int, p: float) -> int:
    return min(n, math.floor((n + 1) * p))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    _check_probability(p)
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p in (0.0, 1.0):
        return 1.0 if p == 0.0 else 0.0
    if k < _mode(n, p):
        return min(1.0, _tail_sum(k, 0, n, p))
    return max(0.0, 1.0 - _tail_sum(k + 1, n, n, p))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p) (note: >=, not the scipy-style >)."""
    _check_probability(p)
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p in (0.0, 1.0):
        return 1.0 if p == 1.0 else 0.0
    if k > _mode(n, p):
        return min(1.0, _tail_sum(k, n, n, p))
    return max(0.0, 1.0 - _tail_sum(k - 1, 0, n, p))


# --- McNemar --------------------------------------------------------------------------------


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact conditional McNemar p: min(1, 2 P(X <= min(b, c))), X ~ Bin(b + c, 1/2).

    Only the discordant pairs carry information about a difference; under the null each one is
    a fair coin. Reported alongside mid-p because it is the familiar, if conservative, test.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    m, discordant = min(b, c), b + c
    if discordant == 0:
        return 1.0
    return min(1.0, 2.0 * binom_cdf(m, discordant, 0.5))


def mcnemar_mid_p(b: int, c: int) -> float:
    """Two-sided McNemar mid-p: the exact p minus P(X = min(b, c)).

    Primary test (design §3): the exact test is conservative because of discreteness; counting
    only half the observed outcome's probability keeps the type I error close to nominal at small
    n (Fagerland, Lydersen & Laake 2013, BMC Med Res Methodol 13:91).
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    m, discordant = min(b, c), b + c
    if discordant == 0:
        return 1.0
    mid = 2.0 * (binom_cdf(m, discordant, 0.5) - 0.5 * binom_pmf(m, discordant, 0.5))
    return min(1.0, max(0.0, mid))


# --- Posterior for adaptive sampling --------------------------------------------------------


def prob_rate_at_least(successes: int, samples: int, tau: float = 0.5) -> float:
    """Posterior P(p >= tau) after `successes` passes in `samples` trials, Beta(1, 1) prior.

    The posterior is Beta(s + 1, k - s + 1), and its CDF at tau equals P(Bin(k + 1, tau) >= s + 1)
    (the beta-binomial identity), so no incomplete-beta function is needed.
    """
    _check_counts(successes, samples)
    _check_probability(tau)
    return min(1.0, max(0.0, 1.0 - binom_sf(successes + 1, samples + 1, tau)))


# --- Power ----------------------------------------------------------------------------------

_LIFT_STEPS = 1000  # resolution 0.001


def minimum_detectable_lift(n: int, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """Smallest lift (to 0.001) that an eval of n cases detects with the given power.

    Model: the most favourable case for the test, where no case gets worse with the facts
    (b = 0) and each case independently flips from fail to pass with probability delta, so
    c ~ Binomial(n, delta) and the true lift is delta. With b = 0 the mid-p is
    2 * (P(X <= 0) - P(X = 0) / 2) = 0.5 ** c, so the test rejects exactly when c reaches a fixed
    critical count, and power(delta) = P(Binomial(n, delta) >= c_crit), which increases with
    delta: bisect on the 0.001 grid. Any distraction cases (b > 0) only raise the bar, so this is
    a floor: a lift smaller than this cannot be shown at this n. None when even delta = 1 fails
    (n smaller than the critical count).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha}, {power}")
    c_crit = 0
    while 0.5**c_crit >= alpha:  # reject when mid-p < alpha (design §3)
        c_crit += 1
    if n < c_crit:
        return None
    # Invariant: power at lo/_LIFT_STEPS is short of target, at hi/_LIFT_STEPS it is reached.
    lo, hi = 0, _LIFT_STEPS
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if binom_sf(c_crit, n, mid / _LIFT_STEPS) >= power:
            hi = mid
        else:
            lo = mid
    return hi / _LIFT_STEPS
