"""Pages: a run's self-contained HTML report, a comparison's, and the index of recent runs.

Pure rendering: the service gathers the data (app/service/reports.py) and hands it in;
nothing here touches the database, the network or a file.
"""

from app.report.comparison import COMPARISON_CSP, render_comparison_report
from app.report.data import ReportData
from app.report.index import INDEX_CSP, render_index
from app.report.page import REPORT_CSP, render_report

__all__ = [
    "COMPARISON_CSP",
    "INDEX_CSP",
    "REPORT_CSP",
    "ReportData",
    "render_comparison_report",
    "render_index",
    "render_report",
]
