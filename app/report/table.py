"""The case table's frame: filters, sort, the head row, and the places the page's script
fills in (rows render there in chunks, from the JSON; so does the drill-down)."""

from __future__ import annotations

from app.diagnosis.labels import LABELS
from app.report.data import ARM_TITLES, ReportData
from app.report.html import Markup, el
from app.report.sections import LABEL_TITLES


def select_field(ident: str, title: str, options: list[tuple[str, str]], **attrs: object) -> Markup:
    """A labelled <select> of the table's toolbar: (value, text) options."""
    return el(
        "label",
        el("span", title),
        el(
            "select",
            [el("option", text, value=value) for value, text in options],
            id=ident,
            **attrs,
        ),
        class_="field",
    )


def search_field(placeholder: str) -> Markup:
    """The toolbar's search box (#q; the page's script listens to it)."""
    return el(
        "label",
        el("span", "Search"),
        el(
            "input",
            type="search",
            id="q",
            placeholder=placeholder,
            autocomplete="off",
            spellcheck="false",
        ),
        class_="field grow",
    )


ARM_RESULTS = [
    ("", "any"),
    ("pass", "passed"),
    ("fail", "failed"),
    ("mixed", "mixed samples"),
    ("none", "not scored"),
]


def cases_frame(data: ReportData) -> Markup:
    """The filters, the table head and the places the script fills in."""
    tags = sorted({tag for case in data.suite.cases for tag in case.tags})
    labels = [("", "all labels")] + [(label, LABEL_TITLES[label]) for label in LABELS]
    filters = [
        search_field("id, input, answer, reason  ( / )"),
        select_field("f-label", "Label", labels),
        select_field("f-tag", "Tag", [("", "all tags")] + [(t, t) for t in tags]),
        *[
            select_field(f"f-arm-{arm}", ARM_TITLES[arm], ARM_RESULTS, data_arm=arm)
            for arm in data.arms
        ],
        el(
            "label",
            el("span", "Facts"),
            el(
                "select",
                el("option", "any", value=""),
                el("option", "miss the expected answer", value="missing"),
                el("option", "insufficient (the judge)", value="insufficient"),
                id="f-facts",
            ),
            class_="field",
        ),
        select_field(
            "sort",
            "Sort by",
            [
                ("position", "suite order"),
                ("label", "label"),
                ("confidence", "confidence, lowest first"),
                ("cost", "cost, highest first"),
            ]
            + [(f"arm:{arm}", f"{ARM_TITLES[arm]}, failures first") for arm in data.arms],
        ),
        el("button", "Clear filters", type="button", id="reset", class_="button quiet"),
    ]
    head = [
        el("th", el("button", "Case", type="button", data_sort="position"), scope="col"),
        el("th", "Tags", scope="col", class_="col-tags"),
        el("th", el("button", "Label", type="button", data_sort="label"), scope="col"),
        el("th", el("button", "Confidence", type="button", data_sort="confidence"), scope="col"),
        *[
            el(
                "th",
                el("button", ARM_TITLES[arm], type="button", data_sort="arm:" + arm),
                scope="col",
                class_="num",
            )
            for arm in data.arms
        ],
        el("th", el("button", "Cost", type="button", data_sort="cost"), scope="col", class_="num"),
    ]
    return el(
        "section",
        el(
            "div",
            el("h2", "Cases", id="cases-title"),
            el("p", "", id="case-count", class_="muted", aria_live="polite"),
            class_="section-head",
        ),
        el("div", *filters, class_="toolbar", role="search", aria_label="Filter the cases"),
        el(
            "div",
            el(
                "table",
                el(
                    "caption",
                    "Every case: select one to see its evidence",
                    class_="visually-hidden",
                ),
                el("thead", el("tr", head)),
                el("tbody", id="case-rows"),
                id="case-table",
            ),
            class_="table-wrap",
        ),
        el("p", "No case matches these filters.", id="no-match", class_="muted", hidden=True),
        el("button", "Show more cases", type="button", id="more", class_="button", hidden=True),
        el("div", id="more-sentinel", aria_hidden="true"),
        el("noscript", el("p", "The case table needs JavaScript.", class_="note note-warn")),
        id="cases",
        class_="card",
        aria_labelledby="cases-title",
    )
