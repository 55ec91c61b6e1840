"""app.diagnosis.stats against published worked examples (design §3: "test them against
published worked examples"). Every expected number below cites where it was published, or is
derived by hand in a comment from the definition."""

from __future__ import annotations

import time
from fractions import Fraction
from itertools import pairwise
from math import comb, isclose

import pytest

from app.diagnosis.stats import (
    Z95,
    binom_cdf,
    binom_pmf,
    binom_sf,
    mcnemar_exact_p,
    mcnemar_mid_p,
    minimum_detectable_lift,
    newcombe_paired_interval,
    prob_rate_at_least,
    wilson_interval,
    wilson_lower_exceeds,
)


def _exact_pmf(k: int, n: int, p: Fraction) -> Fraction:
    return comb(n, k) * p**k * (1 - p) ** (n - k)


# --- Wilson -------------------------------------------------------------------------------------

# Newcombe RG (1998). Two-sided confidence intervals for the single proportion: comparison of
# seven methods. Stat Med 17:857-872, Table I, method 3 (score interval, no continuity correction).
NEWCOMBE_1998_TABLE_I = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("successes", "n", "lower", "upper"), NEWCOMBE_1998_TABLE_I)
def test_wilson_matches_newcombe_1998_table_i(
    successes: int, n: int, lower: float, upper: float
) -> None:
    lo, hi = wilson_interval(successes, n)
    assert round(lo, 4) == lower
    assert round(hi, 4) == upper


def test_wilson_edges_are_exact_and_empty_is_uninformative() -> None:
    assert wilson_interval(0, 20)[0] == 0.0
    assert wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    # Mirror symmetry: the interval for n - x failures is 1 minus the interval for x successes.
    lo, hi = wilson_interval(81, 263)
    lo_m, hi_m = wilson_interval(263 - 81, 263)
    assert isclose(lo, 1 - hi_m) and isclose(hi, 1 - lo_m)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_z95_is_the_normal_975_quantile() -> None:
    from statistics import NormalDist

    assert isclose(Z95, NormalDist().inv_cdf(0.975), rel_tol=1e-12)


def test_wilson_lower_exceeds_is_provably_fails() -> None:
    # Lower bounds from Newcombe (1998) Table I: 1/29 -> 0.0061, 0/20 -> 0.
    assert not wilson_lower_exceeds(1, 29, 0.05)
    assert wilson_lower_exceeds(1, 29, 0.005)
    assert not wilson_lower_exceeds(0, 20, 0.0)
    # 5/10 failing: Wilson lower bound 0.2366 (by the formula), well above a 5% tolerance.
    assert wilson_lower_exceeds(5, 10, 0.05)
    assert not wilson_lower_exceeds(5, 10, 0.25)
    assert not wilson_lower_exceeds(0, 0, 0.05)  # no cases prove nothing


# --- Newcombe paired interval -------------------------------------------------------------------


def test_newcombe_paired_matches_fagerland_cavo_example() -> None:
    # Cavo et al. (2012), complete response before/after consolidation therapy, the worked example
    # in Fagerland, Lydersen & Laake (2017), Statistical Analysis of Contingency Tables, ch. 8,
    # also used in their Stat Med 2014;33:2850 paper. Their R package contingencytables
    # (tests/testthat/test-ch8.R) prints for the table [[59, 6], [16, 80]]:
    #   "The Newcombe square-and-add CI: estimate = -0.0621 (95% CI -0.1186 to -0.0046)"
    # for pi_1+ - pi_+1 = (6 - 16)/161. Our difference is (c - b)/n, so with b = 6, c = 16 the
    # same interval comes back mirrored. This table has ad - bc = 4624 > n/2, so it exercises
    # Newcombe's corrected phi = (4624 - 80.5) / sqrt(65 * 96 * 75 * 86) = 0.716.
    lo, hi = newcombe_paired_interval(59, 6, 16, 80)
    assert round(lo, 4) == 0.0046
    assert round(hi, 4) == 0.1186
    lo, hi = newcombe_paired_interval(59, 16, 6, 80)
    assert (round(lo, 4), round(hi, 4)) == (-0.1186, -0.0046)


