"""A run of `builtin/reader` on an N-case suite, replayed in-process, as a report's data.

For the large-report tests: 5,000 cases through the engine take minutes here (10,000 litellm
calls), while the report only needs what the service hands it. So each case is answered by
the reader's own algorithm on the messages the engine would send, graded by the real grader,
labelled by the real rule, and concluded by the engine's own `run_verdict`: the same numbers a
real run gives, without the call overhead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from app import __version__
from app.diagnosis.grading import grade
from app.diagnosis.grading.coverage import facts_cover_answer
from app.diagnosis.labels import ArmTally, decide_case
from app.diagnosis.options import RunOptions
from app.diagnosis.suite import Case, FactInjection, Suite, build_messages, validate_suite
from app.diagnosis.usage import ArmUsage
from app.engine.conclusion import RunSnapshot, run_verdict
from app.models.reader import read
from app.report import ReportData
from app.service.views import ArmDetail, CaseView, SuiteDetail, run_view
from app.store.records import CaseResultRecord, RunRecord

ROOT = Path(__file__).resolve().parents[1]


def demo_suite(n: int) -> Suite:
    """The demo suite's 24 cases, cycled to n cases; every copy has its own id, input and
    facts (a number in each, that no question asks about), so the report has no repeats to
    share and the labels stay those of the demo."""
    data = yaml.safe_load((ROOT / "fixtures" / "demo-suite.yaml").read_text(encoding="utf-8"))
    base = data["cases"]
    cases = []
    for i in range(n):
        case = dict(base[i % len(base)])
        case["id"] = f"{case['id']}-{i:05d}"
        case["input"] = f"{case['input']} [#{i}]"
        case["facts"] = [*case["facts"], f"Archive note {i * 7919 % 100003}: no action needed."]
        cases.append(case)
    return validate_suite({**data, "name": f"northwind-{n}", "cases": cases})


def _arm(case: Case, system: str, arm: str) -> tuple[ArmDetail, bool]:
    messages = build_messages(system, case, arm, FactInjection())  # type: ignore[arg-type]
    answer = read(messages)
    result = grade(case.expected, answer)
    detail = ArmDetail(
        passes=int(result.passed),
        samples=1,
        answers=[answer],
        grades=[result.model_dump()],
        errors=[None],
        cached=[False],
        cost_usd=0.0,
    )
    return detail, result.passed


def reader_report(n: int) -> ReportData:
    return replay(demo_suite(n))


def replay(suite: Suite) -> ReportData:
    """What `rung diagnose SUITE --model builtin/reader` would report, computed in-process."""
    n = len(suite.cases)
    views, results = [], []
    usage = {arm: ArmUsage() for arm in ("closed_book", "open_book")}
    for position, case in enumerate(suite.cases):
        closed, closed_ok = _arm(case, suite.system_prompt, "closed_book")
        opened, open_ok = _arm(case, suite.system_prompt, "open_book")
        decision = decide_case(
            ArmTally(int(closed_ok), 1, 1), ArmTally(int(open_ok), 1, 1), 1, deterministic=True
        )
        label = decision.label or "inconclusive"
        covered = facts_cover_answer(case.expected, case.facts)
        views.append(
            CaseView(
                case_id=case.id,
                label=label,
                confidence=decision.confidence,
                facts_cover_answer=covered,
                arms={"closed_book": closed, "open_book": opened},
            )
        )
        results.append(
            CaseResultRecord(position, case.id, label, decision.confidence, covered, None, None)
        )
        for arm in usage.values():
            arm.calls += 1
            arm.prompt_tokens += 40
            arm.completion_tokens += 9
    started = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    record = RunRecord(
        id="f" * 32,
        suite_id="e" * 32,
        model="builtin/reader",
        options=RunOptions(),
        status="succeeded",
        executor="cli",
        cancel_requested=False,
        cancel_reason=None,
        error=None,
        verdict=None,
        calls_planned=2 * n,
        calls_done=2 * n,
        calls_cached=0,
        calls_failed=0,
        slices=1,
        created_at=started,
        started_at=started,
        finished_at=started + timedelta(seconds=n / 50),
        callback_url=None,
        metadata=None,
    )
    verdict = run_verdict(RunSnapshot(record, results, usage, 0.0), partial=False)
    run = run_view(record).model_copy(update={"verdict": verdict})
    detail = SuiteDetail(
        id=record.suite_id,
        name=suite.name,
        description=suite.description,
        case_count=n,
        created_at=started,
        system_prompt=suite.system_prompt,
        cases=suite.cases,
    )
    return ReportData(run=run, suite=detail, cases=views, version=__version__, generated_at=started)
