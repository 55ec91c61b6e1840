"""Reports: gather a run's (or a comparison's) views from the store, then render them
(app/report)."""

from __future__ import annotations

from datetime import UTC, datetime

from app import __version__
from app.engine.comparing import case_arms
from app.report import ReportData, render_report
from app.report.comparison import render_comparison_report
from app.report.comparison_data import ComparisonReportData
from app.service import comparisons, evidence, runs, suites
from app.service.views import CaseView, RunView, SuiteDetail
from app.store import Store

PAGE = 500


async def report_data(store: Store, run_id: str, suite: SuiteDetail | None = None) -> ReportData:
    """The run, its suite (cases and system prompt) and every case's evidence. A `suite`
    already read is used when it is the run's (reading one validates every case again)."""
    run = await runs.get_run(store, run_id)
    if suite is None or suite.id != run.suite_id:
        suite = await suites.get_suite(store, run.suite_id)
    cases: list[CaseView] = []
    cursor: str | None = None
    while True:
        page = await evidence.case_page(store, run_id, cursor, PAGE)
        cases.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return ReportData(
        run=run,
        suite=suite,
        cases=cases,
        version=__version__,
        generated_at=datetime.now(UTC),
        passages=await retrieved_texts(store, run, cases),
    )


async def retrieved_texts(store: Store, run: RunView, cases: list[CaseView]) -> dict[str, str]:
    """The text of every passage the retrieved arm got, by id, from the run's corpus."""
    retrieval = run.config.retrieval
    wanted = {pid for case in cases if case.retrieved for pid in case.retrieved.passages}
    if retrieval is None or retrieval.corpus_id is None or not wanted:
        return {}
    _, passages = await store.corpus_contents(retrieval.corpus_id)
    return {p.id: p.text for p in passages if p.id in wanted}


async def run_report(store: Store, run_id: str) -> str:
    """The run's report as one self-contained HTML document; NotFoundError for no such run."""
    return render_report(await report_data(store, run_id))


async def comparison_report(store: Store, comparison_id: str) -> str:
    """A comparison's report; NotFoundError for no such comparison (or a deleted run)."""
    view = await comparisons.get_comparison(store, comparison_id)
    baseline = await report_data(store, view.baseline_run_id)
    candidate = await report_data(store, view.candidate_run_id, baseline.suite)

    async def passed(run_id: str) -> dict[str, dict[str, bool | None]]:
        return {r.case_id: dict(case_arms(r).passed) for r in await store.case_results(run_id)}

    return render_comparison_report(
        ComparisonReportData(
            comparison=view,
            baseline=baseline,
            candidate=candidate,
            baseline_passed=await passed(view.baseline_run_id),
            candidate_passed=await passed(view.candidate_run_id),
            version=__version__,
            generated_at=datetime.now(UTC),
        )
    )
