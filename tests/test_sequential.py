"""The per-case rule's operating characteristics: before (the posterior rule) and after.

Everything here is exact (app.diagnosis.sequential walks every path of the rule) except one
seeded simulation that checks the walk against the runner's own decide loop. The goals:

- a case whose two arms each pass half the time (nothing to label) gets a confident label
  at most 20% of the time, for every k_max a run allows;
- at pass rates <= 0.2 or >= 0.8 on both arms, a wrong label at most 5% of the time;
- a clear-cut case costs no more calls than it did.
"""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import pytest

from app.diagnosis.labels import EVIDENCE_BAR, LABELS, ArmTally, decide_case
from app.diagnosis.options import MAX_SAMPLES
from app.diagnosis.sequential import operating_point, stopping_points, unbiased_rates
from tests.oc_table import BEGIN, END, readme_block
from tests.posterior_rule import posterior_decide_case

ROOT = Path(__file__).resolve().parents[1]
ALL_K_MAX = range(2, MAX_SAMPLES + 1)
CLEAR_FAIL = (0.0, 0.05, 0.1, 0.15, 0.2)
CLEAR_PASS = (0.8, 0.85, 0.9, 0.95, 1.0)
CATEGORY = {(False, True): "knowledge", (False, False): "behavior",
            (True, True): "no_gap", (True, False): "distraction"}  # fmt: skip


def simulate(rule: object, k_max: int, p_closed: float, p_open: float, cases: int, seed: int):
    """The runner's loop (`Runner._run_case`) with sample outcomes drawn at random."""
    rng = random.Random(seed)
    labels = dict.fromkeys(LABELS, 0)
    calls = 0
    for _ in range(cases):
        tallies = {"closed_book": ArmTally(), "open_book": ArmTally()}
        while True:
            d = rule(tallies["closed_book"], tallies["open_book"], k_max, False)  # type: ignore[operator]
            if d.label is not None or d.next_arm is None:
                break
            p = p_closed if d.next_arm == "closed_book" else p_open
            tallies[d.next_arm] = tallies[d.next_arm].add(rng.random() < p)
            calls += 1
        labels[d.label or "inconclusive"] += 1
    return {k: v / cases for k, v in labels.items()}, calls / cases


# --- before: the posterior rule, reproduced ---------------------------------------------------


@pytest.mark.parametrize(("k_max", "share"), [(5, 0.2031), (8, 0.2857), (10, 0.3427)])
def test_the_posterior_rule_labelled_more_coin_flips_the_more_it_sampled(
    k_max: int, share: float
) -> None:
    # The issue measured 0.20, 0.29 and 0.34 on 20,000 simulated cases each; exactly:
    before = operating_point(k_max, 0.5, 0.5, posterior_decide_case)
    assert before.confident == pytest.approx(share, abs=5e-5)


def test_posterior_rule_growth_is_monotone_in_k_max() -> None:
    shares = [
        operating_point(k, 0.5, 0.5, posterior_decide_case).confident for k in (3, 5, 8, 10, 20)
    ]
    assert shares == sorted(shares) and shares[-1] > 0.48


# --- after: the sequential rule -----------------------------------------------------------------


@pytest.mark.parametrize("k_max", ALL_K_MAX)
def test_coin_flip_cases_are_labelled_at_most_20_percent_for_every_k_max(k_max: int) -> None:
    after = operating_point(k_max, 0.5, 0.5)
    assert after.confident <= 4 / EVIDENCE_BAR == 0.2  # Ville's bound, for any k_max
    assert after.confident <= 0.17  # what the exact walk gives up to 20 samples


@pytest.mark.parametrize("k_max", ALL_K_MAX)
def test_clear_cases_are_almost_never_mislabelled(k_max: int) -> None:
    worst = 0.0
    for p_closed in CLEAR_FAIL + CLEAR_PASS:
        for p_open in CLEAR_FAIL + CLEAR_PASS:
            op = operating_point(k_max, p_closed, p_open)
            truth = CATEGORY[(p_closed > 0.5, p_open > 0.5)]
            wrong = sum(p for label, p in op.labels.items() if label not in (truth, "inconclusive"))
            worst = max(worst, wrong)
    assert worst <= 0.05


