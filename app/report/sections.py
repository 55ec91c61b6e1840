"""The report's cards below the banner: the 2x2 of outcomes, the pass rates, the lift."""

from __future__ import annotations

from collections import Counter

from app.diagnosis.stats import wilson_interval
from app.report.charts import RateBar, lift_chart, pass_rate_chart, pct
from app.report.data import ARM_TITLES, ReportData
from app.report.html import Markup, el

LABEL_HINTS = {
    "no_gap": "passes either way",
    "distraction": "the facts hurt",
    "knowledge": "facts fix it: retrieval",
    "behavior": "fails even with facts",
}
LABEL_TITLES = {
    "no_gap": "no gap",
    "knowledge": "knowledge",
    "behavior": "behavior",
    "distraction": "distraction",
    "inconclusive": "inconclusive",
    "error": "error",
}


def _head(arm: str, result: str, kind: str) -> Markup:
    return el("span", el("span", arm, class_="head-arm"), " ", el("strong", result), class_=kind)


def quadrant(data: ReportData) -> Markup:
    """Closed-book pass/fail x with-facts pass/fail; a cell is a button filtering the table."""
    counts: Counter[str] = Counter(case.label for case in data.cases)
    labelled = sum(counts[k] for k in LABEL_HINTS)

    def cell(label: str) -> Markup:
        share = f"{counts[label] / labelled:.0%}" if labelled else "–"
        return el(
            "button",
            el("span", str(counts[label]), class_="cell-count"),
            el("span", LABEL_TITLES[label], class_="chip chip-" + label),
            el("span", f"{share} · {LABEL_HINTS[label]}", class_="cell-hint"),
            type="button",
            class_="cell cell-" + label,
            data_label=label,
            aria_pressed="false",
            aria_label=f"{counts[label]} {LABEL_TITLES[label]} cases: show them",
        )

    def side(label: str, words: str) -> Markup:
        return el(
            "button",
            el("span", str(counts[label]), class_="side-count"),
            el("span", LABEL_TITLES[label], class_="chip chip-" + label),
            el("span", words, class_="cell-hint"),
            type="button",
            class_="side",
            data_label=label,
            aria_pressed="false",
            aria_label=f"{counts[label]} {LABEL_TITLES[label]} cases: show them",
        )

    grid = el(
        "div",
        el("span", "", class_="corner", aria_hidden="true"),
        _head("With facts", "pass", "col-head"),
        _head("With facts", "fail", "col-head"),
        _head("Closed‑book", "pass", "row-head"),
        cell("no_gap"),
        cell("distraction"),
        _head("Closed‑book", "fail", "row-head"),
        cell("knowledge"),
        cell("behavior"),
        class_="quad",
        role="group",
        aria_label="Cases by closed-book and with-facts result",
    )
    return el(
        "section",
        el("h2", "Where the cases fall", id="quad-title"),
        el("p", "Click a cell to list its cases.", class_="muted small"),
        grid,
        el(
            "div",
            side("inconclusive", "samples disagree"),
            side("error", "nothing scored"),
            class_="sides",
        ),
        class_="card",
        aria_labelledby="quad-title",
    )


