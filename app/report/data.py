"""What a report shows, and the JSON the page's script reads (pure: data in, data out)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from app.diagnosis.grading.specs import (
    AllGrader,
    AnyGrader,
    ContainsGrader,
    ExactGrader,
    Grader,
    JsonSchemaGrader,
    JudgeGrader,
    NumericGrader,
    RegexGrader,
)
from app.diagnosis.suite import ARMS, Case, build_messages
from app.report.highlight import marked
from app.service.views import ArmDetail, CaseView, RunView, SuiteDetail

ARM_TITLES = {
    "closed_book": "Closed-book",
    "open_book": "With facts",
    "prompt_fix": "Prompt fix",
    "open_book_control": "Control (with facts, re-run)",
    "retrieved": "Retrieved passages",
}


@dataclass(frozen=True)
class ReportData:
    """Everything one run's report is made of, as the service's views hand it over."""

    run: RunView
    suite: SuiteDetail
    cases: list[CaseView]  # the evidence, in suite order
    version: str
    generated_at: datetime
    # The texts of the passages the retrieved arm got, by passage id (only with retrieval).
    passages: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def retrieval_outcomes(self) -> dict[str, str]:
        """Case id -> not_retrieved or misread: why retrieval lost what the gold facts won."""
        verdict = self.run.verdict
        result = verdict.retrieval if verdict is not None else None
        if result is None:
            return {}
        outcomes = dict.fromkeys(result.misread, "misread")
        outcomes.update(dict.fromkeys(result.not_retrieved, "not_retrieved"))
        return outcomes

    @property
    def arms(self) -> list[str]:
        """The arms this run has evidence for, in the order the test runs them."""
        seen = {arm for case in self.cases for arm in case.arms}
        return [arm for arm in ARMS if arm in seen] or ["closed_book", "open_book"]


def describe_grader(spec: Grader) -> str:
    """The expected answer in a sentence: 'contains “45 days”'."""
    if isinstance(spec, ExactGrader):
        sensitive = " (case-sensitive)" if spec.case_sensitive else ""
        return f"is exactly “{spec.value}”{sensitive}"
    if isinstance(spec, ContainsGrader):
        quoted = ", ".join(f"“{v}”" for v in spec.values)
        if len(spec.values) == 1:
            return f"contains {quoted}"
        return f"contains {'all' if spec.mode == 'all' else 'any'} of {quoted}"
    if isinstance(spec, RegexGrader):
        return f"matches /{spec.pattern}/{'i' if spec.ignore_case else ''}"
    if isinstance(spec, JsonSchemaGrader):
        return "is JSON valid against a schema"
    if isinstance(spec, NumericGrader):
        tolerance = f" ± {spec.tolerance:g}" if spec.tolerance else ""
        return f"ends with the number {spec.value:g}{tolerance}"
    if isinstance(spec, JudgeGrader):
        against = [
            f"rubric “{spec.rubric}”" if spec.rubric else "",
            f"reference answer “{spec.reference}”" if spec.reference else "",
        ]
        return "a judge model grades it against the " + " and the ".join(a for a in against if a)
    if isinstance(spec, AllGrader | AnyGrader):
        word = "all" if isinstance(spec, AllGrader) else "any"
        return f"{word} of: " + "; ".join(describe_grader(c) for c in spec.checks)
    raise TypeError(f"unknown grader {type(spec).__name__}")


def grader_detail(spec: Grader) -> str | None:
    """The schemas a sentence cannot hold, as indented JSON."""
    if isinstance(spec, JsonSchemaGrader):
        return json.dumps(spec.json_schema, indent=2, ensure_ascii=False)
    if isinstance(spec, AllGrader | AnyGrader):
        details = [d for d in (grader_detail(c) for c in spec.checks) if d]
        return "\n\n".join(details) or None
    return None


def arm_result(detail: ArmDetail) -> str:
    """pass (every scored sample passed), fail (none did), mixed, or none (nothing scored)."""
    if detail.samples == 0:
        return "none"
    if detail.passes == detail.samples:
        return "pass"
    return "fail" if detail.passes == 0 else "mixed"


def _sum_costs(costs: list[float | None]) -> float | None:
    return None if any(c is None for c in costs) else round(sum(c or 0.0 for c in costs), 9)


class Strings:
    """Texts that repeat across a report (the system prompt in every message, each input in
    its closed-book message, shared schemas) stored once; the payload holds their index."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def ref(self, text: str) -> int:
        return self.index.setdefault(text, len(self.index))

    def table(self) -> list[str]:
        return list(self.index)


