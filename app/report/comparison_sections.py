"""The comparison report's lower half: what a correct answer costs each run, and the frame
of the case table (filters and the head row; the page's script fills in the rows)."""

from __future__ import annotations

from app.report.comparison_data import CHANGE_TITLES, ComparisonReportData
from app.report.data import ARM_TITLES
from app.report.html import Markup, el
from app.report.table import search_field, select_field


def _saving_words(what: str, saving: float) -> str:
    """0.25 -> "25% less cost"; -0.5 -> "50% more cost"; -9 -> ten times the cost."""
    if saving >= 0:
        return f"{100 * saving:.0f}% less {what}"
    if saving <= -1:
        return f"{1 - saving:.0f}× the {what}"
    return f"{-100 * saving:.0f}% more {what}"


def _money(value: float | None) -> str:
    return "n/a" if value is None else "$0" if value == 0 else f"${value:.6f}"


_COST_COLUMNS = ("Parameters", "Correct", "Tokens / correct", "ms / correct", "USD / correct")


def _number(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def efficiency_card(data: ComparisonReportData) -> Markup:
    view = data.comparison
    rows = []
    for role, side in (("Baseline", view.baseline), ("Candidate", view.candidate)):
        e = side.efficiency
        rows.append(
            el(
                "tr",
                el("th", f"{role}: {side.model}", scope="row"),
                el(
                    "td",
                    "unknown" if side.parameters is None else f"{side.parameters:,}",
                    class_="num",
                ),
                el("td", str(e.correct), class_="num"),
                el("td", _number(e.tokens_per_correct, ",.0f"), class_="num"),
                el("td", _number(e.latency_ms_per_correct, ",.0f"), class_="num"),
                el("td", _money(e.cost_usd_per_correct), class_="num"),
            )
        )
    saved = ", ".join(_saving_words(k, v) for k, v in view.saving.items())
    return el(
        "section",
        el("h2", "What a correct answer costs", id="cost-title"),
        el(
            "div",
            el(
                "table",
                el(
                    "thead",
                    el(
                        "tr",
                        el("th", "Run", scope="col"),
                        *[el("th", name, scope="col", class_="num") for name in _COST_COLUMNS],
                    ),
                ),
                el("tbody", rows),
                class_="usage",
            ),
            class_="table-wrap",
        ),
        el(
            "p",
            f"Over the closed-book and with-facts arms. The candidate per correct answer: {saved}."
            if saved
            else "No saving could be computed (a side has no price or no correct answer).",
            class_="muted small",
        ),
        class_="card",
        aria_labelledby="cost-title",
    )


def cases_frame(data: ComparisonReportData) -> Markup:
    arms = [("", "any arm")] + [(a, ARM_TITLES.get(a, a)) for a in data.arms]
    changes = [("", "any change"), *CHANGE_TITLES.items()]
    return el(
        "section",
        el(
            "div",
            el("h2", "Cases, regressions first", id="cases-title"),
            el("p", "", id="case-count", class_="muted", aria_live="polite"),
            class_="section-head",
        ),
        el(
            "div",
            search_field("id, input, answer"),
            select_field("f-change", "Change", changes),
            select_field("f-arm", "On", arms),
            el("button", "Clear filters", type="button", id="reset", class_="button quiet"),
            class_="toolbar",
            role="search",
            aria_label="Filter the cases",
        ),
        el(
            "div",
            el(
                "table",
                el(
                    "caption",
                    "Every case: open one to see both runs' answers",
                    class_="visually-hidden",
                ),
                el(
                    "thead",
                    el(
                        "tr",
                        el("th", "Case", scope="col"),
                        *[el("th", ARM_TITLES.get(a, a), scope="col") for a in data.arms],
                        el("th", "Label, baseline → candidate", scope="col"),
                    ),
                ),
                el("tbody", id="case-rows"),
                id="case-table",
                class_="cmp-table",
            ),
            class_="table-wrap",
        ),
        el("p", "No case matches these filters.", id="no-match", class_="muted", hidden=True),
        el(
            "button",
            "Show more cases",
            type="button",
            id="more",
            class_="button quiet",
            hidden=True,
        ),
        class_="card",
        id="cases",
        aria_labelledby="cases-title",
    )
