"""The report's retrieval card: will a real retriever recover the lift the gold facts give?

Three pass rates over the same cases (closed-book, the retriever's top-k passages, the gold
facts), recall@k of the gold facts, the share of the lift recovered, and the cases retrieval
lost, split by why: the facts were not retrieved, or they were and the model misread them.
Each group is a button that filters the case table to it.
"""

from __future__ import annotations

from app.diagnosis.retrieval import RetrievalResult
from app.report.charts import RateBar, pass_rate_chart, pct
from app.report.html import Markup, el

_TITLES = {"closed_book": "Closed-book", "retrieved": "Retrieved passages", "gold": "Gold facts"}


def _lost(count: int, outcome: str, words: str) -> Markup:
    return el(
        "button",
        el("span", str(count), class_="side-count"),
        el("span", words, class_="cell-hint"),
        type="button",
        class_="side",
        data_filter=f"retrieval={outcome}",
        disabled=count == 0,
        aria_label=f"{count} cases {words}: show them",
    )


def retrieval_card(result: RetrievalResult) -> Markup:
    bars = [
        RateBar(_TITLES[arm], r.passes, r.n, r.rate, r.low, r.high)
        for arm in ("closed_book", "retrieved", "gold")
        if (r := result.pass_rates.get(arm)) is not None
    ]
    corpus = f"corpus {result.corpus_id[:8]}" if result.corpus_id else "the suite's facts"
    recovered = (
        f"{pct(result.lift_recovered)} of the gold facts' lift"
        if result.lift_recovered is not None
        else "n/a (the gold facts give no lift)"
    )
    return el(
        "section",
        el("h2", "Will retrieval fix it?", id="retrieval-title"),
        el(
            "p",
            f"BM25 over {corpus}, top {result.k} passages in place of the gold facts, "
            f"on the {result.cases} cases scored on all three arms.",
            class_="muted small",
        ),
        el(
            "div",
            el("div", pass_rate_chart(bars, None)),
            el(
                "div",
                el(
                    "dl",
                    el("dt", f"Recall@{result.k}"),
                    el("dd", f"{pct(result.recall_at_k)} of the gold facts retrieved"),
                    el("dt", "Every fact found"),
                    el("dd", f"{result.fully_retrieved} cases"),
                    el("dt", "Retrieval recovers"),
                    el("dd", recovered),
                    class_="facts-list compact",
                ),
                el("p", "Fixed by the gold facts, lost with retrieval:", class_="small-head"),
                el(
                    "div",
                    _lost(len(result.not_retrieved), "not_retrieved", "facts not retrieved"),
                    _lost(len(result.misread), "misread", "retrieved, but misread"),
                    class_="sides",
                ),
            ),
            class_="split",
        ),
        el("p", result.summary, class_="summary"),
        class_="card",
        id="retrieval",
        aria_labelledby="retrieval-title",
    )