def _arm_payload(detail: ArmDetail, spec: Grader | None) -> dict[str, Any]:
    samples = []
    for index, answer in enumerate(detail.answers):
        call: dict[str, Any] = {
            "answer": None if answer is None else (marked(spec, answer) if spec else [answer]),
            "grade": detail.grades[index] if index < len(detail.grades) else None,
        }
        error = detail.errors[index] if index < len(detail.errors) else None
        if error:
            call["error"] = error
        if index < len(detail.cached) and detail.cached[index]:
            call["cached"] = True
        samples.append(call)
    return {
        "passes": detail.passes,
        "samples": detail.samples,
        "result": arm_result(detail),
        "cost_usd": detail.cost_usd,
        "calls": samples,
    }


def case_payload(
    view: CaseView, case: Case | None, position: int, data: ReportData, strings: Strings
) -> dict[str, Any]:
    """One row of the case table and its drill-down: evidence, facts, the messages sent.
    `input`, `expected_detail` and message contents are indices into `strings`."""
    options = data.run.config
    spec = case.expected if case is not None else None
    detail = grader_detail(spec) if spec is not None else None
    out: dict[str, Any] = {
        "id": view.case_id,
        "position": position,
        "label": view.label,
        "confidence": view.confidence,
        "facts_cover_answer": view.facts_cover_answer,
        "facts_sufficient": view.facts_sufficient,
        "facts_reason": view.facts_reason,
        "arms": {arm: _arm_payload(d, spec) for arm, d in view.arms.items()},
        "cost_usd": _sum_costs([d.cost_usd for d in view.arms.values()]),
        "tags": case.tags if case else [],
        "input": strings.ref(case.input if case else ""),
        "facts": [marked(spec, f) for f in case.facts] if case and spec else [],
        "expected": describe_grader(spec) if spec is not None else "",
        "expected_detail": strings.ref(detail) if detail is not None else None,
        "messages": {},
    }
    passages: list[str] = []
    if view.retrieved is not None:
        passages = [data.passages.get(pid, "") for pid in view.retrieved.passages]
        out["retrieved"] = {
            "recall": view.retrieved.recall,
            "outcome": retrieval_outcome(view, data),
            "passages": [
                [pid, marked(spec, text) if spec else [text]]
                for pid, text in zip(view.retrieved.passages, passages, strict=True)
            ],
        }
    if case is not None:
        system, candidate = data.suite.system_prompt, options.candidate_prompt
        out["messages"] = {
            arm: [
                [m["role"], strings.ref(m["content"])]
                for m in build_messages(system, case, arm, options.injection, candidate, passages)
            ]
            for arm in ARMS
            if arm in view.arms
        }
    return out


def retrieval_outcome(view: CaseView, data: ReportData) -> str | None:
    """Why the retrieved arm lost what the gold facts won: not_retrieved or misread."""
    return data.retrieval_outcomes.get(view.case_id)


def page_payload(data: ReportData) -> dict[str, Any]:
    """The JSON the report's script renders the case table and the drill-down from.

    `run` is the run as the API serves it (`GET /v1/runs/{id}`), for the JSON download.
    """
    by_id: Mapping[str, Case] = {c.id: c for c in data.suite.cases}
    positions = {c.id: i for i, c in enumerate(data.suite.cases)}
    strings = Strings()
    cases = [
        case_payload(view, by_id.get(view.case_id), positions.get(view.case_id, i), data, strings)
        for i, view in enumerate(data.cases)
    ]
    return {
        "run": data.run.model_dump(mode="json"),
        "arms": [[arm, ARM_TITLES[arm]] for arm in data.arms],
        "strings": strings.table(),
        "cases": cases,
    }