def test_newcombe_paired_bentur_by_hand() -> None:
    # Bentur et al. (2009), the other paired example of Fagerland et al. (2017, ch. 8), cells
    # a=1, b=1, c=7, d=12, n=21. Worked by hand from Newcombe (1998, Stat Med 17:2635), method 10:
    #   ad - bc = 12 - 7 = 5 lies in [0, n/2 = 10.5]  ->  phi = 0 (Newcombe's correction).
    #   open-book 8/21 = 0.38095, Wilson (0.20751, 0.59121)
    #   closed-book 2/21 = 0.09524, Wilson (0.02652, 0.28914)
    #   delta   = sqrt((0.38095 - 0.20751)^2 + (0.28914 - 0.09524)^2) = 0.26016
    #   epsilon = sqrt((0.59121 - 0.38095)^2 + (0.09524 - 0.02652)^2) = 0.22121
    #   interval = 6/21 - delta, 6/21 + epsilon = (0.0256, 0.5069)
    lo, hi = newcombe_paired_interval(1, 1, 7, 12)
    assert round(lo, 4) == 0.0256
    assert round(hi, 4) == 0.5069


def test_newcombe_paired_negative_correlation_by_hand() -> None:
    # a=0, b=5, c=5, d=0: ad - bc = -25 < 0, so phi = -25 / sqrt(5^4) = -1 (used uncorrected).
    # Both rates are 5/10 with Wilson lower bound l = 0.236593, and with phi = -1 the square root
    # collapses to a plain sum: delta = epsilon = 2 * (0.5 - l) = 0.526814.
    lo, hi = newcombe_paired_interval(0, 5, 5, 0)
    assert isclose(lo, -0.526814, abs_tol=1e-6)
    assert isclose(hi, 0.526814, abs_tol=1e-6)


def test_newcombe_paired_properties() -> None:
    assert newcombe_paired_interval(0, 0, 0, 0) == (-1.0, 1.0)
    tables = [(10, 0, 0, 10), (0, 0, 10, 0), (3, 1, 9, 2), (40, 3, 12, 45), (0, 7, 0, 0)]
    for a, b, c, d in tables:
        n = a + b + c + d
        lo, hi = newcombe_paired_interval(a, b, c, d)
        assert -1.0 <= lo <= (c - b) / n <= hi <= 1.0
        # Swapping the arms mirrors the interval.
        lo_s, hi_s = newcombe_paired_interval(a, c, b, d)
        assert isclose(lo, -hi_s, abs_tol=1e-12) and isclose(hi, -lo_s, abs_tol=1e-12)
    # All ten cases flip to pass: the margins are degenerate (phi = 0) and the upper limit is 1;
    # the lower limit is 1 - sqrt(2) * (1 - 0.72247), 0.72247 being Wilson's lower bound at 10/10.
    lo, hi = newcombe_paired_interval(0, 0, 10, 0)
    assert hi == 1.0 and isclose(lo, 0.607509, abs_tol=1e-6)
    # No discordant pairs at all: a symmetric interval around zero lift.
    lo, hi = newcombe_paired_interval(10, 0, 0, 10)
    assert isclose(lo, -hi) and lo < 0 < hi


# --- Binomial -----------------------------------------------------------------------------------


def test_binomial_small_cases_by_hand() -> None:
    # Bin(4, 1/2): 1, 4, 6, 4, 1 over 16.
    assert [binom_pmf(k, 4, 0.5) for k in range(5)] == pytest.approx(
        [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16]
    )
    assert binom_cdf(1, 4, 0.5) == pytest.approx(5 / 16)
    assert binom_sf(3, 4, 0.5) == pytest.approx(5 / 16)
    # Bin(3, 0.2): P(0) = 0.512, P(1) = 3 * 0.2 * 0.64 = 0.384, so P(X <= 1) = 0.896.
    assert binom_pmf(1, 3, 0.2) == pytest.approx(0.384)
    assert binom_cdf(1, 3, 0.2) == pytest.approx(0.896)
    assert binom_sf(2, 3, 0.2) == pytest.approx(0.104)
    # Out-of-range and degenerate p.
    assert binom_pmf(-1, 4, 0.5) == 0.0 and binom_pmf(5, 4, 0.5) == 0.0
    assert binom_cdf(-1, 4, 0.5) == 0.0 and binom_cdf(4, 4, 0.5) == 1.0
    assert binom_sf(0, 4, 0.5) == 1.0 and binom_sf(5, 4, 0.5) == 0.0
    assert binom_pmf(0, 5, 0.0) == 1.0 and binom_pmf(5, 5, 1.0) == 1.0
    assert binom_cdf(0, 5, 0.0) == 1.0 and binom_sf(5, 5, 1.0) == 1.0
    assert binom_cdf(4, 5, 1.0) == 0.0 and binom_sf(1, 5, 0.0) == 0.0


