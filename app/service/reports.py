"""A run's report: gather its views from the store, then render them (app/report)."""

from __future__ import annotations

from datetime import UTC, datetime

from app import __version__
from app.report import ReportData, render_report
from app.service import runs, suites
from app.service.views import CaseView
from app.store import Store

PAGE = 500


async def report_data(store: Store, run_id: str) -> ReportData:
    """The run, its suite (cases and system prompt) and every case's evidence."""
    run = await runs.get_run(store, run_id)
    suite = await suites.get_suite(store, run.suite_id)
    cases: list[CaseView] = []
    cursor: str | None = None
    while True:
        page = await runs.case_page(store, run_id, cursor, PAGE)
        cases.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return ReportData(
        run=run, suite=suite, cases=cases, version=__version__, generated_at=datetime.now(UTC)
    )


async def run_report(store: Store, run_id: str) -> str:
    """The run's report as one self-contained HTML document; NotFoundError for no such run."""
    return render_report(await report_data(store, run_id))
