"""The index page (`/`): recent runs, each linking to its report, live runs following their
progress. The page holds no data: its script reads `/v1/runs` with the tab's API key."""

from __future__ import annotations

from importlib.resources import files

from app.report.html import Markup, csp_hash, el
from app.report.page import BASE_CSS, REPORT_CSS, REPORT_JS, bundle, document

_ASSETS = files("app.report") / "assets"
INDEX_CSS = BASE_CSS + (_ASSETS / "index.css").read_text(encoding="utf-8")
INDEX_JS = bundle("index.js")

# connect-src 'self': the API only. The report's hashes too: with a key, a report is fetched
# and shown from a blob: URL, and a blob: document keeps the policy of the page that made it.
INDEX_CSP = (
    "default-src 'none'; "
    f"script-src {csp_hash(INDEX_JS)} {csp_hash(REPORT_JS)}; "
    f"style-src {csp_hash(INDEX_CSS)} {csp_hash(REPORT_CSS)}; "
    "connect-src 'self'; img-src data: blob:; base-uri 'none'; form-action 'none'"
)


COLUMNS = ("Run", "Status", "Model", "Suite", "Diagnosis", "Next rung", "Report")


def render_index(version: str) -> str:
    header = el(
        "header",
        el(
            "div",
            el(
                "p",
                el("span", "rung", class_="brand"),
                " · which rung of the LLM ladder?",
                class_="brand-line",
            ),
            el("p", el("a", "API docs", href="/docs"), class_="top-links"),
            class_="wrap",
        ),
        class_="topbar",
    )
    key_form = el(
        "form",
        el("h2", "This server needs an API key", id="key-title"),
        el(
            "p",
            "It is kept for this tab only (sessionStorage) and sent as ",
            el("code", "Authorization: Bearer"),
            ".",
            class_="muted small",
        ),
        el(
            "div",
            el(
                "label",
                el("span", "API key"),
                el("input", type="password", id="key", autocomplete="off", required=True),
                class_="field grow",
            ),
            el("button", "Use this key", type="submit", class_="button"),
            class_="key-row",
        ),
        el("p", "", id="key-error", class_="key-error", role="alert"),
        id="key-form",
        class_="card",
        hidden=True,
        aria_labelledby="key-title",
    )
    runs = el(
        "section",
        el(
            "div",
            el("h1", "Recent runs", id="runs-title"),
            el(
                "div",
                el("button", "Refresh", type="button", id="refresh", class_="button quiet"),
                el(
                    "button",
                    "Forget the key",
                    type="button",
                    id="forget",
                    class_="button quiet",
                    hidden=True,
                ),
                class_="actions",
            ),
            class_="section-head",
        ),
        el("p", "Open a run's report from its row; live runs update as they go.", class_="muted"),
        el(
            "div",
            el(
                "table",
                el(
                    "thead",
                    el(
                        "tr",
                        [el("th", title, scope="col") for title in COLUMNS],
                    ),
                ),
                el("tbody", id="run-rows"),
                id="runs",
            ),
            class_="table-wrap",
        ),
        el(
            "p",
            "No runs yet. Start one with ",
            el("code", "rung demo"),
            " or ",
            el("code", "POST /v1/runs"),
            " (see the API docs).",
            id="empty",
            class_="muted",
            hidden=True,
        ),
        el("p", "", id="load-error", class_="note note-bad", role="alert", hidden=True),
        id="runs-card",
        class_="card",
        aria_labelledby="runs-title",
    )
    main = el("main", key_form, runs, class_="wrap")
    footer = el("footer", el("p", f"rung {version}", class_="wrap muted small"))
    body = el("body", header, main, footer)
    return document("rung · runs", INDEX_CSP, INDEX_CSS, Markup(body), INDEX_JS)
