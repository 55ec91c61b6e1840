"""The sequential rule walked exactly: where it can stop, how often, and unbiased pass rates.

`decide_case` is deterministic given the tallies, so every way a case can unfold is a path
through the lattice of (closed passes, closed samples, open passes, open samples). Each path to a
stopping point has the same probability p_c^s_c (1 - p_c)^f_c p_o^s_o (1 - p_o)^f_o, so counting
paths gives, exactly and without simulation:

- the operating characteristics (probability of each label, expected calls) for any true pass
  rates: `operating_point`;
- unbiased per-case pass rates. Stopping early on a streak biases the plain proportion s/k
  towards 0 or 1 (up to 7 points at 20 samples). The first sample of each arm is always taken
  and is an unbiased estimate of its pass rate; its expectation given the stopping point, the
  share of the paths to that point whose first sample passed, is the unbiased estimate with
  the least variance (Girshick, Mosteller & Savage 1946, Ann Math Stat 17:13): `unbiased_rates`.

Errored samples are not modelled: they spend attempts without evidence, so a case that had
errors may stop where no error-free path stops, and then its plain proportions are used.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from app.diagnosis.labels import ArmTally, CaseDecision, Label, decide_case

State = tuple[int, int, int, int]  # closed passes, closed samples, open passes, open samples
Rule = Callable[[ArmTally, ArmTally, int, bool], CaseDecision]  # decide_case's shape


@dataclass(frozen=True)
class Stop:
    """A point where the rule stops, with the paths that reach it."""

    label: Label
    paths: int
    closed_first_passed: int  # paths whose first closed-book sample passed
    open_first_passed: int


@lru_cache(maxsize=64)
def stopping_points(k_max: int, rule: Rule = decide_case) -> dict[State, Stop]:
    """Every error-free stopping point of the rule at this `k_max`, with its path counts."""
    level: dict[State, tuple[int, int, int]] = {(0, 0, 0, 0): (1, 0, 0)}
    stops: dict[State, Stop] = {}
    while level:
        following: defaultdict[State, list[int]] = defaultdict(lambda: [0, 0, 0])
        for state, (paths, closed_first, open_first) in level.items():
            sc, kc, so, ko = state
            decision = rule(ArmTally(sc, kc, kc), ArmTally(so, ko, ko), k_max, False)
            if decision.label is not None or decision.next_arm is None:
                stops[state] = Stop(
                    decision.label or "inconclusive", paths, closed_first, open_first
                )
                continue
            for passed in (1, 0):
                if decision.next_arm == "closed_book":
                    nxt = (sc + passed, kc + 1, so, ko)
                    first = (paths if kc == 0 and passed else 0, 0)
                else:
                    nxt = (sc, kc, so + passed, ko + 1)
                    first = (0, paths if ko == 0 and passed else 0)
                counts = following[nxt]
                counts[0] += paths
                counts[1] += closed_first + first[0]
                counts[2] += open_first + first[1]
        level = {s: (c[0], c[1], c[2]) for s, c in following.items()}
    return stops


def unbiased_rates(
    closed_passes: int, closed_scored: int, open_passes: int, open_scored: int, k_max: int
) -> tuple[float, float] | None:
    """Unbiased pass rates of a case's two arms, or None when no error-free path stops there."""
    stop = stopping_points(max(1, k_max)).get(
        (closed_passes, closed_scored, open_passes, open_scored)
    )
    if stop is None:
        return None
    return stop.closed_first_passed / stop.paths, stop.open_first_passed / stop.paths


@dataclass(frozen=True)
class OperatingPoint:
    labels: dict[Label, float]  # probability of each label
    expected_calls: float  # both arms together
    mean_closed_rate: float  # expected unbiased estimates (equal to the truth, by design)
    mean_open_rate: float

    @property
    def confident(self) -> float:
        """Probability of a category label (not inconclusive)."""
        return sum(p for label, p in self.labels.items() if label != "inconclusive")


def _path_probability(state: State, p_closed: float, p_open: float) -> float:
    sc, kc, so, ko = state
    return p_closed**sc * (1 - p_closed) ** (kc - sc) * p_open**so * (1 - p_open) ** (ko - so)


def operating_point(
    k_max: int, p_closed: float, p_open: float, rule: Rule = decide_case
) -> OperatingPoint:
    """Exact probabilities of each label and expected calls for a case with these pass rates."""
    labels: dict[Label, float] = {
        "no_gap": 0.0, "knowledge": 0.0, "behavior": 0.0, "distraction": 0.0,
        "inconclusive": 0.0,
    }  # fmt: skip
    calls = closed = open_ = 0.0
    for state, stop in stopping_points(max(1, k_max), rule).items():
        weight = stop.paths * _path_probability(state, p_closed, p_open)
        labels[stop.label] += weight
        calls += weight * (state[1] + state[3])
        closed += weight * stop.closed_first_passed / stop.paths
        open_ += weight * stop.open_first_passed / stop.paths
    return OperatingPoint(labels, calls, closed, open_)
