"""Per-case labels and the adaptive sampling rule (design §1 and §3).

A case has two arms; each arm has `passes` out of `scored` samples. With one sample per arm the
label is the observed pattern. With more, each arm's pass rate gets a Beta(1,1) posterior, a
category's probability is the product of the two arms' probabilities, and sampling stops as soon
as the best category reaches `gamma`, or as soon as `gamma` is out of reach within `k_max`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.diagnosis.stats import prob_rate_at_least

Label = Literal["no_gap", "knowledge", "behavior", "distraction", "inconclusive", "error"]
LABELS: tuple[Label, ...] = (
    "no_gap",
    "knowledge",
    "behavior",
    "distraction",
    "inconclusive",
    "error",
)

GAMMA = 0.8
TAU = 0.5

# (closed-book passes?, open-book passes?) -> label
_PATTERN: dict[tuple[bool, bool], Label] = {
    (True, True): "no_gap",
    (False, True): "knowledge",
    (False, False): "behavior",
    (True, False): "distraction",
}


@dataclass(frozen=True)
class ArmTally:
    """What one arm of one case has so far: attempts include calls that errored."""

    passes: int = 0
    scored: int = 0
    attempts: int = 0

    def add(self, passed: bool | None) -> ArmTally:
        """Count one attempt; `None` is an attempt that produced no scored grade."""
        if passed is None:
            return ArmTally(self.passes, self.scored, self.attempts + 1)
        return ArmTally(self.passes + int(passed), self.scored + 1, self.attempts + 1)


@dataclass(frozen=True)
class CaseDecision:
    label: Label | None  # None while more samples are needed
    confidence: float
    next_arm: Literal["closed_book", "open_book"] | None


def _p_pass(t: ArmTally, tau: float) -> float:
    return prob_rate_at_least(t.passes, t.scored, tau)


def category_probabilities(
    closed: ArmTally, open_: ArmTally, tau: float = TAU
) -> dict[Label, float]:
    pc, po = _p_pass(closed, tau), _p_pass(open_, tau)
    return {
        "no_gap": pc * po,
        "knowledge": (1 - pc) * po,
        "behavior": (1 - pc) * (1 - po),
        "distraction": pc * (1 - po),
    }


def _best_reachable(closed: ArmTally, open_: ArmTally, k_max: int, tau: float) -> float:
    """The highest category probability still reachable if every remaining sample agrees."""
    best = 0.0
    for (c_pass, o_pass), _label in _PATTERN.items():
        factors = []
        for tally, want_pass in ((closed, c_pass), (open_, o_pass)):
            left = max(0, k_max - tally.attempts)
            s = tally.passes + (left if want_pass else 0)
            p = prob_rate_at_least(s, tally.scored + left, tau)
            factors.append(p if want_pass else 1 - p)
        best = max(best, factors[0] * factors[1])
    return best


def decide_case(
    closed: ArmTally,
    open_: ArmTally,
    k_max: int,
    deterministic: bool,
    gamma: float = GAMMA,
    tau: float = TAU,
) -> CaseDecision:
    """Label a case, or say which arm to sample next.

    `deterministic` (temperature 0 and one sample per arm): the observed pattern is the label.
    """
    for tally, arm in ((closed, "closed_book"), (open_, "open_book")):
        if tally.attempts == 0:
            return CaseDecision(None, 0.0, arm)  # type: ignore[arg-type]
    probs = category_probabilities(closed, open_, tau)
    best_label = max(probs, key=lambda k: probs[k])
    if k_max <= 1:
        if closed.scored == 0 or open_.scored == 0:
            return CaseDecision("error", 0.0, None)
        label = _PATTERN[(closed.passes > 0, open_.passes > 0)]
        return CaseDecision(label, 1.0 if deterministic else probs[label], None)
    if probs[best_label] >= gamma:
        return CaseDecision(best_label, probs[best_label], None)
    can_sample = [
        (tally, arm)
        for tally, arm in ((closed, "closed_book"), (open_, "open_book"))
        if tally.attempts < k_max
    ]
    if not can_sample or _best_reachable(closed, open_, k_max, tau) < gamma:
        if closed.scored == 0 or open_.scored == 0:
            return CaseDecision("error", 0.0, None)
        return CaseDecision("inconclusive", probs[best_label], None)
    # Sample where it is most informative: the arm whose evidence for the leading category is
    # weakest (its factor is the bottleneck of the product), among arms with samples left.
    closed_wants_pass = best_label in ("no_gap", "distraction")
    open_wants_pass = best_label in ("no_gap", "knowledge")
    pc, po = _p_pass(closed, tau), _p_pass(open_, tau)
    support = {
        "closed_book": pc if closed_wants_pass else 1 - pc,
        "open_book": po if open_wants_pass else 1 - po,
    }
    arm = min((a for _, a in can_sample), key=lambda a: support[a])
    return CaseDecision(None, probs[best_label], arm)  # type: ignore[arg-type]


def decide_arm(tally: ArmTally, k_max: int, gamma: float = GAMMA, tau: float = TAU) -> bool | None:
    """Does a single arm pass (True), fail (False), or need another sample (None)?

    Used for the prompt-fix arm and its fresh control; an arm out of samples is judged by
    its majority, and an arm with nothing scored is `False` only if it ever scored.
    """
    if tally.attempts == 0:
        return None
    p = _p_pass(tally, tau)
    if k_max <= 1 or tally.attempts >= k_max:
        return tally.passes * 2 > tally.scored if tally.scored else None
    if p >= gamma:
        return True
    if 1 - p >= gamma:
        return False
    return None


def arm_needs_sample(tally: ArmTally, k_max: int) -> bool:
    return tally.attempts < k_max and (tally.attempts == 0 or decide_arm(tally, k_max) is None)
