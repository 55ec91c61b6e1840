"""The aggregate verdict (design §3): app.diagnosis.verdict.build_verdict and summary.explain.

Counts follow the paired table of app.diagnosis.stats: a = no_gap, b = distraction,
c = knowledge, d = behavior. Closed-book fails on c + d cases, open-book on b + d. A rung
"provably fails" when the Wilson 95% lower bound of its failure rate exceeds t (0.05 here).
Wilson lower bounds used to pick the counts (checked by `test_wilson_bounds_behind_the_counts`):

    failures/n   lower      provably fails at t = 0.05?
    1/20         0.0089     no
    2/20         0.0279     no
    3/20         0.0524     yes (just)
    5/20         0.1119     yes
    3/10         0.1078     yes
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import pytest

from app.diagnosis.stats import (
    mcnemar_exact_p,
    mcnemar_mid_p,
    minimum_detectable_lift,
    newcombe_paired_interval,
    wilson_interval,
)
from app.diagnosis.summary import explain
from app.diagnosis.verdict import CaseOutcome, Verdict, build_verdict, provably_fails

T = 0.05
Z = 1.959963984540054


def cases(
    a: int = 0,
    b: int = 0,
    c: int = 0,
    d: int = 0,
    *,
    inconclusive: int = 0,
    error: int = 0,
) -> list[CaseOutcome]:
    out: list[CaseOutcome] = []
    for label, count in (
        ("no_gap", a),
        ("distraction", b),
        ("knowledge", c),
        ("behavior", d),
        ("inconclusive", inconclusive),
        ("error", error),
    ):
        out += [CaseOutcome(f"{label}-{i}", label) for i in range(count)]  # type: ignore[arg-type]
    return out


def with_fix(
    outcomes: list[CaseOutcome], results: Sequence[tuple[bool | None, bool | None]]
) -> list[CaseOutcome]:
    """Attach (prompt_fix_passed, control_passed) to the open-book failures, in order."""
    failing = [o for o in outcomes if o.label in ("behavior", "distraction")]
    assert len(results) <= len(failing)
    for outcome, (fix, control) in zip(failing, results, strict=False):
        outcome.prompt_fix_passed = fix
        outcome.control_passed = control
    return outcomes


def verdict(outcomes: list[CaseOutcome], prompt_fix_ran: bool = False, t: float = T) -> Verdict:
    v = build_verdict(outcomes, t, prompt_fix_ran=prompt_fix_ran)
    v.summary = explain(v)
    return v


def wilson_by_hand(x: int, n: int) -> tuple[float, float]:
    """The textbook formula, independent of app.diagnosis.stats."""
    p = x / n
    centre = p + Z * Z / (2 * n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    denom = 1 + Z * Z / n
    return (centre - half) / denom, (centre + half) / denom


def test_wilson_bounds_behind_the_counts() -> None:
    for failures, n, fails in [(1, 20, False), (2, 20, False), (3, 20, True), (5, 20, True),
                               (3, 10, True), (15, 20, True), (0, 20, False)]:  # fmt: skip
        assert provably_fails(failures, n, T) is fails, (failures, n)
    assert wilson_by_hand(2, 20)[0] == pytest.approx(0.02787, abs=1e-5)
    assert wilson_by_hand(3, 20)[0] == pytest.approx(0.05237, abs=1e-5)
    assert not provably_fails(0, 0, T)  # no cases prove nothing


# --- Diagnosis and next rung ------------------------------------------------------------------


def test_no_gap_when_closed_book_does_not_provably_fail() -> None:
    v = verdict(cases(a=19, c=1))  # closed-book fails 1/20: lower bound 0.009 <= 0.05
    assert (v.diagnosis, v.next_rung) == ("no_gap", "prompt")
    assert not v.closed_book_provably_fails
    assert not v.insufficient_evidence
    assert v.cases_to_decide is None
    assert v.distraction_cases == []
    assert "Warning: the facts made" not in v.summary


def test_no_gap_warns_about_distraction_cases() -> None:
    # Closed-book passes every case; the facts break 5 of them (open-book provably fails, 5/20).
    v = verdict(cases(a=15, b=5))
    assert (v.diagnosis, v.next_rung) == ("no_gap", "prompt")
    assert v.open_book_provably_fails
    assert v.distraction_cases == [f"distraction-{i}" for i in range(5)]
    assert "the facts made 5 case(s) worse" in v.summary
    assert "distraction-0" in v.summary
    assert "fact format and position" in v.summary


def test_knowledge_when_lift_significant_and_open_book_does_not_provably_fail() -> None:
    v = verdict(cases(a=5, c=15))
    assert (v.diagnosis, v.next_rung) == ("knowledge", "retrieval")
    assert v.closed_book_provably_fails and not v.open_book_provably_fails
    assert v.lift.significant
    assert v.lift.mid_p == pytest.approx(0.5**15)  # b = 0: mid-p = 2 (1/2^15 - 1/2^16)


def test_knowledge_with_a_distraction_case() -> None:
    # b = 1, c = 9: mid-p = 12/1024 = 0.0117 < 0.05; open-book fails 1/20 (not provably).
    v = verdict(cases(a=10, b=1, c=9))
    assert (v.diagnosis, v.next_rung) == ("knowledge", "retrieval")
    assert v.distraction_cases == ["distraction-0"]


def test_behavior_without_prompt_fix_arm_points_to_prompt_fix() -> None:
    v = verdict(cases(a=5, d=15))
    assert (v.diagnosis, v.next_rung) == ("behavior", "prompt_fix")
    assert v.open_book_provably_fails and not v.lift.significant
    assert v.prompt_fix is None
    assert "prompt_fix" not in v.pass_rates


def test_behavior_with_fix_that_removes_failures_points_to_prompt() -> None:
    # The candidate passes all 15 failing cases; the fresh control passes none. Remaining 0/20.
    v = verdict(with_fix(cases(a=5, d=15), [(True, False)] * 15), prompt_fix_ran=True)
    assert (v.diagnosis, v.next_rung) == ("behavior", "prompt")
    assert v.prompt_fix is not None
    assert v.prompt_fix.remaining_failures == 0
    assert not v.prompt_fix.provably_fails


def test_behavior_fix_is_judged_against_the_fresh_control() -> None:
    # The same candidate results (15/15 pass), but the fresh control also passes 13 of the 15:
    # the cases were picked because they failed, and most pass on a re-run anyway. Only 2
    # failures are removed by the fix, 13 remain (13/20 provably fails): adapter.
    v = verdict(
        with_fix(cases(a=5, d=15), [(True, True)] * 13 + [(True, False)] * 2),
        prompt_fix_ran=True,
    )
    assert (v.diagnosis, v.next_rung) == ("behavior", "adapter")
    assert v.prompt_fix is not None
    assert v.prompt_fix.remaining_failures == 13
    assert v.prompt_fix.provably_fails


def test_behavior_fix_that_still_provably_fails_points_to_adapter() -> None:
    v = verdict(
        with_fix(cases(a=5, d=15), [(True, False)] * 2 + [(False, False)] * 13),
        prompt_fix_ran=True,
    )
    assert (v.diagnosis, v.next_rung) == ("behavior", "adapter")
    assert v.prompt_fix is not None
    assert v.prompt_fix.remaining_failures == 13


def test_behavior_fix_boundary_two_remaining_is_not_provable() -> None:
    # Candidate passes 13, control 0: 2 of 20 remain, lower bound 0.028 <= 0.05 -> prompt.
    # One more remaining failure (3/20, lower bound 0.052) tips it to adapter.
    ok = verdict(
        with_fix(cases(a=5, d=15), [(True, False)] * 13 + [(False, False)] * 2),
        prompt_fix_ran=True,
    )
    assert ok.next_rung == "prompt"
    not_ok = verdict(
        with_fix(cases(a=5, d=15), [(True, False)] * 12 + [(False, False)] * 3),
        prompt_fix_ran=True,
    )
    assert not_ok.next_rung == "adapter"


def test_prompt_fix_arm_configured_but_no_fix_results_counts_as_not_run() -> None:
    # prompt_fix_ran, but every fix / control arm errored (None): no evidence about the fix.
    v = verdict(with_fix(cases(a=5, d=15), [(None, None)] * 15), prompt_fix_ran=True)
    assert (v.diagnosis, v.next_rung) == ("behavior", "prompt_fix")
    assert v.prompt_fix is not None and v.prompt_fix.cases == 0


def test_mixed_without_prompt_fix_arm() -> None:
    v = verdict(cases(c=10, d=10))
    assert (v.diagnosis, v.next_rung) == ("mixed", "retrieval_and_prompt_fix")
    assert v.lift.significant and v.open_book_provably_fails


def test_mixed_with_fix_that_removes_behavior_failures_points_to_retrieval() -> None:
    v = verdict(with_fix(cases(c=10, d=10), [(True, False)] * 10), prompt_fix_ran=True)
    assert (v.diagnosis, v.next_rung) == ("mixed", "retrieval")


def test_mixed_with_fix_that_leaves_failures_points_to_retrieval_and_adapter() -> None:
    v = verdict(with_fix(cases(c=10, d=10), [(False, False)] * 10), prompt_fix_ran=True)
    assert (v.diagnosis, v.next_rung) == ("mixed", "retrieval_and_adapter")


def test_significant_drop_with_facts_never_points_to_retrieval() -> None:
    # b = 10, c = 0: mid-p is tiny, but the facts hurt. Both arms provably fail; the lift is not
    # in the helpful direction, so this is behavior (fix the prompt / fact format), not mixed.
    v = verdict(cases(b=10, d=10))
    assert v.lift.mid_p < 0.05
    assert (v.diagnosis, v.next_rung) == ("behavior", "prompt_fix")


def test_inconclusive_says_how_many_cases_would_decide() -> None:
    # a = 7, c = 3 (n = 10): closed fails 3/10 (lower 0.108), open 0/10, mid-p(0, 3) = 1/8.
    # Scaling 7:3 up, the lift becomes significant once c = round(0.3 N) >= 5 (0.5^5 < 0.05):
    # N = 15 gives round(4.5) = 4, N = 16 gives round(4.8) = 5. So 16 cases in all.
    v = verdict(cases(a=7, c=3))
    assert v.lift.mid_p == pytest.approx(0.125)
    assert v.closed_book_provably_fails and not v.open_book_provably_fails
    assert (v.diagnosis, v.next_rung) == ("inconclusive", None)
    assert not v.insufficient_evidence
    assert v.cases_to_decide == 16
    assert "about 16 labelled cases in all would decide it (6 more)" in v.summary


def test_inconclusive_cases_to_decide_second_example() -> None:
    # a = 14, c = 4 (n = 18): mid-p(0, 4) = 1/16. c = round(4 N / 18) >= 5 first at N = 21.
    v = verdict(cases(a=14, c=4))
    assert (v.diagnosis, v.next_rung) == ("inconclusive", None)
    assert v.cases_to_decide == 21


def test_fewer_than_ten_labelled_is_insufficient_evidence() -> None:
    # 9 labelled cases that would read as knowledge at n >= 10 (mid-p(0, 7) = 1/128), plus
    # inconclusive and error cases that must not count towards n.
    v = verdict(cases(a=2, c=7, inconclusive=4, error=3))
    assert v.labelled == 9
    assert v.insufficient_evidence
    assert (v.diagnosis, v.next_rung) == ("inconclusive", None)
    assert v.lift.significant  # descriptives are still reported
    assert v.cases_to_decide == 10
    assert "at least 10 are needed" in v.summary
    assert "Not enough evidence" in v.summary


def test_ten_labelled_is_enough() -> None:
    v = verdict(cases(a=2, c=8, inconclusive=4, error=3))
    assert not v.insufficient_evidence
    assert (v.diagnosis, v.next_rung) == ("knowledge", "retrieval")


def test_error_and_inconclusive_cases_are_excluded_from_n() -> None:
    base = verdict(cases(a=19, c=1))
    noisy = verdict(cases(a=19, c=1, inconclusive=30, error=30))
    assert noisy.labelled == base.labelled == 20
    assert noisy.pass_rates == base.pass_rates
    assert noisy.lift == base.lift
    assert (noisy.diagnosis, noisy.next_rung) == (base.diagnosis, base.next_rung)
    assert noisy.counts["inconclusive"] == 30 and noisy.counts["error"] == 30
    assert noisy.counts["total"] == 80
    assert "30 inconclusive and 30 errored case(s) are left out" in noisy.summary
    # Errors are never failures: 30 errored cases do not make closed-book provably fail.
    assert not noisy.closed_book_provably_fails


def test_failure_threshold_is_per_run() -> None:
    # 3/20 closed-book failures: provably above 5% (lower bound 0.052), not above 10%.
    outcomes = cases(a=17, c=3)
    assert verdict(outcomes, t=0.05).closed_book_provably_fails
    strict_free = verdict(outcomes, t=0.10)
    assert not strict_free.closed_book_provably_fails
    assert (strict_free.diagnosis, strict_free.max_failure_rate) == ("no_gap", 0.10)


# --- Numbers ------------------------------------------------------------------------------------


def test_numbers_for_an_asymmetric_table() -> None:
    # a = 8, b = 1, c = 9, d = 2, n = 20.
    a, b, c, d = 8, 1, 9, 2
    v = verdict(cases(a, b, c, d))
    n = 20
    assert v.labelled == n
    assert v.counts == {
        "no_gap": 8, "knowledge": 9, "behavior": 2, "distraction": 1,
        "inconclusive": 0, "error": 0, "total": 20,
    }  # fmt: skip

    closed, open_ = v.pass_rates["closed_book"], v.pass_rates["open_book"]
    assert (closed.passes, closed.n, closed.rate) == (a + b, n, 9 / 20)
    assert (open_.passes, open_.n, open_.rate) == (a + c, n, 17 / 20)
    assert (closed.low, closed.high) == pytest.approx(wilson_by_hand(9, 20))
    assert (open_.low, open_.high) == pytest.approx(wilson_by_hand(17, 20))
    assert (closed.low, closed.high) == pytest.approx(wilson_interval(9, 20))

    # Lift (c - b) / n = 8/20. Newcombe: ad - bc = 16 - 9 = 7 lies in [0, n/2], so phi = 0 and
    # the interval is plain square-and-add of the two Wilson intervals.
    assert v.lift.value == pytest.approx(0.4)
    lo_o, hi_o = wilson_by_hand(17, 20)
    lo_c, hi_c = wilson_by_hand(9, 20)
    delta = math.hypot(0.85 - lo_o, hi_c - 0.45)
    epsilon = math.hypot(hi_o - 0.85, 0.45 - lo_c)
    assert v.lift.low == pytest.approx(0.4 - delta)
    assert v.lift.high == pytest.approx(0.4 + epsilon)
    assert (v.lift.low, v.lift.high) == pytest.approx(newcombe_paired_interval(a, b, c, d))

    # McNemar on b = 1 vs c = 9 (10 discordant): P(X <= 1) = 11/1024, P(X = 1) = 10/1024.
    assert v.lift.exact_p == pytest.approx(22 / 1024)
    assert v.lift.mid_p == pytest.approx(12 / 1024)
    assert v.lift.significant

    # Knowledge share c / (c + d) = 9/11 with a Wilson interval.
    assert v.knowledge_share.value == pytest.approx(9 / 11)
    assert (v.knowledge_share.low, v.knowledge_share.high) == pytest.approx(wilson_by_hand(9, 11))

    assert v.minimum_detectable_lift == minimum_detectable_lift(20)
    # Open-book fails 3/20 (lower 0.052 > 0.05) and the lift is significant: mixed.
    assert (v.diagnosis, v.next_rung) == ("mixed", "retrieval_and_prompt_fix")


def test_lift_interval_follows_the_direction_of_the_table() -> None:
    up = verdict(cases(a=8, b=1, c=9, d=2))
    down = verdict(cases(a=8, b=9, c=1, d=2))
    assert down.lift.value == pytest.approx(-0.4)
    assert (down.lift.low, down.lift.high) == pytest.approx((-up.lift.high, -up.lift.low))
    assert down.lift.mid_p == pytest.approx(up.lift.mid_p)
    assert mcnemar_exact_p(9, 1) == pytest.approx(up.lift.exact_p)


@pytest.mark.parametrize(("n", "about"), [(10, 0.59), (20, 0.32), (30, 0.22), (50, 0.14)])
def test_minimum_detectable_lift_for_the_n(n: int, about: float) -> None:
    # Design §3: "about 59 points at n = 10, 32 at 20, 22 at 30, 14 at 50".
    v = verdict(cases(a=n))
    lift = v.minimum_detectable_lift
    assert lift is not None
    assert lift == minimum_detectable_lift(n)
    assert lift == pytest.approx(about, abs=0.015)
    assert f"about {100 * lift:.0f} points" in v.summary


def test_empty_verdict_has_no_numbers_to_invent() -> None:
    v = verdict(cases(error=3))
    assert v.labelled == 0
    assert (v.diagnosis, v.next_rung) == ("inconclusive", None)
    assert v.lift.value is None
    assert v.pass_rates["closed_book"].rate is None
    assert v.knowledge_share.value is None
    assert v.minimum_detectable_lift is None
    assert v.cases_to_decide is None


def test_knowledge_share_with_no_failures() -> None:
    v = verdict(cases(a=20))
    assert v.knowledge_share.value is None
    assert (v.knowledge_share.low, v.knowledge_share.high) == (0.0, 1.0)


def test_facts_missing_answer_lists_flagged_cases_only() -> None:
    outcomes = cases(a=5, d=15)
    outcomes[5].facts_cover_answer = False  # behavior-0
    outcomes[7].facts_cover_answer = False  # behavior-2
    outcomes[8].facts_cover_answer = True
    # None means "no literal answer to check": not flagged.
    v = verdict(outcomes)
    assert v.facts_missing_answer == ["behavior-0", "behavior-2"]
    assert "2 case(s) have facts that do not contain the expected answer" in v.summary
    assert "behavior-0, behavior-2" in v.summary
    assert "the facts' fault" in v.summary
    assert "do not contain the expected answer" not in verdict(cases(a=5, d=15)).summary


def test_prompt_fix_accounting() -> None:
    # 15 behavior cases with fix / control results:
    #   6 fixed (fix passes, control fails), 1 broken (control passes, fix fails),
    #   2 both pass, 6 both fail. Fix passes 8, control 3: net 5 removed, 10 remain.
    results = [(True, False)] * 6 + [(False, True)] + [(True, True)] * 2 + [(False, False)] * 6
    v = verdict(with_fix(cases(a=5, d=15), results), prompt_fix_ran=True)
    pf = v.prompt_fix
    assert pf is not None
    assert (pf.cases, pf.prompt_fix_passes, pf.control_passes) == (15, 8, 3)
    assert (pf.fixed, pf.broken) == (6, 1)
    assert pf.mid_p == pytest.approx(mcnemar_mid_p(1, 6))
    # mid-p(1, 6) by hand: 2 (P(X <= 1) - P(X = 1)/2) with Bin(7, 1/2) = 2 (8 - 3.5)/128.
    assert pf.mid_p == pytest.approx(9 / 128)
    assert pf.remaining_failures == 10
    assert pf.provably_fails
    rate = v.pass_rates["prompt_fix"]
    assert (rate.passes, rate.n) == (10, 20)
    assert "The candidate prompt passed 8 of 15 failing cases against 3" in v.summary
    assert "10 failures remain (still provably too many)" in v.summary


def test_fix_passing_only_as_often_as_control_removes_nothing() -> None:
    # 5 fixed and 5 broken: the candidate passes 5, so does the fresh control.
    results = [(True, False)] * 5 + [(False, True)] * 5 + [(False, False)] * 5
    v = verdict(with_fix(cases(a=5, d=15), results), prompt_fix_ran=True)
    pf = v.prompt_fix
    assert pf is not None
    assert (pf.fixed, pf.broken) == (5, 5)
    assert pf.prompt_fix_passes == pf.control_passes == 5
    assert pf.remaining_failures == 15
    assert pf.mid_p == pytest.approx(1.0)
    assert v.next_rung == "adapter"


def test_fix_worse_than_control_does_not_add_failures() -> None:
    results = [(False, True)] * 4 + [(False, False)] * 11
    v = verdict(with_fix(cases(a=5, d=15), results), prompt_fix_ran=True)
    assert v.prompt_fix is not None
    assert v.prompt_fix.remaining_failures == 15


def test_fix_pairs_with_a_missing_side_are_ignored() -> None:
    results = [(True, None), (None, False), (True, False)] + [(False, False)] * 12
    v = verdict(with_fix(cases(a=5, d=15), results), prompt_fix_ran=True)
    pf = v.prompt_fix
    assert pf is not None
    assert pf.cases == 13
    assert (pf.fixed, pf.prompt_fix_passes) == (1, 1)


# --- Summary ------------------------------------------------------------------------------------

HEADLINE_CASES = [
    # (outcomes, prompt_fix_ran, diagnosis, next_rung, headline phrase, next-step phrase)
    (cases(a=19, c=1), False, "no_gap", "prompt", "already does this task", "no rung to climb"),
    (cases(a=5, c=15), False, "knowledge", "retrieval", "Knowledge gap", "build retrieval"),
    (cases(a=5, d=15), False, "behavior", "prompt_fix", "Behavior gap", "candidate_prompt"),
    (
        with_fix(cases(a=5, d=15), [(False, False)] * 15),
        True,
        "behavior",
        "adapter",
        "Behavior gap",
        "fine-tuned adapter",
    ),
    (cases(c=10, d=10), False, "mixed", "retrieval_and_prompt_fix", "Both gaps", "add retrieval"),
    (
        with_fix(cases(c=10, d=10), [(False, False)] * 10),
        True,
        "mixed",
        "retrieval_and_adapter",
        "Both gaps",
        "pair retrieval with a thin fine-tuned adapter",
    ),
    (cases(a=7, c=3), False, "inconclusive", None, "Not enough evidence", "would decide it"),
]


@pytest.mark.parametrize(
    ("outcomes", "fix_ran", "diagnosis", "rung", "headline", "next_step"), HEADLINE_CASES
)
def test_summary_headline_and_next_step(
    outcomes: list[CaseOutcome],
    fix_ran: bool,
    diagnosis: str,
    rung: str | None,
    headline: str,
    next_step: str,
) -> None:
    v = verdict(outcomes, prompt_fix_ran=fix_ran)
    assert (v.diagnosis, v.next_rung) == (diagnosis, rung)
    assert headline in v.summary.split(".")[0]  # the headline comes first
    assert next_step in v.summary
    assert "Closed-book it passed" in v.summary
    assert "95% CI" in v.summary


def test_summary_says_not_shown_to_fail_when_closed_book_does_not_provably_fail() -> None:
    v = verdict(cases(a=19, c=1))
    assert "not shown to fail is not the same as" in v.summary
    # ... also below 10 cases, where nothing provably fails.
    small = verdict(cases(a=4, c=1))
    assert not small.closed_book_provably_fails
    assert "not shown to fail is not the same as" in small.summary
    # Not where closed-book provably fails.
    assert "not shown to fail" not in verdict(cases(a=5, d=15)).summary


def test_summary_reports_lift_and_counts_in_words() -> None:
    v = verdict(cases(a=8, b=1, c=9, d=2))
    assert "The facts fixed 9 cases and broke 1" in v.summary
    assert "lift +40 points" in v.summary
    assert "significant" in v.summary
    assert "passed 9 of 20 cases (45%" in v.summary
    assert "passed 17 of 20 cases (85%" in v.summary


def test_summary_mentions_partial_runs() -> None:
    v = build_verdict(cases(a=19, c=1), T)
    v.partial = True
    assert "partial" in explain(v)


# --- Deviations found in review, now fixed --------------------------------------------------

_ADOPT_CANDIDATE = re.compile(r"\b(adopt|use|keep|switch to|ship|apply)\b[^.]*candidate", re.I)


def test_behavior_fixed_by_prompt_tells_user_to_adopt_the_candidate() -> None:
    v = verdict(with_fix(cases(a=5, d=15), [(True, False)] * 15), prompt_fix_ran=True)
    assert (v.diagnosis, v.next_rung) == ("behavior", "prompt")
    assert "Keep the current approach" not in v.summary
    assert _ADOPT_CANDIDATE.search(v.summary)


def test_mixed_fixed_by_prompt_tells_user_to_adopt_the_candidate() -> None:
    v = verdict(with_fix(cases(c=10, d=10), [(True, False)] * 10), prompt_fix_ran=True)
    assert (v.diagnosis, v.next_rung) == ("mixed", "retrieval")
    assert _ADOPT_CANDIDATE.search(v.summary)


def test_knowledge_verdict_says_with_facts_is_not_shown_to_pass() -> None:
    v = verdict(cases(a=8, c=10, d=2))  # open-book fails 2/20 = 10%, lower bound 0.028
    assert (v.diagnosis, v.next_rung) == ("knowledge", "retrieval")
    assert not v.open_book_provably_fails
    assert "not shown to fail is not the same as" in v.summary


def test_significant_drop_is_reported_as_significant() -> None:
    v = verdict(cases(a=15, b=5))
    assert v.lift.mid_p == pytest.approx(2 * (1 / 32 - 1 / 64))  # 0.03125
    assert v.lift.significant
    assert "not significant" not in v.summary


def test_no_labelled_cases_does_not_claim_an_effect_size() -> None:
    v = verdict(cases(error=3, inconclusive=2))
    assert "No realistic number" not in v.summary
