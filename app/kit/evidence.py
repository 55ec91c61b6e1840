"""What a kit is built from: a finished run's verdict and, per case, the suite case and its calls.

Plain data handed in by the service; the builders never read the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from app.diagnosis.options import RunOptions
from app.diagnosis.suite import Case
from app.diagnosis.usage import RunVerdict

# The arms that send the facts: a failure there is one the facts did not prevent.
FACT_ARMS = ("open_book", "prompt_fix", "open_book_control")


@dataclass(frozen=True)
class Sample:
    """One stored answer of one arm, as graded."""

    arm: str
    index: int
    answer: str | None
    passed: bool | None  # None: errored, or nothing scored
    kind: str | None  # why it failed: "format", "content" (None when it passed)


@dataclass(frozen=True)
class CaseEvidence:
    case: Case
    label: str
    facts_cover_answer: bool | None
    prompt_fix_passed: bool | None
    samples: tuple[Sample, ...] = ()

    def failure_kinds_with_facts(self) -> set[str]:
        """The failure kinds of the scored samples that had the facts in the prompt."""
        return {
            s.kind
            for s in self.samples
            if s.arm in FACT_ARMS and s.passed is False and s.kind in ("format", "content")
        }

    def passing_answers(self) -> Iterator[Sample]:
        """Answers the grader passed, facts arms first (they are what the task looks like)."""
        order = {arm: i for i, arm in enumerate((*FACT_ARMS, "closed_book"))}
        ranked = sorted(self.samples, key=lambda s: (order.get(s.arm, 9), s.index))
        return (s for s in ranked if s.passed and s.answer)


@dataclass(frozen=True)
class RunEvidence:
    run_id: str
    status: str
    suite_id: str
    suite_name: str
    system_prompt: str
    model: str
    options: RunOptions
    verdict: RunVerdict
    finished_at: datetime | None
    cases: tuple[CaseEvidence, ...]  # in suite order; only the cases that got a result

    def labelled(self, label: str) -> list[CaseEvidence]:
        return [c for c in self.cases if c.label == label]
