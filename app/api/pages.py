"""Pages for people: the index of runs (`/`), a run's report (`/v1/runs/{id}/report`) and a
comparison's (`/v1/comparisons/{id}/report`).

The reports sit under /v1, so they need the API key like the rest of the API. The index holds
no data (its script reads /v1 with the key the user gives it), so it is open like /docs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app import __version__
from app.api.deps import StoreDep
from app.report import COMPARISON_CSP, INDEX_CSP, REPORT_CSP, render_index
from app.service import reports

HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "A self-contained HTML page"}
}

index = APIRouter(include_in_schema=False)
report = APIRouter(prefix="/v1/runs", tags=["runs"])
comparison_report = APIRouter(prefix="/v1/comparisons", tags=["comparisons"])


def _page(html: str, csp: str) -> HTMLResponse:
    return HTMLResponse(
        html,
        headers={
            "content-security-policy": csp,
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
        },
    )


@index.get("/", response_class=HTMLResponse)
async def runs_index() -> HTMLResponse:
    return _page(render_index(__version__), INDEX_CSP)


@report.get("/{run_id}/report", response_class=HTMLResponse, responses=HTML)
async def run_report(store: StoreDep, run_id: str) -> HTMLResponse:
    """The run's report: one self-contained HTML file (verdict, 2x2, intervals, every case's
    evidence) that renders offline. Save it, mail it, open it from disk."""
    return _page(await reports.run_report(store, run_id), REPORT_CSP)


@comparison_report.get("/{comparison_id}/report", response_class=HTMLResponse, responses=HTML)
async def comparison_page(store: StoreDep, comparison_id: str) -> HTMLResponse:
    """The comparison's report: per arm fixed / regressed / both pass / both fail, the paired
    differences against the margin, the cost of a correct answer, and every case with both
    runs' answers, regressions first. One self-contained HTML file, like a run's report."""
    return _page(await reports.comparison_report(store, comparison_id), COMPARISON_CSP)