def rates_card(data: ReportData) -> Markup:
    verdict = data.run.verdict
    body: list[Markup] = []
    if verdict is None:
        body.append(el("p", "The verdict is not computed yet.", class_="muted"))
    else:
        fails = {
            "closed_book": verdict.closed_book_provably_fails,
            "open_book": verdict.open_book_provably_fails,
            "prompt_fix": bool(verdict.prompt_fix and verdict.prompt_fix.provably_fails),
        }
        bars = [
            RateBar(ARM_TITLES[arm], r.passes, r.n, r.rate, r.low, r.high, fails.get(arm, False))
            for arm, r in verdict.pass_rates.items()
        ]
        body.append(pass_rate_chart(bars, verdict.max_failure_rate))
        fix = verdict.prompt_fix
        if fix is not None and fix.cases:
            pairs = [
                ("Prompt fix", fix.prompt_fix_passes),
                ("Control (re-run)", fix.control_passes),
            ]
            subset = [
                RateBar(
                    title,
                    passes,
                    fix.cases,
                    passes / fix.cases,
                    *wilson_interval(passes, fix.cases),
                )
                for title, passes in pairs
            ]
            body.append(
                el(
                    "h3",
                    f"On the {fix.cases} cases that failed with facts",
                    class_="small-head",
                )
            )
            body.append(pass_rate_chart(subset, None))
            body.append(
                el(
                    "p",
                    f"The candidate prompt fixed {fix.fixed} and broke {fix.broken} against the "
                    f"fresh control (mid-p {fix.mid_p:.2g}); {fix.remaining_failures} failures "
                    "remain with facts.",
                    class_="muted small",
                )
            )
        body.append(
            el(
                "p",
                (
                    "Bars: the mean of the per-case pass rates over every case observed on "
                    "both arms (in brackets: passing samples); whiskers: 95% intervals "
                    "clustered by case; "
                    if verdict.clustered is not None
                    else "Bars: pass rate over the confidently labelled cases; whiskers: "
                    "Wilson 95% intervals; "
                )
                + "dashed line: the acceptable pass rate (failure rate at most "
                f"{pct(verdict.max_failure_rate)}).",
                class_="muted small",
            )
        )
    return el(
        "section",
        el("h2", "Pass rate per arm", id="rates-title"),
        *body,
        class_="card",
        aria_labelledby="rates-title",
    )


def lift_card(data: ReportData) -> Markup:
    verdict = data.run.verdict
    if verdict is None:
        body = [el("p", "The verdict is not computed yet.", class_="muted")]
    else:
        lift, share = verdict.lift, verdict.knowledge_share
        mdl = verdict.minimum_detectable_lift
        significant = " (significant)" if lift.significant else ""
        clustered = verdict.clustered if lift.method == "clustered" else None
        if clustered is not None:
            tests = [
                el("dt", "p, clustered by case"),
                el("dd", f"{lift.p_value:.3g}{significant}" if lift.p_value is not None else "n/a"),
                el("dt", "Sampling noise"),
                el(
                    "dd",
                    f"{pct(clustered.sampling_share)} of the variance; "
                    + (
                        "more samples per case would narrow it most"
                        if clustered.more_evidence == "more_samples"
                        else "more cases would narrow it most"
                    ),
                ),
            ]
            formula = (
                "Lift: the mean over cases of (with-facts − closed-book pass rate), its 95% "
                "interval from standard errors clustered by case (between cases + sampling)."
            )
        else:
            tests = [
                el("dt", "McNemar mid-p"),
                el("dd", f"{lift.mid_p:.3g}{significant}"),
                el("dt", "exact p"),
                el("dd", f"{lift.exact_p:.3g}"),
            ]
            formula = "Lift: (knowledge − distraction) / n, with Newcombe's paired 95% interval."
        body = [
            lift_chart(
                lift.value,
                lift.low,
                lift.high,
                mdl,
                verdict.clustered.cases if verdict.clustered is not None else verdict.labelled,
            ),
            el(
                "dl",
                *tests,
                el("dt", "Minimum detectable lift"),
                el("dd", f"{100 * mdl:.0f} points at 80% power" if mdl is not None else "n/a"),
                el("dt", "Knowledge share"),
                el(
                    "dd",
                    f"{pct(share.value)} of closed-book failures "
                    f"(CI {pct(share.low)}–{pct(share.high)})"
                    if share.value is not None
                    else "n/a",
                ),
                class_="facts-list compact",
            ),
            el("p", formula, class_="muted small"),
        ]
    return el(
        "section",
        el("h2", "Lift from the facts", id="lift-title"),
        *body,
        class_="card",
        aria_labelledby="lift-title",
    )
