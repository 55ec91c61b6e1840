"""The aggregate of sampled runs (app.diagnosis.clustered, app.diagnosis.sampled).

By-hand checks of the formulas, the reduction to the exact label statistics when every case
has one consistent answer per arm, and seeded simulations: pure-noise suites must not get a
lift, and the clustered interval must cover a true lift. Simulated cases are drawn from the
rule's exact stopping distribution (app.diagnosis.sequential), which is what the runner's loop
produces for those pass rates, only faster.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence

import pytest

from app.diagnosis.clustered import (
    CaseRates,
    aggregate,
    knowledge_share,
    noise_split,
    wilson_rate,
)
from app.diagnosis.sequential import Rule, stopping_points
from app.diagnosis.stats import newcombe_paired_interval, wilson_interval
from app.diagnosis.summary import explain
from app.diagnosis.verdict import CaseOutcome, build_verdict
from tests.posterior_rule import posterior_decide_case

T = 0.05
PATTERN: dict[str, tuple[int, int]] = {
    "no_gap": (1, 1), "knowledge": (0, 1), "behavior": (0, 0), "distraction": (1, 0),
}  # fmt: skip


def consistent(label: str, i: int, samples: int = 5) -> CaseOutcome:
    """A case whose every sample agrees: 3 + 2 samples, as the sequential rule takes them."""
    c, o = PATTERN[label]
    return CaseOutcome(
        f"{label}-{i}", label,  # type: ignore[arg-type]
        closed_passes=3 * c, closed_scored=3, open_passes=2 * o, open_scored=2,
    )  # fmt: skip


def table(a: int = 0, b: int = 0, c: int = 0, d: int = 0) -> list[CaseOutcome]:
    counts = {"no_gap": a, "distraction": b, "knowledge": c, "behavior": d}
    return [consistent(label, i) for label, n in counts.items() for i in range(n)]


def draw(
    k_max: int, rates: Sequence[tuple[float, float]], rng: random.Random, rule: Rule | None = None
) -> list[CaseOutcome]:
    """Cases with these true pass rates, as the rule leaves them."""
    stops = list((stopping_points(k_max) if rule is None else stopping_points(k_max, rule)).items())
    out = []
    for i, (pc, po) in enumerate(rates):
        weights = [
            s.paths * pc**sc * (1 - pc) ** (kc - sc) * po**so * (1 - po) ** (ko - so)
            for (sc, kc, so, ko), s in stops
        ]
        (sc, kc, so, ko), stop = rng.choices(stops, weights)[0]
        out.append(CaseOutcome(f"c{i}", stop.label, closed_passes=sc, closed_scored=kc,
                               open_passes=so, open_scored=ko))  # fmt: skip
    return out


# --- formulas by hand ---------------------------------------------------------------------------


def test_wilson_rate_matches_the_count_form() -> None:
    assert wilson_rate(9 / 20, 20) == pytest.approx(wilson_interval(9, 20))
    assert wilson_rate(0.0, 20) == pytest.approx(wilson_interval(0, 20))
    assert wilson_rate(0.5, 0) == (0.0, 1.0)


def test_pass_rate_standard_error_is_millers_clustered_formula() -> None:
    rates = [CaseRates(r, 1.0, 0, 4, 4, 4) for r in (0.0, 0.25, 0.5, 1.0)]
    agg = aggregate(rates)
    mean = 1.75 / 4
    var = sum((r - mean) ** 2 for r in (0.0, 0.25, 0.5, 1.0)) / 3
    assert agg.closed.mean == pytest.approx(mean)
    assert agg.closed.standard_error == pytest.approx(math.sqrt(var / 4))
    # Effective n: rate (1 - rate) / SE^2 = 0.246 / 0.0456 = 5.4, between 4 cases and 16 samples.
    assert agg.closed.effective_n == pytest.approx(mean * (1 - mean) / (var / 4))
    assert 4 < agg.closed.effective_n < 16
    assert agg.closed.interval() == pytest.approx(wilson_rate(mean, agg.closed.effective_n))


def test_lift_standard_error_is_the_spread_of_paired_differences() -> None:
    pairs = [(0.0, 1.0), (0.5, 0.5), (0.25, 1.0), (1.0, 0.75), (0.0, 0.0)]
    rates = [CaseRates(c, o, 0, 4, 0, 4) for c, o in pairs]
    lift = aggregate(rates).lift()
    diffs = [o - c for c, o in pairs]
    mean = sum(diffs) / 5
    assert lift.value == pytest.approx(mean)
    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / 4)
    assert lift.standard_error == pytest.approx(sd / math.sqrt(5))
    assert -1 <= lift.low < lift.value < lift.high <= 1


def test_one_consistent_answer_per_case_gives_the_exact_label_statistics() -> None:
    # a = 4, b = 2, c = 2, d = 1: ad = bc, so Newcombe's correlation term and the case-level
    # correlation are both 0, and the clustered interval is Newcombe's.
    v = build_verdict(table(a=4, b=2, c=2, d=1), T, samples=5)
    assert v.clustered is not None and v.lift.method == "clustered"
    closed, open_ = v.pass_rates["closed_book"], v.pass_rates["open_book"]
    assert (closed.low, closed.high) == pytest.approx(wilson_interval(6, 9))
    assert (open_.low, open_.high) == pytest.approx(wilson_interval(6, 9))
    assert closed.effective_n == 9  # every case fully consistent: one draw's worth each
    assert (v.lift.low, v.lift.high) == pytest.approx(newcombe_paired_interval(4, 2, 2, 1))
    share = v.knowledge_share
    assert share.value == pytest.approx(2 / 3)
    assert (share.low, share.high) == pytest.approx(wilson_interval(2, 3))


@pytest.mark.parametrize(
    ("a", "b", "c", "d", "diagnosis"),
    [(19, 0, 1, 0, "no_gap"), (5, 0, 15, 0, "knowledge"), (5, 0, 0, 15, "behavior"),
     (0, 0, 10, 10, "mixed"), (7, 0, 3, 0, "inconclusive")],
)  # fmt: skip
def test_consistent_cases_reach_the_same_diagnosis_as_the_label_table(
    a: int, b: int, c: int, d: int, diagnosis: str
) -> None:
    sampled = build_verdict(table(a, b, c, d), T, samples=5)
    counted = build_verdict(table(a, b, c, d), T)
    assert sampled.diagnosis == counted.diagnosis == diagnosis
    assert sampled.closed_book_provably_fails == counted.closed_book_provably_fails


def test_knowledge_share_weighs_each_closed_book_failure_by_its_fix_rate() -> None:
    # Case 1 fails closed-book always and passes open-book half the time; case 2 fails
    # closed-book half the time and always passes with facts: (1 * 0.5 + 0.5 * 1) / 1.5.
    rates = [CaseRates(0.0, 0.5, 0, 4, 2, 4), CaseRates(0.5, 1.0, 2, 4, 4, 4)]
    assert knowledge_share(rates).value == pytest.approx(1.0 / 1.5)
    assert knowledge_share([CaseRates(1.0, 0.0, 4, 4, 0, 4)]).value is None


def test_noise_split_tells_sampling_noise_from_case_spread() -> None:
    noisy = [CaseRates(c / 4, o / 4, c, 4, o, 4) for c, o in [(2, 2), (1, 3), (3, 1), (2, 2)] * 5]
    split = noise_split(noisy, 20)
    assert split.within > split.between
    assert split.at_max_samples < split.standard_error
    steady = [CaseRates(0.0, x, 0, 5, 5 * int(x), 5) for x in (0.0, 1.0) * 10]
    split = noise_split(steady, 20)
    assert split.within == 0.0 and split.within_share == 0.0
    assert split.at_max_samples == pytest.approx(split.standard_error)
    assert split.with_twice_the_cases == pytest.approx(split.standard_error / math.sqrt(2))


def test_sampled_verdict_says_what_would_help_more() -> None:
    rng = random.Random(3)
    noisy = build_verdict(draw(5, [(0.5, 0.5)] * 40, rng), T, samples=5)
    assert noisy.clustered is not None
    assert noisy.clustered.more_evidence == "more_samples"
    assert "more samples would help more" in explain(noisy)
    steady = build_verdict(table(a=10, c=6, d=14), T, samples=5)
    assert steady.clustered is not None and steady.clustered.more_evidence == "more_cases"
    assert "more cases would help more" in explain(steady)


def test_inconclusive_cases_count_with_their_rates_and_errors_do_not() -> None:
    cases = table(a=10, c=5)
    cases.append(CaseOutcome("flaky", "inconclusive", closed_passes=2, closed_scored=4,
                             open_passes=2, open_scored=2))  # fmt: skip
    cases.append(CaseOutcome("broken", "error", closed_passes=0, closed_scored=0,
                             open_passes=0, open_scored=0))  # fmt: skip
    v = build_verdict(cases, T, samples=5)
    assert v.clustered is not None and v.clustered.cases == 16
    assert v.labelled == 15 and v.counts["inconclusive"] == 1
    assert v.clustered.unbiased_cases == 16  # the rule stops at (2/4, 2/2)
    assert "1 errored case(s) are left out" in explain(v)


def test_cases_whose_facts_are_insufficient_leave_the_aggregate() -> None:
    cases = table(a=10, c=5, d=5)
    for case in cases[-5:]:
        case.label, case.facts_sufficient = "inconclusive", False
    v = build_verdict(cases, T, samples=5)
    assert v.clustered is not None and v.clustered.cases == 15
    assert v.facts_insufficient == [f"behavior-{i}" for i in range(5)]
    assert "insufficient to answer" in explain(v)


def test_runs_stored_without_tallies_keep_the_label_statistics() -> None:
    cases = [CaseOutcome(f"k{i}", "knowledge") for i in range(15)]
    v = build_verdict(cases, T, samples=5)
    assert v.clustered is None and v.lift.method == "paired_counts"


def test_sampled_inconclusive_says_how_many_cases_would_decide() -> None:
    v = build_verdict(table(a=7, c=3), T, samples=5)
    assert (v.diagnosis, v.next_rung) == ("inconclusive", None)
    assert v.cases_to_decide is not None and v.cases_to_decide > 10
    scaled = build_verdict(
        table(a=7 * v.cases_to_decide // 10, c=3 * v.cases_to_decide // 10 + 1), T, samples=5
    )
    assert scaled.diagnosis != "inconclusive"


# --- simulations ----------------------------------------------------------------------------------


def diagnoses(runs: list[tuple[str, bool]]) -> Counter[str]:
    return Counter(d for d, _ in runs)


@pytest.mark.parametrize("k_max", [5, 10])
def test_pure_noise_suites_get_no_lift_from_the_sampled_verdict(k_max: int) -> None:
    # 60 cases whose arms both pass half the time: the honest verdict is behavior (with facts
    # it still fails half the time, and the facts do not help).
    rng = random.Random(k_max)
    runs = []
    for _ in range(120):
        v = build_verdict(draw(k_max, [(0.5, 0.5)] * 60, rng), T, samples=k_max)
        runs.append((v.diagnosis, v.lift.low <= 0 <= v.lift.high))
    seen = diagnoses(runs)
    assert seen["behavior"] >= 0.9 * len(runs)
    assert seen["knowledge"] == 0
    assert seen["mixed"] <= 0.06 * len(runs)
    assert sum(covered for _, covered in runs) >= 0.9 * len(runs)


def test_the_label_table_of_the_posterior_rule_manufactures_labels_from_noise() -> None:
    # Before: a third of pure-noise cases got a confident label at k_max = 10; now about 15%.
    rng = random.Random(7)
    before = draw(10, [(0.5, 0.5)] * 300, rng, posterior_decide_case)
    after = draw(10, [(0.5, 0.5)] * 300, rng)
    labelled = [sum(c.label != "inconclusive" for c in cases) / 300 for cases in (before, after)]
    assert labelled[0] > 0.28 and labelled[1] < 0.2


@pytest.mark.parametrize("k_max", [3, 5, 10])
def test_the_clustered_interval_covers_a_true_lift_over_mixed_cases(k_max: int) -> None:
    rng = random.Random(100 + k_max)
    covered = 0
    runs = 150
    for _ in range(runs):
        rates = []
        for _ in range(30):
            pc = rng.choice([0.0, 0.1, 0.3, 0.5, 0.8, 1.0])
            rates.append((pc, min(1.0, pc + rng.choice([0.0, 0.3]))))
        truth = sum(o - c for c, o in rates) / len(rates)
        v = build_verdict(draw(k_max, rates, rng), T, samples=k_max)
        covered += v.lift.low <= truth <= v.lift.high
    assert covered >= 0.88 * runs
