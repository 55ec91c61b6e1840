"""Per-case labels and the sequential sampling rule, in app.diagnosis.labels.

Evidence numbers are worked by hand from `ALTERNATIVES` (0.95 with weight 3/4, 0.80 with 1/4):
an arm's evidence for a direction after a agreeing and d disagreeing samples is
E(a, d) = 3/4 * 1.9^a * 0.1^d + 1/4 * 1.6^a * 0.4^d. The ones used below:

    E(0, 0) = 1           E(1, 0) = 1.825      E(2, 0) = 3.3475     E(3, 0) = 6.16825
    E(1, 1) = 0.3025      E(4, 0) = 11.412     E(4, 1) = 1.6318     E(5, 1) = 2.9058
    E(6, 1) = 5.2066      E(7, 0) = 73.797

A label needs one category's product to reach 20 (E(3, 0) E(2, 0) = 20.648 is the first).

Posterior numbers (the reported confidence) are worked by hand from the Beta(1,1) prior:
after s passes in k scored samples, P(p >= 1/2) = P(Binomial(k + 1, 1/2) <= s). The ones used below:

    s/k   P(pass)          P(fail) = 1 - P(pass)
    0/0   1/2              1/2
    1/1   3/4              1/4
    0/1   1/4              3/4
    2/2   7/8              1/8
    0/2   1/8              7/8
    1/2   4/8 = 1/2        1/2
    3/3   15/16            1/16
    0/3   1/16             15/16
    1/5   7/64             57/64
    4/5   57/64            7/64
    1/7   9/256            247/256
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from itertools import product
from math import comb

import pytest

from app.diagnosis.labels import (
    ALTERNATIVES,
    EVIDENCE_BAR,
    GAMMA,
    LABELS,
    TAU,
    ArmTally,
    CaseDecision,
    Label,
    arm_evidence,
    arm_needs_sample,
    category_probabilities,
    decide_arm,
    decide_case,
)

CLEAR_CUT: list[tuple[bool, bool, Label]] = [
    # closed-book passes?, open-book passes?, label (design §1 table)
    (True, True, "no_gap"),
    (False, True, "knowledge"),
    (False, False, "behavior"),
    (True, False, "distraction"),
]


def tally(passes: int, scored: int, attempts: int | None = None) -> ArmTally:
    return ArmTally(passes, scored, scored if attempts is None else attempts)


def exact_p_pass(s: int, k: int) -> Fraction:
    """P(p >= 1/2 | s of k) under Beta(1,1), as an exact fraction: P(Bin(k + 1, 1/2) <= s)."""
    return Fraction(sum(comb(k + 1, i) for i in range(s + 1)), 2 ** (k + 1))


def run_case(
    closed: Sequence[bool | None], open_: Sequence[bool | None], k_max: int
) -> tuple[CaseDecision, dict[str, ArmTally]]:
    """The runner's decide loop (app/runner.py `_run_case`) with scripted sample outcomes.

    Sample i of an arm has the outcome `closed[i]` / `open_[i]` (None: the call errored or the
    grade was unscored), whatever order the arms are sampled in.
    """
    script = {"closed_book": closed, "open_book": open_}
    tallies = {"closed_book": ArmTally(), "open_book": ArmTally()}
    for _ in range(2 * k_max + 1):
        decision = decide_case(
            tallies["closed_book"], tallies["open_book"], k_max, deterministic=False
        )
        if decision.label is not None or decision.next_arm is None:
            return decision, tallies
        arm = decision.next_arm
        assert tallies[arm].attempts < k_max, f"asked for sample {k_max + 1} of {arm}"
        tallies[arm] = tallies[arm].add(script[arm][tallies[arm].attempts])
    raise AssertionError("the decide loop did not stop within 2 * k_max samples")


def used(tallies: dict[str, ArmTally]) -> int:
    return sum(t.attempts for t in tallies.values())


# --- ArmTally ---------------------------------------------------------------------------------


def test_arm_tally_counts_attempts_scores_and_passes() -> None:
    t = ArmTally().add(True).add(False).add(None).add(True)
    assert t == ArmTally(passes=2, scored=3, attempts=4)
    assert ArmTally() == ArmTally(0, 0, 0)
    # Frozen: add returns a new tally.
    base = ArmTally()
    base.add(True)
    assert base == ArmTally()


def test_labels_cover_design_table() -> None:
    assert set(LABELS) == {
        "no_gap", "knowledge", "behavior", "distraction", "inconclusive", "error",
    }  # fmt: skip
    assert GAMMA == 0.8  # the single-arm rule (prompt-fix arm)
    assert TAU == 0.5
    assert EVIDENCE_BAR == 20.0  # 4 / 20: at most 20% of coin-flip cases ever get a label
    assert ALTERNATIVES == ((0.95, 0.75), (0.80, 0.25))


@pytest.mark.parametrize(
    ("agree", "disagree", "by_hand"),
    [
        (0, 0, 1.0),
        (1, 0, 0.75 * 1.9 + 0.25 * 1.6),  # 1.825
        (2, 0, 0.75 * 1.9**2 + 0.25 * 1.6**2),  # 3.3475
        (3, 0, 0.75 * 1.9**3 + 0.25 * 1.6**3),  # 6.16825
        (1, 1, 0.75 * 1.9 * 0.1 + 0.25 * 1.6 * 0.4),  # 0.3025
        (4, 1, 0.75 * 1.9**4 * 0.1 + 0.25 * 1.6**4 * 0.4),  # 1.6318
        (6, 1, 0.75 * 1.9**6 * 0.1 + 0.25 * 1.6**6 * 0.4),  # 5.2066
    ],
)
def test_arm_evidence_by_hand(agree: int, disagree: int, by_hand: float) -> None:
    assert arm_evidence(agree, disagree) == pytest.approx(by_hand)


def test_arm_evidence_is_a_fair_bet_against_a_coin_flip() -> None:
    # Under p = 1/2 the next sample multiplies the evidence by 2p or 2(1 - p) with equal odds:
    # its expected value stays where it is. That martingale property is what bounds false
    # labels however many samples are drawn (Ville's inequality).
    for a, d in [(0, 0), (2, 1), (5, 3), (10, 0)]:
        nxt = (arm_evidence(a + 1, d) + arm_evidence(a, d + 1)) / 2
        assert nxt == pytest.approx(arm_evidence(a, d))


# --- k_max = 1: the observed pattern is the label -------------------------------------------


@pytest.mark.parametrize(("closed_pass", "open_pass", "label"), CLEAR_CUT)
def test_single_sample_label_is_the_observed_pattern(
    closed_pass: bool, open_pass: bool, label: Label
) -> None:
    closed = ArmTally().add(closed_pass)
    open_ = ArmTally().add(open_pass)
    decision = decide_case(closed, open_, k_max=1, deterministic=True)
    assert decision == CaseDecision(label, 1.0, None)


@pytest.mark.parametrize(("closed_pass", "open_pass", "label"), CLEAR_CUT)
def test_single_sample_at_temperature_reports_posterior_confidence(
    closed_pass: bool, open_pass: bool, label: Label
) -> None:
    # Not deterministic (temperature > 0, k_max = 1): same label, but the confidence is the
    # posterior product, 3/4 * 3/4 for any single-sample pattern.
    decision = decide_case(
        ArmTally().add(closed_pass), ArmTally().add(open_pass), k_max=1, deterministic=False
    )
    assert decision.label == label
    assert decision.confidence == pytest.approx(9 / 16)
    assert decision.next_arm is None


def test_single_sample_asks_for_each_arm_first() -> None:
    first = decide_case(ArmTally(), ArmTally(), k_max=1, deterministic=True)
    assert first == CaseDecision(None, 0.0, "closed_book")
    second = decide_case(ArmTally().add(False), ArmTally(), k_max=1, deterministic=True)
    assert second == CaseDecision(None, 0.0, "open_book")


@pytest.mark.parametrize(
    ("closed", "open_"),
    [
        (ArmTally().add(None), ArmTally().add(True)),
        (ArmTally().add(False), ArmTally().add(None)),
        (ArmTally().add(None), ArmTally().add(None)),
    ],
)
def test_single_sample_without_a_scored_sample_is_error(closed: ArmTally, open_: ArmTally) -> None:
    decision = decide_case(closed, open_, k_max=1, deterministic=True)
    assert decision.label == "error"
    assert decision.next_arm is None


# --- k_max > 1: posterior probabilities -----------------------------------------------------


def test_category_probability_is_product_of_arm_posteriors_by_hand() -> None:
    # closed 0/2: P(fail) = 7/8; open 3/3: P(pass) = 15/16.
    probs = category_probabilities(tally(0, 2), tally(3, 3))
    assert probs["knowledge"] == pytest.approx(7 / 8 * 15 / 16)  # 105/128 = 0.8203
    assert probs["no_gap"] == pytest.approx(1 / 8 * 15 / 16)
    assert probs["behavior"] == pytest.approx(7 / 8 * 1 / 16)
    assert probs["distraction"] == pytest.approx(1 / 8 * 1 / 16)
    assert sum(probs.values()) == pytest.approx(1.0)
    assert set(probs) == {"no_gap", "knowledge", "behavior", "distraction"}


def test_category_probabilities_match_exact_fractions() -> None:
    for (sc, kc), (so, ko) in product([(0, 0), (1, 1), (0, 2), (1, 3), (4, 5)], repeat=2):
        pc, po = exact_p_pass(sc, kc), exact_p_pass(so, ko)
        probs = category_probabilities(tally(sc, kc), tally(so, ko))
        assert probs["no_gap"] == pytest.approx(float(pc * po))
        assert probs["knowledge"] == pytest.approx(float((1 - pc) * po))
        assert probs["behavior"] == pytest.approx(float((1 - pc) * (1 - po)))
        assert probs["distraction"] == pytest.approx(float(pc * (1 - po)))


def test_no_samples_is_a_coin_flip_per_arm() -> None:
    probs = category_probabilities(ArmTally(), ArmTally())
    assert all(p == pytest.approx(0.25) for p in probs.values())


def test_errored_attempts_carry_no_evidence() -> None:
    # Two errors and one pass weigh exactly as one pass: only scored samples count.
    with_errors = ArmTally().add(None).add(True).add(None)
    assert category_probabilities(with_errors, tally(0, 1)) == category_probabilities(
        tally(1, 1), tally(0, 1)
    )


# --- k_max > 1: when to stop ------------------------------------------------------------------


def test_labels_once_evidence_reaches_the_bar() -> None:
    # Closed 0/2 (E(2, 0) = 3.3475 for "fails") x open 3/3 (E(3, 0) = 6.168 for "passes") =
    # 20.65 >= 20: knowledge, stop sampling even though samples are left. The confidence is
    # the posterior (7/8 * 15/16 = 105/128), reported, not used to decide.
    assert arm_evidence(2, 0) * arm_evidence(3, 0) >= EVIDENCE_BAR
    decision = decide_case(tally(0, 2), tally(3, 3), k_max=5, deterministic=False)
    assert decision.label == "knowledge"
    assert decision.confidence == pytest.approx(105 / 128)
    assert decision.next_arm is None


def test_keeps_sampling_below_the_bar() -> None:
    # closed 0/2 x open 2/2: 3.3475^2 = 11.2 < 20, and 20 is still reachable.
    decision = decide_case(tally(0, 2), tally(2, 2), k_max=5, deterministic=False)
    assert decision.label is None
    assert decision.confidence == pytest.approx(49 / 64)
    assert decision.next_arm is not None


def test_mixed_samples_up_to_k_max_are_inconclusive() -> None:
    # Both arms used all five samples and disagree with themselves: nothing reaches 0.8.
    decision = decide_case(tally(2, 5), tally(3, 5), k_max=5, deterministic=False)
    assert decision.label == "inconclusive"
    assert decision.next_arm is None
    assert decision.confidence < GAMMA


def test_alternating_samples_end_inconclusive_within_k_max() -> None:
    alternating = [True, False, True, False, True]
    decision, tallies = run_case(alternating, alternating, k_max=5)
    assert decision.label == "inconclusive"
    assert all(t.attempts <= 5 for t in tallies.values())


def test_stops_early_when_the_bar_is_unreachable() -> None:
    # closed 1/2 and open 1/2 at k_max = 5: even if all six remaining samples agree, the best an
    # arm can reach is 4 of 5 one way, E(4, 1) = 1.63, and 1.63^2 = 2.7 < 20. So stop now,
    # after 4 of 10 samples, instead of burning 6 more.
    assert arm_evidence(4, 1) ** 2 < EVIDENCE_BAR
    decision = decide_case(tally(1, 2), tally(1, 2), k_max=5, deterministic=False)
    assert decision.label == "inconclusive"
    assert decision.next_arm is None


def test_reachable_bar_keeps_sampling() -> None:
    # The same tallies: at k_max = 6 the best is E(5, 1)^2 = 8.4 < 20 (stop); at k_max = 7 it is
    # E(6, 1)^2 = 27.1 >= 20, so sampling continues. (The posterior rule kept going at 6.)
    assert arm_evidence(5, 1) ** 2 < EVIDENCE_BAR <= arm_evidence(6, 1) ** 2
    stop = decide_case(tally(1, 2), tally(1, 2), k_max=6, deterministic=False)
    assert (stop.label, stop.next_arm) == ("inconclusive", None)
    decision = decide_case(tally(1, 2), tally(1, 2), k_max=7, deterministic=False)
    assert decision.label is None
    assert decision.next_arm is not None


def test_next_arm_is_the_weaker_factor_closed() -> None:
    # Closed 0/1 has evidence 1.825 for "fails", open 2/2 3.3475 for "passes": the closed-book
    # factor is the bottleneck, sample it. (The confidence is the posterior 3/4 * 7/8.)
    decision = decide_case(tally(0, 1), tally(2, 2), k_max=5, deterministic=False)
    assert decision.label is None
    assert decision.confidence == pytest.approx(3 / 4 * 7 / 8)
    assert decision.next_arm == "closed_book"


def test_next_arm_is_the_weaker_factor_open() -> None:
    # Closed 0/2 -> 3.3475, open 1/1 -> 1.825: sample open-book.
    decision = decide_case(tally(0, 2), tally(1, 1), k_max=5, deterministic=False)
    assert decision.label is None
    assert decision.next_arm == "open_book"


def test_next_arm_skips_an_arm_out_of_samples() -> None:
    # k_max = 7. Closed used all 7 attempts (6 errored) and has 0/1 scored: 1.825 for "fails".
    # Open 3/3 has 6.17, so closed is the weaker factor (1.825 * 6.17 = 11.3 < 20), but it has
    # no samples left. 20 is still reachable through open alone (4 more passes: E(7, 0) = 73.8),
    # so sample open-book.
    closed = tally(0, 1, attempts=7)
    open_ = tally(3, 3)
    assert arm_evidence(1, 0) * arm_evidence(3, 0) < EVIDENCE_BAR
    decision = decide_case(closed, open_, k_max=7, deterministic=False)
    assert decision.label is None
    assert decision.confidence == pytest.approx(3 / 4 * 15 / 16)
    assert decision.next_arm == "open_book"


def test_errors_after_all_attempts_are_error_not_failure() -> None:
    # closed-book: five attempts, nothing scored. Open-book passed 5/5. That is an error, never
    # a knowledge or behavior label.
    decision = decide_case(tally(0, 0, attempts=5), tally(5, 5), k_max=5, deterministic=False)
    assert decision.label == "error"
    assert decision.next_arm is None


def test_all_errors_on_one_arm_stop_as_error_without_wasting_the_other() -> None:
    # closed errored 5 times; open has 1/1. An arm with nothing scored and no samples left
    # leans neither way, so no label is reachable: stop now as error.
    decision = decide_case(tally(0, 0, attempts=5), tally(1, 1), k_max=5, deterministic=False)
    assert decision.label == "error"
    assert decision.next_arm is None


def test_error_samples_are_retried_within_k_max() -> None:
    # The first two closed-book attempts error; the case is still decided from later samples.
    decision, tallies = run_case(
        [None, None, False, False, False], [True, True, True, True, True], k_max=5
    )
    assert decision.label == "knowledge"
    assert tallies["closed_book"].attempts >= 3
    assert tallies["closed_book"].scored == tallies["closed_book"].attempts - 2


def test_every_sample_errors_gives_error() -> None:
    decision, tallies = run_case([None] * 5, [None] * 5, k_max=5)
    assert decision.label == "error"
    assert used(tallies) <= 10


# --- Exact expectations: sequential sampling saves calls ----------------------------------------


@pytest.mark.parametrize(("closed_pass", "open_pass", "label"), CLEAR_CUT)
def test_clear_cut_cases_use_at_most_65_percent_of_fixed_sampling(
    closed_pass: bool, open_pass: bool, label: Label
) -> None:
    # Hand trace for knowledge (the others are mirror images): closed, open (1.825 each; a tie
    # goes to closed-book), closed 0/2 (3.35 x 1.825), open 2/2 (3.35 x 3.35 = 11.2), closed
    # 0/3 (6.17 x 3.35 = 20.65): labelled after 5 samples, half of the fixed 2 * k_max = 10.
    k_max = 5
    decision, tallies = run_case([closed_pass] * k_max, [open_pass] * k_max, k_max)
    assert decision.label == label
    assert decision.confidence >= GAMMA
    assert used(tallies) == 5
    assert used(tallies) <= 0.65 * 2 * k_max


@pytest.mark.parametrize(
    ("p_closed", "p_open", "bound"),
    [(0.0, 1.0, 0.5), (0.05, 0.95, 0.6), (0.1, 0.9, 0.65), (0.2, 0.8, 0.7), (0.5, 0.5, 0.65)],
)
def test_expected_calls_are_well_below_fixed_sampling(
    p_closed: float, p_open: float, bound: float
) -> None:
    # Exact expectation over every possible sequence of outcomes (2^5 per arm). The posterior
    # rule this replaces used at most 65% of fixed sampling on all of these; the sequential
    # rule needs slightly more on 80%-reliable arms (66%), the price of bounded false labels.
    k_max = 5
    expected = 0.0
    for closed in product([True, False], repeat=k_max):
        for open_ in product([True, False], repeat=k_max):
            weight = 1.0
            for outcome in closed:
                weight *= p_closed if outcome else 1 - p_closed
            for outcome in open_:
                weight *= p_open if outcome else 1 - p_open
            if weight:
                expected += weight * used(run_case(closed, open_, k_max)[1])
    assert expected <= bound * 2 * k_max


@pytest.mark.parametrize("k_max", [2, 3, 5, 10, 20])
def test_two_samples_never_label_and_clear_cases_need_five(k_max: int) -> None:
    # At most E(2, 0)^2 = 11.2 < 20 with two samples per arm: samples=2 only ever says
    # inconclusive. With three or more, an all-agreeing case is labelled after 3 + 2 samples.
    decision, tallies = run_case([False] * k_max, [True] * k_max, k_max)
    if k_max == 2:
        assert (decision.label, used(tallies)) == ("inconclusive", 2)
    else:
        assert (decision.label, used(tallies)) == ("knowledge", 5)


def test_every_outcome_sequence_terminates_with_a_justified_label() -> None:
    # Exhaustive over pass / fail / error for k_max = 3 (27 x 27 scripts): the loop never asks
    # for more than k_max samples per arm, a category label always has evidence >= 20 (and, at
    # this k_max, posterior >= 0.8) and is consistent with the samples, and an arm with
    # nothing scored always ends in `error`.
    k_max = 3
    outcomes: list[bool | None] = [True, False, None]
    for closed in product(outcomes, repeat=k_max):
        for open_ in product(outcomes, repeat=k_max):
            decision, t = run_case(closed, open_, k_max)
            c, o = t["closed_book"], t["open_book"]
            assert decision.label is not None
            assert c.attempts <= k_max and o.attempts <= k_max
            if decision.label in ("no_gap", "knowledge", "behavior", "distraction"):
                ways = [(x.passes, x.fails) if x.passes > x.fails else (x.fails, x.passes)
                        for x in (c, o)]  # fmt: skip
                assert all(agree > against for agree, against in ways)
                evidence = [arm_evidence(*w) for w in ways]
                assert evidence[0] * evidence[1] >= EVIDENCE_BAR
                assert min(evidence) >= 1
                assert decision.confidence >= GAMMA
                probs = category_probabilities(c, o)
                assert max(probs, key=lambda k: probs[k]) == decision.label
            if c.scored == 0 or o.scored == 0:
                assert decision.label == "error", (closed, open_)


# --- Single arm (prompt-fix arm and its fresh control) ----------------------------------------


def test_decide_arm_single_sample_is_the_observed_outcome() -> None:
    assert decide_arm(ArmTally(), k_max=1) is None
    assert decide_arm(ArmTally().add(True), k_max=1) is True
    assert decide_arm(ArmTally().add(False), k_max=1) is False
    assert decide_arm(ArmTally().add(None), k_max=1) is None  # errored: no verdict


def test_decide_arm_adaptive_by_hand() -> None:
    assert decide_arm(tally(1, 1), k_max=5) is None  # 3/4 < 0.8
    assert decide_arm(tally(2, 2), k_max=5) is True  # 7/8 >= 0.8
    assert decide_arm(tally(0, 2), k_max=5) is False  # 1 - 1/8 = 7/8 >= 0.8
    assert decide_arm(tally(1, 2), k_max=5) is None  # 1/2
    assert decide_arm(tally(2, 3), k_max=5) is None  # P(Bin(4) <= 2) = 11/16 = 0.6875


def test_decide_arm_out_of_samples_goes_by_majority() -> None:
    assert decide_arm(tally(3, 5), k_max=5) is True
    assert decide_arm(tally(2, 5), k_max=5) is False
    assert decide_arm(tally(2, 4, attempts=5), k_max=5) is False  # a tie is not a pass
    assert decide_arm(tally(0, 0, attempts=5), k_max=5) is None  # nothing scored


def test_arm_needs_sample() -> None:
    assert arm_needs_sample(ArmTally(), k_max=1)
    assert not arm_needs_sample(tally(1, 1), k_max=1)
    assert not arm_needs_sample(tally(0, 0, attempts=1), k_max=1)
    assert arm_needs_sample(ArmTally(), k_max=5)
    assert arm_needs_sample(tally(1, 1), k_max=5)
    assert not arm_needs_sample(tally(2, 2), k_max=5)
    assert not arm_needs_sample(tally(0, 2), k_max=5)
    assert arm_needs_sample(tally(0, 0, attempts=4), k_max=5)  # errors: keep trying
    assert not arm_needs_sample(tally(2, 4, attempts=5), k_max=5)  # out of samples


@pytest.mark.parametrize("outcome", [True, False])
def test_single_arm_loop_stops_after_two_agreeing_samples(outcome: bool) -> None:
    t = ArmTally()
    while arm_needs_sample(t, k_max=5):
        t = t.add(outcome)
    assert t.attempts == 2
    assert decide_arm(t, k_max=5) is outcome
