"""The sufficient-context check of one case, once its main arms are decided.

With a `judge_model`, a case that fails even with its facts (a `behavior` label, or in sampled
runs an undecided case that fails more often than it passes on both arms) gets one judge call:
could the question be answered from these facts alone? If not, the failure is the facts'
fault, not the model's: a `behavior` label becomes `inconclusive` with the judge's reason, and
the case leaves the verdict. The call goes through the run's `Caller`, so it is cached, counted
and budgeted like every other call, and stored under its own slot so a resumed run reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.diagnosis.grading.sufficiency import (
    behavior_leaning,
    parse_sufficiency_reply,
    sufficiency_messages,
)
from app.diagnosis.labels import ArmTally
from app.diagnosis.suite import Case
from app.engine.calls import Caller, RunContext
from app.models.base import Completion

ARM = "judge:sufficiency"
SEED = 1234  # like the grading judge: temperature 0 and a pinned seed, so verdicts repeat


@dataclass(frozen=True)
class FactsCheck:
    label: str  # the case's label after the check
    sufficient: bool | None  # None: not asked, or the judge's reply was unreadable
    reason: str | None


async def check_facts(
    caller: Caller, ctx: RunContext, case: Case, label: str, tallies: dict[str, ArmTally]
) -> FactsCheck | None:
    """The case's label once its facts are checked; None if the run stopped first."""
    closed, open_ = tallies["closed_book"], tallies["open_book"]
    leaning = behavior_leaning(label, closed.passes, closed.scored, open_.passes, open_.scored)
    if ctx.judge is None or not case.facts or not leaning:
        return FactsCheck(label, None, None)
    stored = ctx.existing.get((case.id, ARM, 0))
    if stored is not None:
        sufficient, reason = stored.passed, stored.reason
    else:
        completion = Completion(
            sufficiency_messages(case.input, list(case.facts)), 0.0, SEED, None, ctx.timeout
        )
        call = await caller.call(ctx, ctx.judge, completion, ARM, 0)
        if call is None:
            return None
        call.case_id, call.sample_index = case.id, 0
        if call.error_class is None:
            sufficient, reason = parse_sufficiency_reply(call.answer or "")
        else:
            sufficient, reason = None, f"the judge call failed: {call.error_class}"
        call.grade = {
            "passed": bool(sufficient),
            "score": float(bool(sufficient)),
            "reason": reason,
            "kind": "unscored" if sufficient is None else "sufficiency",
        }
        await ctx.writer.add_calls([call])
    if sufficient is False and label == "behavior":
        label = "inconclusive"
    return FactsCheck(label, sufficient, (reason or "")[:300] or None)
