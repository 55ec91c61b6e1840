"""One run's report as one self-contained HTML document: data in, HTML out, no I/O.

Its style and script are inlined from `assets/` (read once, at import) and allowed by hash in
the page's Content-Security-Policy, which also forbids every network request: opened from
disk or served, the page loads nothing, and an answer that smuggles markup can run nothing.
"""

from __future__ import annotations

from importlib.resources import files

from app.report.data import ReportData, page_payload
from app.report.html import Markup, csp_hash, el, json_script
from app.report.retrieval import retrieval_card
from app.report.runfacts import run_facts, when
from app.report.sections import lift_card, quadrant, rates_card
from app.report.table import cases_frame
from app.report.verdict import DIAGNOSIS_TITLES, banner

ASSETS = files("app.report") / "assets"
BASE_CSS = (ASSETS / "base.css").read_text(encoding="utf-8")
REPORT_CSS = BASE_CSS + (ASSETS / "report.css").read_text(encoding="utf-8")


def bundle(*names: str) -> str:
    """Scripts from `assets/` as one: a single function scope, so they share their data and
    state and nothing leaks into the page's globals; dom.js (the element builder) first."""
    body = "".join((ASSETS / name).read_text(encoding="utf-8") for name in ("dom.js", *names))
    return '(() => {\n"use strict";\n' + body + "})();\n"


REPORT_JS = bundle("report/common.js", "report/table.js", "report/drilldown.js", "report/main.js")

REPORT_CSP = (
    "default-src 'none'; "
    f"script-src {csp_hash(REPORT_JS)}; style-src {csp_hash(REPORT_CSS)}; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def document(title: str, csp: str, css: str, body: Markup, script: str) -> str:
    head = el(
        "head",
        el("meta", charset="utf-8"),
        el("meta", http_equiv="Content-Security-Policy", content=csp),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("meta", name="color-scheme", content="light"),
        el("meta", name="referrer", content="no-referrer"),
        el("title", title),
        Markup(f"<style>{css}</style>"),
    )
    return "<!doctype html>\n" + el(
        "html", head, body, Markup(f"<script>{script}</script>"), lang="en"
    )


def topbar(kind: str, *line: object) -> Markup:
    """The bar on top of every report: a skip link, the brand and the kind of page, and one
    line saying what it is about."""
    return el(
        "header",
        el(
            "div",
            el("a", "Skip to the cases", href="#cases", class_="skip"),
            el("p", el("span", "rung", class_="brand"), f" {kind}", class_="brand-line"),
            el("p", *line, class_="run-line"),
            class_="wrap",
        ),
        class_="topbar",
    )


def page_footer(text: str) -> Markup:
    return el("footer", el("p", text, class_="wrap muted small"))


def render_report(data: ReportData) -> str:
    """The report for one run: verdict banner, 2x2, charts, retrieval, case table, drill-down,
    facts."""
    run = data.run
    diagnosis = run.verdict.diagnosis if run.verdict else run.status
    title = f"rung · {data.suite.name} on {run.model} · {diagnosis}"
    header = topbar(
        "report",
        el("strong", data.suite.name),
        " on ",
        el("strong", run.model),
        el("span", f" · {when(run.created_at)} · run {run.id[:8]}", class_="muted"),
    )
    main = el(
        "main",
        banner(run),
        el("div", quadrant(data), rates_card(data), lift_card(data), class_="grid-3"),
        retrieval_card(run.verdict.retrieval) if run.verdict and run.verdict.retrieval else None,
        cases_frame(data),
        run_facts(data),
        class_="wrap",
        id="main",
    )
    footer = page_footer(
        f"rung {data.version} · generated {when(data.generated_at)} · one self-contained "
        "file: it loads nothing from the network."
    )
    dialog = el(
        "dialog",
        el(
            "div",
            el("h2", "", id="dlg-title"),
            el(
                "div",
                el("button", "← Previous", type="button", id="dlg-prev", class_="button quiet"),
                el("button", "Next →", type="button", id="dlg-next", class_="button quiet"),
                el("button", "Close", type="button", id="dlg-close", class_="button"),
                class_="dlg-nav",
            ),
            class_="dlg-head",
        ),
        el("div", id="dlg-body"),
        id="case-dialog",
        aria_labelledby="dlg-title",
    )
    body = el(
        "body",
        header,
        main,
        footer,
        dialog,
        json_script("rung-data", page_payload(data)),
        data_diagnosis=run.verdict.diagnosis if run.verdict else "none",
    )
    return document(title, REPORT_CSP, REPORT_CSS, body, REPORT_JS)


__all__ = ["DIAGNOSIS_TITLES", "REPORT_CSP", "render_report"]