@pytest.mark.parametrize("k_max", ALL_K_MAX)
@pytest.mark.parametrize(("p_closed", "p_open"), [(0.0, 1.0), (1.0, 1.0), (0.0, 0.0), (1.0, 0.0)])
def test_clear_cut_cases_cost_no_more_calls_than_before(
    k_max: int, p_closed: float, p_open: float
) -> None:
    after = operating_point(k_max, p_closed, p_open)
    before = operating_point(k_max, p_closed, p_open, posterior_decide_case)
    assert after.expected_calls <= before.expected_calls
    assert after.expected_calls <= 5  # 3 + 2 samples: half the fixed design at k_max 5
    if k_max >= 3:
        assert after.labels[CATEGORY[(p_closed > 0.5, p_open > 0.5)]] == 1.0


def test_more_samples_label_more_of_the_clear_cases() -> None:
    # The bound costs power at small k_max; more samples buy it back without more false labels.
    right = [operating_point(k, 0.2, 0.8).labels["knowledge"] for k in (3, 5, 10, 20)]
    assert right == sorted(right)
    assert right[-1] > 0.75
    assert operating_point(10, 0.1, 0.9).labels["knowledge"] > 0.85


@pytest.mark.parametrize(
    ("k_max", "p_closed", "p_open"), [(5, 0.5, 0.5), (10, 0.5, 0.5), (10, 0.2, 0.8), (20, 0.3, 0.9)]
)
def test_the_exact_walk_matches_a_seeded_simulation_of_the_runner_loop(
    k_max: int, p_closed: float, p_open: float
) -> None:
    cases = 4000
    shares, calls = simulate(decide_case, k_max, p_closed, p_open, cases, seed=k_max)
    exact = operating_point(k_max, p_closed, p_open)
    for label, p in exact.labels.items():
        assert shares[label] == pytest.approx(p, abs=4 * (p * (1 - p) / cases) ** 0.5 + 1e-9)
    assert calls == pytest.approx(exact.expected_calls, rel=0.03)


def test_the_posterior_rule_simulated_as_the_issue_did() -> None:
    shares, _ = simulate(posterior_decide_case, 10, 0.5, 0.5, 4000, seed=10)
    assert 1 - shares["inconclusive"] == pytest.approx(0.3427, abs=0.03)


# --- unbiased per-case rates ------------------------------------------------------------------


@pytest.mark.parametrize("k_max", [1, 3, 5, 10, 20])
@pytest.mark.parametrize(("p_closed", "p_open"), [(0.1, 0.9), (0.3, 0.3), (0.7, 0.7), (0.5, 0.9)])
def test_unbiased_rates_average_to_the_true_pass_rates(
    k_max: int, p_closed: float, p_open: float
) -> None:
    op = operating_point(k_max, p_closed, p_open)
    assert op.mean_closed_rate == pytest.approx(p_closed, abs=1e-12)
    assert op.mean_open_rate == pytest.approx(p_open, abs=1e-12)


def test_plain_proportions_would_be_biased_towards_the_streaks() -> None:
    # What the unbiased estimate corrects: at p = 0.9 on both arms and k_max = 20, the plain
    # closed-book proportion s / k averages about 0.95 over the stopping points.
    p = 0.9
    plain = sum(
        stop.paths * p**sc * (1 - p) ** (kc - sc) * p**so * (1 - p) ** (ko - so) * sc / kc
        for (sc, kc, so, ko), stop in stopping_points(20).items()
    )
    assert plain > 0.94


def test_unbiased_rates_are_exact_with_fractions() -> None:
    # E[estimate] = p as an identity in p: check at p = 1/3 with exact arithmetic.
    p = Fraction(1, 3)
    total = closed = Fraction(0)
    for (sc, kc, so, ko), stop in stopping_points(5).items():
        w = stop.paths * p**sc * (1 - p) ** (kc - sc) * p**so * (1 - p) ** (ko - so)
        total += w
        closed += w * Fraction(stop.closed_first_passed, stop.paths)
    assert total == 1
    assert closed == p


def test_unbiased_rates_of_single_stops_by_hand() -> None:
    # 3 closed fails then 2 open passes is reached by one path only: the estimates are 0 and 1.
    assert unbiased_rates(0, 3, 2, 2, 5) == (0.0, 1.0)
    # With one sample per arm the estimate is the sample.
    assert unbiased_rates(1, 1, 0, 1, 1) == (1.0, 0.0)
    # A point no error-free path stops at (errors interrupted the case): no estimate.
    assert unbiased_rates(1, 4, 3, 3, 5) is None


# --- the README ---------------------------------------------------------------------------------


def test_readme_holds_the_generated_operating_characteristics() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    assert readme[start:end] == readme_block(), "run: python -m tests.oc_table"
