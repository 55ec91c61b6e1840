"""Per-case labels and the sequential sampling rule.

A case has two arms; each arm has `passes` out of `scored` samples. With one sample per arm the
label is the observed pattern. With more (`k_max` > 1), the label comes from a sequential test
whose error does not grow with the number of looks:

- Per arm, the evidence that it passes is a likelihood ratio against "it passes half the time"
  (p = 1/2), averaged over what a decided arm looks like (`ALTERNATIVES`: it passes 95% or 80%
  of the time); the evidence that it fails is the mirror image. Under p = 1/2 each is a test
  martingale: its expected value stays 1 whatever is sampled next.
- A category (both arms' directions) has the product of its two arms' evidence. A case is
  labelled once one category's evidence reaches `EVIDENCE_BAR` (20), with each arm's own
  evidence at least 1 in its direction. The four products sum to a test martingale with mean 4
  under "both arms are coin flips", so by Ville's inequality a coin-flip case is ever labelled
  with probability at most 4 / 20 = 0.2, for every `k_max` and whatever order the arms are
  sampled in: more samples can never mean more false labels.
- Sampling stops once no category can reach the bar within `k_max` (inconclusive), and goes to
  the arm whose evidence is weaker. A clear-cut case is labelled after 5 samples (3 + 2).

`confidence` is the label's posterior probability under a Beta(1,1) prior per arm (the product
of P(p >= 1/2) or P(p < 1/2) for each arm), reported for reading, not used to decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
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
MainArm = Literal["closed_book", "open_book"]

TAU = 0.5  # an arm "passes" when its pass rate is at least this
GAMMA = 0.8  # posterior bar of the single-arm rule (the prompt-fix arm and its control)
EVIDENCE_BAR = 20.0  # a category's likelihood ratio needed for a label: false labels <= 4/20
ARM_EVIDENCE_FLOOR = 1.0  # each arm's own data must favour its direction
# What a decided arm looks like: (pass rate, weight). Mostly near-certain, so a clear-cut case
# reaches the bar after 3 + 2 agreeing samples (0.95 alone would be brittle at 80% pass rates).
ALTERNATIVES: tuple[tuple[float, float], ...] = ((0.95, 0.75), (0.80, 0.25))

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

    @property
    def fails(self) -> int:
        return self.scored - self.passes


@dataclass(frozen=True)
class CaseDecision:
    label: Label | None  # None while more samples are needed
    confidence: float
    next_arm: MainArm | None


@lru_cache(maxsize=4096)
def arm_evidence(agree: int, disagree: int) -> float:
    """Likelihood ratio of "the arm goes this way" against p = 1/2, after `agree` samples that
    went this way and `disagree` that did not (a mixture over `ALTERNATIVES`)."""
    return sum(w * (2 * p) ** agree * (2 * (1 - p)) ** disagree for p, w in ALTERNATIVES)


def _direction(t: ArmTally) -> tuple[bool | None, float]:
    """Which way the arm leans (True: passes) and its evidence that way; None on a tie."""
    if t.passes == t.fails:
        return None, arm_evidence(t.passes, t.fails)
    passes = t.passes > t.fails
    agree, disagree = (t.passes, t.fails) if passes else (t.fails, t.passes)
    return passes, arm_evidence(agree, disagree)


def _labelled(closed: ArmTally, open_: ArmTally) -> Label | None:
    c_way, c_ev = _direction(closed)
    o_way, o_ev = _direction(open_)
    if c_way is None or o_way is None:
        return None
    if min(c_ev, o_ev) >= ARM_EVIDENCE_FLOOR and c_ev * o_ev >= EVIDENCE_BAR:
        return _PATTERN[(c_way, o_way)]
    return None


def _best_reachable(closed: ArmTally, open_: ArmTally, k_max: int) -> float:
    """The most evidence any category could still reach if every remaining sample agrees."""

    def most(t: ArmTally) -> float:
        left = max(0, k_max - t.attempts)
        if left == 0 and t.passes == t.fails:
            return 0.0  # out of samples and leaning neither way (or nothing scored): no label
        best = max(arm_evidence(t.passes + left, t.fails), arm_evidence(t.fails + left, t.passes))
        return best if best >= ARM_EVIDENCE_FLOOR else 0.0

    return most(closed) * most(open_)


def _p_pass(t: ArmTally, tau: float = TAU) -> float:
    return prob_rate_at_least(t.passes, t.scored, tau)


def category_probabilities(
    closed: ArmTally, open_: ArmTally, tau: float = TAU
) -> dict[Label, float]:
    """Posterior probability of each category, Beta(1,1) prior per arm (for reading)."""
    pc, po = _p_pass(closed, tau), _p_pass(open_, tau)
    return {
        "no_gap": pc * po,
        "knowledge": (1 - pc) * po,
        "behavior": (1 - pc) * (1 - po),
        "distraction": pc * (1 - po),
    }


def decide_case(closed: ArmTally, open_: ArmTally, k_max: int, deterministic: bool) -> CaseDecision:
    """Label a case, or say which arm to sample next.

    `deterministic` (temperature 0 and one sample per arm): the observed pattern is the label.
    """
    for tally, arm in ((closed, "closed_book"), (open_, "open_book")):
        if tally.attempts == 0:
            return CaseDecision(None, 0.0, arm)  # type: ignore[arg-type]
    probs = category_probabilities(closed, open_)
    if k_max <= 1:
        if closed.scored == 0 or open_.scored == 0:
            return CaseDecision("error", 0.0, None)
        label = _PATTERN[(closed.passes > 0, open_.passes > 0)]
        return CaseDecision(label, 1.0 if deterministic else probs[label], None)
    decided = _labelled(closed, open_)
    if decided is not None:
        return CaseDecision(decided, probs[decided], None)
    best = max(probs.values())
    left = [
        (t, a) for t, a in ((closed, "closed_book"), (open_, "open_book")) if t.attempts < k_max
    ]
    if not left or _best_reachable(closed, open_, k_max) < EVIDENCE_BAR:
        if closed.scored == 0 or open_.scored == 0:
            return CaseDecision("error", 0.0, None)
        return CaseDecision("inconclusive", best, None)
    # Sample the arm whose evidence is weaker (fewer attempts first on a tie, then closed-book).
    arm = min(left, key=lambda ta: (_direction(ta[0])[1], ta[0].attempts))[1]
    return CaseDecision(None, best, arm)  # type: ignore[arg-type]


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
