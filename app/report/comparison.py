"""A comparison's report: two runs on one suite, paired case by case, as one self-contained
HTML document in the run report's style (same CSP: it loads nothing, runs nothing injected).

It shows the decision against the margin and the distillation check, per arm the four
outcomes (a cell is a button filtering the case table), the paired differences with their
intervals against the ±margin band, what a correct answer costs each run, and the cases,
regressions first, each opening onto both runs' answers.
"""

from __future__ import annotations

from app.diagnosis.comparison import ArmComparison
from app.report.charts import DifferenceRow, difference_chart, pct, points
from app.report.comparison_data import CHANGE_TITLES, ComparisonReportData, comparison_payload
from app.report.comparison_sections import cases_frame, efficiency_card
from app.report.data import ARM_TITLES
from app.report.html import Markup, csp_hash, el, json_script
from app.report.page import ASSETS, REPORT_CSS, bundle, document, page_footer, topbar
from app.report.runfacts import when

COMPARISON_CSS = REPORT_CSS + (ASSETS / "comparison.css").read_text(encoding="utf-8")
COMPARISON_JS = bundle("comparison.js")
COMPARISON_CSP = (
    "default-src 'none'; "
    f"script-src {csp_hash(COMPARISON_JS)}; style-src {csp_hash(COMPARISON_CSS)}; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)

DECISION_TITLES = {
    "equivalent": "Equivalent to the baseline",
    "better": "Better than the baseline",
    "worse": "Worse than the baseline",
    "inconclusive": "Not yet distinguishable from the baseline",
}


def _banner(data: ComparisonReportData) -> Markup:
    view = data.comparison
    margin = f"±{100 * view.margin:.0f} points"
    kind = (view.smaller_or_cheaper or "").replace("_", " ")
    route = None
    if view.distillable:
        route = el(
            "p",
            el("span", "Distill or route", class_="pill-label"),
            el(
                "strong",
                f"the candidate is {kind} and not worse with the facts",
                class_="pill-value",
            ),
            class_="next-rung",
        )
    elif view.smaller_or_cheaper is not None:
        route = el(
            "p",
            f"The candidate is {kind}, but not shown to be at most {margin[1:]} worse with the "
            "facts in context: do not route to it yet.",
            class_="note note-warn",
        )
    return el(
        "section",
        el("p", "Comparison", class_="eyebrow"),
        el("h1", DECISION_TITLES[view.decision]),
        el(
            "p",
            el("strong", view.candidate.model),
            f" (run {view.candidate_run_id[:8]}) against ",
            el("strong", view.baseline.model),
            f" (run {view.baseline_run_id[:8]}), equivalence margin {margin}.",
            class_="reason",
        ),
        route,
        _prompts(data),
        el("p", view.summary, class_="summary"),
        class_="card banner cmp-banner",
        data_decision=view.decision,
    )


def _prompts(data: ComparisonReportData) -> Markup | None:
    """When the runs' suites differ in their system prompt (a prompt comparison), both."""
    base, cand = data.baseline.suite.system_prompt, data.candidate.suite.system_prompt
    if base == cand:
        return None
    return el(
        "details",
        el("summary", "The two runs differ in their system prompt"),
        el("p", "Baseline", class_="block-title"),
        el("pre", base or "(none)", class_="text"),
        el("p", "Candidate", class_="block-title"),
        el("pre", cand or "(none)", class_="text"),
        class_="prompts",
        open=True,
    )


def _cell(arm: str, change: str, count: int, hint: str) -> Markup:
    return el(
        "button",
        el("span", str(count), class_="cell-count"),
        el("span", CHANGE_TITLES[change], class_="chip chip-" + change),
        el("span", hint, class_="cell-hint"),
        type="button",
        class_="cell cell-" + change,
        data_arm=arm,
        data_change=change,
        aria_pressed="false",
        aria_label=f"{count} cases {CHANGE_TITLES[change]} {ARM_TITLES.get(arm, arm)}: show them",
    )


def _arm_card(arm: ArmComparison) -> Markup:
    title = ARM_TITLES.get(arm.arm, arm.arm)
    head = ("span", "row-head")
    grid = el(
        "div",
        el("span", "", class_="corner", aria_hidden="true"),
        el("span", "Candidate ", el("strong", "pass"), class_="col-head"),
        el("span", "Candidate ", el("strong", "fail"), class_="col-head"),
        el(head[0], "Baseline ", el("strong", "pass"), class_=head[1]),
        _cell(arm.arm, "both_pass", arm.both_pass, "no change"),
        _cell(arm.arm, "regressed", arm.regressed, "the candidate lost it"),
        el(head[0], "Baseline ", el("strong", "fail"), class_=head[1]),
        _cell(arm.arm, "fixed", arm.fixed, "the candidate won it"),
        _cell(arm.arm, "both_fail", arm.both_fail, "no change"),
        class_="quad",
        role="group",
        aria_label=f"{title}: cases by baseline and candidate result",
    )
    rates = (
        f"{pct(arm.baseline_rate)} → {pct(arm.candidate_rate)} on {arm.n} paired cases"
        if arm.n
        else "no case scored in both runs"
    )
    decide = f"; about {arm.cases_to_decide} cases would decide it" if arm.cases_to_decide else ""
    return el(
        "section",
        el("h2", title, id=f"arm-{arm.arm}"),
        el("p", rates, " · ", el("span", arm.decision, class_="chip chip-" + arm.decision)),
        grid,
        el(
            "p",
            f"McNemar mid-p {arm.mid_p:.3g}"
            + ("; not worse beyond the margin" if arm.not_worse else "")
            + decide,
            class_="muted small",
        ),
        class_="card",
        aria_labelledby=f"arm-{arm.arm}",
    )


def _difference_card(data: ComparisonReportData) -> Markup:
    view = data.comparison
    rows = [
        DifferenceRow(ARM_TITLES.get(a.arm, a.arm), a.difference, a.low, a.high, a.decision)
        for a in view.arms.values()
    ]
    return el(
        "section",
        el("h2", "Paired difference, candidate − baseline", id="diff-title"),
        difference_chart(rows, view.margin),
        el(
            "p",
            "Points of pass rate, with Newcombe's paired 95% interval. Inside the band: "
            "equivalent; wholly beyond it: better or worse; across its edge: not yet decided.",
            class_="muted small",
        ),
        class_="card",
        aria_labelledby="diff-title",
    )


def render_comparison_report(data: ComparisonReportData) -> str:
    view = data.comparison
    suite = data.baseline.suite
    title = (
        f"rung · {suite.name}: {view.candidate.model} vs {view.baseline.model} · {view.decision}"
    )
    header = topbar(
        "comparison",
        el("strong", suite.name),
        ": ",
        el("strong", view.candidate.model),
        " vs ",
        el("strong", view.baseline.model),
        el("span", f" · {when(view.created_at)} · comparison {view.id[:8]}", class_="muted"),
    )
    main = el(
        "main",
        _banner(data),
        el(
            "div",
            *[_arm_card(a) for a in view.arms.values()],
            _difference_card(data),
            class_="grid-auto",
        ),
        efficiency_card(data),
        cases_frame(data),
        class_="wrap",
        id="main",
    )
    footer = page_footer(
        f"rung {data.version} · generated {when(data.generated_at)} · margin "
        f"{points(view.margin)[1:]} points · one self-contained file: it loads nothing "
        "from the network."
    )
    body = el(
        "body",
        header,
        main,
        footer,
        json_script("rung-data", comparison_payload(data)),
        data_decision=view.decision,
    )
    return document(title, COMPARISON_CSP, COMPARISON_CSS, body, COMPARISON_JS)
