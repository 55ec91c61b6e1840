"""What a comparison report shows, and the JSON its script reads (pure: data in, data out).

A comparison pairs two runs on one suite case by case; per arm a case is both pass, fixed
(the candidate passes where the baseline failed), regressed (the reverse) or both fail, by the
same rule the comparison itself used (the majority of a case's scored samples), handed over
by the service as `passed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.report.data import ARM_TITLES, ReportData
from app.service.comparisons import ComparisonView
from app.service.views import CaseView

CHANGES = ("regressed", "fixed", "both_fail", "both_pass")
CHANGE_TITLES = {
    "regressed": "regressed",
    "fixed": "fixed",
    "both_fail": "both fail",
    "both_pass": "both pass",
}
ANSWER_CHARS = 2000  # an answer longer than this is cut in the comparison (whole in its run's)


@dataclass(frozen=True)
class ComparisonReportData:
    comparison: ComparisonView
    baseline: ReportData
    candidate: ReportData
    # Per run, per case, per arm: passed (None: nothing scored there)
    baseline_passed: Mapping[str, Mapping[str, bool | None]]
    candidate_passed: Mapping[str, Mapping[str, bool | None]]
    version: str
    generated_at: datetime

    @property
    def arms(self) -> list[str]:
        return list(self.comparison.arms)


def change(baseline: bool | None, candidate: bool | None) -> str | None:
    if baseline is None or candidate is None:
        return None
    if baseline and candidate:
        return "both_pass"
    if candidate:
        return "fixed"
    return "regressed" if baseline else "both_fail"


def _first_answer(view: CaseView | None, arm: str) -> str | None:
    detail = view.arms.get(arm) if view is not None else None
    if detail is None or not detail.answers or detail.answers[0] is None:
        return None
    answer = detail.answers[0]
    return answer if len(answer) <= ANSWER_CHARS else answer[:ANSWER_CHARS] + " […]"


def _rank(changes: Mapping[str, str | None]) -> int:
    """Regressions first, then fixes, then both fail, then both pass; unpaired last."""
    found = [CHANGES.index(c) for c in changes.values() if c is not None]
    return min(found) if found else len(CHANGES)


def comparison_payload(data: ComparisonReportData) -> dict[str, Any]:
    """One row per case of the suite: its change per arm, both labels, both first answers."""
    base_views = {c.case_id: c for c in data.baseline.cases}
    cand_views = {c.case_id: c for c in data.candidate.cases}
    rows = []
    for position, case in enumerate(data.baseline.suite.cases):
        b_pass = data.baseline_passed.get(case.id, {})
        c_pass = data.candidate_passed.get(case.id, {})
        b_view, c_view = base_views.get(case.id), cand_views.get(case.id)
        changes = {arm: change(b_pass.get(arm), c_pass.get(arm)) for arm in data.arms}
        rows.append(
            {
                "id": case.id,
                "position": position,
                "rank": _rank(changes),
                "input": case.input,
                "tags": case.tags,
                "labels": [
                    b_view.label if b_view else None,
                    c_view.label if c_view else None,
                ],
                "changes": changes,
                "answers": {
                    arm: [_first_answer(b_view, arm), _first_answer(c_view, arm)]
                    for arm in data.arms
                },
            }
        )
    return {
        "comparison": data.comparison.model_dump(mode="json"),
        "arm_titles": {arm: ARM_TITLES.get(arm, arm) for arm in data.arms},
        "arms": data.arms,
        "cases": rows,
    }