@pytest.mark.parametrize("p", [Fraction(1, 2), Fraction(1, 10), Fraction(37, 40)])
def test_binomial_tails_match_exact_rational_sums(p: Fraction) -> None:
    n = 60
    for k in range(-1, n + 2):
        cdf = sum((_exact_pmf(i, n, p) for i in range(0, min(k, n) + 1)), Fraction(0))
        sf = sum((_exact_pmf(i, n, p) for i in range(max(k, 0), n + 1)), Fraction(0))
        # Relative accuracy in the small tails is what p-values need.
        assert binom_cdf(k, n, float(p)) == pytest.approx(float(cdf), rel=1e-10, abs=1e-300)
        assert binom_sf(k, n, float(p)) == pytest.approx(float(sf), rel=1e-10, abs=1e-300)


def test_binomial_large_n() -> None:
    n = 20_000
    # Central term of Bin(2m, 1/2) is C(2m, m) / 4^m, about 1 / sqrt(pi m) = 0.0056419.
    exact_centre = Fraction(comb(n, n // 2), 2**n)
    assert binom_pmf(n // 2, n, 0.5) == pytest.approx(float(exact_centre), rel=1e-9)
    # A tail far from the mean, against an exact rational sum.
    # C(n, i) built incrementally (exact integers): calling comb() 9,801 times takes seconds.
    term, total = 1, 0
    for i in range(9_801):
        total += term
        term = term * (n - i) // (i + 1)
    exact_tail = Fraction(total, 2**n)
    assert binom_cdf(9_800, n, 0.5) == pytest.approx(float(exact_tail), rel=1e-9)
    # Normal approximation sanity (continuity corrected): P(X >= 10100) ~ P(Z >= 1.407) = 0.0797.
    assert binom_sf(10_100, n, 0.5) == pytest.approx(0.0797, abs=5e-4)
    # Complementarity holds across the mode.
    for k in (9_000, 9_990, 10_000, 10_010, 11_000):
        assert binom_cdf(k, n, 0.5) + binom_sf(k + 1, n, 0.5) == pytest.approx(1.0, abs=1e-12)
    assert binom_cdf(9_000, n, 0.5) < 1e-40


# --- McNemar ------------------------------------------------------------------------------------


def test_mcnemar_fagerland_2013_worked_example() -> None:
    # Fagerland MW, Lydersen S, Laake P (2013). The McNemar test for binary matched-pairs data:
    # mid-p and asymptotic are better than exact conditional. BMC Med Res Methodol 13:91.
    # Bentur et al. (2009) airway hyper-responsiveness, b = 1, c = 7: exact 0.0703, mid-p 0.0391.
    # By hand: 2 * (1 + 8) / 256 = 0.0703125 and 0.0703125 - 2 * 8 / 256 / 2 = 0.0390625.
    assert mcnemar_exact_p(1, 7) == pytest.approx(0.0703125)
    assert mcnemar_mid_p(1, 7) == pytest.approx(0.0390625)
    assert round(mcnemar_exact_p(7, 1), 4) == 0.0703
    assert round(mcnemar_mid_p(7, 1), 4) == 0.0391


def test_mcnemar_fagerland_cavo_example() -> None:
    # Cavo et al. (2012), b = 6, c = 16; Fagerland, Lydersen & Laake (2017) ch. 8, as printed by
    # the contingencytables package tests: "The McNemar exact conditional test: P = 0.052479" and
    # "The McNemar mid-P test: P = 0.034690".
    assert round(mcnemar_exact_p(6, 16), 6) == 0.052479
    assert round(mcnemar_mid_p(6, 16), 6) == 0.034690


def test_mcnemar_edges() -> None:
    assert mcnemar_exact_p(0, 0) == 1.0 and mcnemar_mid_p(0, 0) == 1.0
    assert mcnemar_exact_p(4, 4) == 1.0 and mcnemar_mid_p(4, 4) == pytest.approx(1.0)
    # With b = 0 the mid-p is 0.5 ** c (used by minimum_detectable_lift).
    for c in range(1, 12):
        assert mcnemar_mid_p(0, c) == pytest.approx(0.5**c)
    for b, c in [(0, 3), (2, 9), (10, 30), (100, 130)]:
        assert mcnemar_mid_p(b, c) < mcnemar_exact_p(b, c)


# --- Posterior ----------------------------------------------------------------------------------


def test_prob_rate_at_least_by_hand() -> None:
    # Beta(1,1) prior; posterior Beta(s+1, k-s+1). With tau = 1/2:
    #   s=1, k=1: Beta(2,1), P(p >= 1/2) = 1 - (1/2)^2 = 0.75
    #   s=0, k=1: Beta(1,2), P(p >= 1/2) = (1/2)^2 = 0.25
    #   s=5, k=5: Beta(6,1), P(p >= 1/2) = 1 - (1/2)^6
    assert prob_rate_at_least(1, 1) == pytest.approx(0.75)
    assert prob_rate_at_least(0, 1) == pytest.approx(0.25)
    assert prob_rate_at_least(5, 5) == pytest.approx(1 - 1 / 64)
    assert prob_rate_at_least(0, 0) == pytest.approx(0.5)
    assert prob_rate_at_least(0, 0, tau=0.8) == pytest.approx(0.2)
    # Beta(3, 2) at tau = 0.6: 1 - I_0.6(3, 2) = 1 - (4 * 0.6^3 - 3 * 0.6^4) = 0.5248.
    assert prob_rate_at_least(2, 3, tau=0.6) == pytest.approx(0.5248)
    # Symmetry of the uniform prior: P(p >= 1/2 | s, k) = 1 - P(p >= 1/2 | k - s, k).
    assert prob_rate_at_least(2, 5) == pytest.approx(1 - prob_rate_at_least(3, 5))


# --- Minimum detectable lift --------------------------------------------------------------------


@pytest.mark.parametrize(("n", "expected"), [(10, 0.581), (20, 0.314), (30, 0.214), (50, 0.131)])
def test_minimum_detectable_lift_design_values(n: int, expected: float) -> None:
    # Design §3 quotes "about 59, 32, 22, 14 points at n = 10, 20, 30, 50". Exactly: with b = 0 the
    # mid-p is 0.5 ** c < 0.05 iff c >= 5, so the lift is the smallest delta on a 0.001 grid with
    # P(Binomial(n, delta) >= 5) >= 0.8.
    lift = minimum_detectable_lift(n)
    assert lift is not None
    assert lift == pytest.approx(expected, abs=0.002)
    assert binom_sf(5, n, lift) >= 0.8 > binom_sf(5, n, lift - 0.001)


def test_minimum_detectable_lift_shape_and_speed() -> None:
    assert minimum_detectable_lift(4) is None  # five discordant cases are needed to reject at all
    assert minimum_detectable_lift(0) is None
    start = time.perf_counter()
    lifts = [minimum_detectable_lift(n) for n in range(5, 1001)]
    elapsed = time.perf_counter() - start
    values = [lift for lift in lifts if lift is not None]
    assert len(values) == len(lifts)
    assert all(x >= y for x, y in pairwise(values))
    assert values[0] > values[-1]
    assert elapsed < 2.0  # ~1000 calls; each well under 10 ms
    # A stricter test needs a bigger lift.
    strict = minimum_detectable_lift(50, alpha=0.01, power=0.9)
    assert strict is not None and strict > 0.131
