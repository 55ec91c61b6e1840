"""The adaptive rule rung used before the sequential test, kept to measure what it did.

Beta(1,1) posterior per arm; a category's probability is the product of the two arms'
probabilities; label as soon as the best category reaches 0.8, stop once 0.8 is out of reach
within k_max. Every extra look is another chance to cross 0.8 by luck (optional stopping), so
its false-label share grows with k_max: tests/test_sequential.py measures it.
"""

from __future__ import annotations

from app.diagnosis.labels import ArmTally, CaseDecision, Label, category_probabilities
from app.diagnosis.stats import prob_rate_at_least

GAMMA = 0.8
_PATTERN: dict[tuple[bool, bool], Label] = {
    (True, True): "no_gap",
    (False, True): "knowledge",
    (False, False): "behavior",
    (True, False): "distraction",
}


def _best_reachable(closed: ArmTally, open_: ArmTally, k_max: int) -> float:
    best = 0.0
    for c_pass, o_pass in _PATTERN:
        factors = []
        for tally, want_pass in ((closed, c_pass), (open_, o_pass)):
            left = max(0, k_max - tally.attempts)
            s = tally.passes + (left if want_pass else 0)
            p = prob_rate_at_least(s, tally.scored + left)
            factors.append(p if want_pass else 1 - p)
        best = max(best, factors[0] * factors[1])
    return best


def posterior_decide_case(
    closed: ArmTally, open_: ArmTally, k_max: int, deterministic: bool
) -> CaseDecision:
    for tally, arm in ((closed, "closed_book"), (open_, "open_book")):
        if tally.attempts == 0:
            return CaseDecision(None, 0.0, arm)  # type: ignore[arg-type]
    probs = category_probabilities(closed, open_)
    best_label = max(probs, key=lambda k: probs[k])
    if k_max <= 1:
        if closed.scored == 0 or open_.scored == 0:
            return CaseDecision("error", 0.0, None)
        label = _PATTERN[(closed.passes > 0, open_.passes > 0)]
        return CaseDecision(label, 1.0 if deterministic else probs[label], None)
    if probs[best_label] >= GAMMA:
        return CaseDecision(best_label, probs[best_label], None)
    can_sample = [
        (tally, arm)
        for tally, arm in ((closed, "closed_book"), (open_, "open_book"))
        if tally.attempts < k_max
    ]
    if not can_sample or _best_reachable(closed, open_, k_max) < GAMMA:
        if closed.scored == 0 or open_.scored == 0:
            return CaseDecision("error", 0.0, None)
        return CaseDecision("inconclusive", probs[best_label], None)
    closed_wants_pass = best_label in ("no_gap", "distraction")
    open_wants_pass = best_label in ("no_gap", "knowledge")
    pc = prob_rate_at_least(closed.passes, closed.scored)
    po = prob_rate_at_least(open_.passes, open_.scored)
    support = {
        "closed_book": pc if closed_wants_pass else 1 - pc,
        "open_book": po if open_wants_pass else 1 - po,
    }
    arm = min((a for _, a in can_sample), key=lambda a: support[a])
    return CaseDecision(None, probs[best_label], arm)  # type: ignore[arg-type]
