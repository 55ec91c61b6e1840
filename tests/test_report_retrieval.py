"""A run with the retrieved arm, in its report: the retrieval card (three pass rates, recall@k,
the lift recovered, the cases lost split by why), each lost group filtering the table, and
the drill-down showing the passages the retriever found and the exact messages sent.

The run is `rung diagnose` on the demo suite with builtin/reader and BM25 at k = 2 over a
user's own corpus (a handbook that knows only four of the facts), as a user would run it: the
cases whose facts the handbook lacks lose them to retrieval.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from app.diagnosis.suite import FactInjection, build_messages, load_suite_file
from tests.browser import DESKTOP, PHONE, Watched, browser, screenshot, watched_page
from tests.test_cli import DEMO, rung
from tests.test_report import Page, _self_contained
from tests.test_retrieval import PASSAGES

__all__ = ["browser"]  # the fixture


@pytest.fixture(scope="module")
def retrieval_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    where = tmp_path_factory.mktemp("retrieval")
    report, out = where / "report.html", where / "run.json"
    corpus = where / "handbook.txt"
    corpus.write_text("\n\n".join(PASSAGES), encoding="utf-8")
    made = rung(
        where, "diagnose", str(DEMO), "--model", "builtin/reader", "--corpus", str(corpus),
        "--retrieval-k", "2", "--report", str(report), "--out", str(out),
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    return report, json.loads(out.read_text(encoding="utf-8"))


def test_the_report_holds_the_retrieved_passages_and_messages(
    retrieval_run: tuple[Path, dict[str, Any]],
) -> None:
    report, run = retrieval_run
    html = report.read_text(encoding="utf-8")
    page = Page(html)
    _self_contained(page)
    data = page.data()
    retrieval = run["verdict"]["retrieval"]
    assert retrieval["not_retrieved"], "the handbook lacks most facts"
    assert "Will retrieval fix it?" in html
    assert "Retrieved passages" in [title for _, title in data["arms"]]

    outcomes = {c["id"]: c["retrieved"]["outcome"] for c in data["cases"]}
    assert sorted(k for k, v in outcomes.items() if v == "not_retrieved") == sorted(
        retrieval["not_retrieved"]
    )
    assert sorted(k for k, v in outcomes.items() if v == "misread") == sorted(retrieval["misread"])

    suite = load_suite_file(DEMO)
    by_id = {c.id: c for c in suite.cases}
    evidence = {c["case_id"]: c for c in run["cases"]}
    for case in data["cases"]:
        got = case["retrieved"]
        ids = [pid for pid, _ in got["passages"]]
        assert ids == evidence[case["id"]]["retrieved"]["passages"]
        texts = ["".join(pieces) for _, pieces in got["passages"]]
        assert all(texts) and len(texts) <= 2
        assert set(texts) <= set(PASSAGES)
        sent = build_messages(
            suite.system_prompt, by_id[case["id"]], "retrieved", FactInjection(), None, texts
        )
        shown = [[role, data["strings"][ref]] for role, ref in case["messages"]["retrieved"]]
        assert shown == [[m["role"], m["content"]] for m in sent]


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Watched]:
    state = watched_page(browser, DESKTOP)
    yield state
    state.page.context.close()


def test_a_lost_group_filters_the_table_and_the_drill_down_shows_the_passages(
    desktop: Watched, retrieval_run: tuple[Path, dict[str, Any]]
) -> None:
    report, run = retrieval_run
    lost = run["verdict"]["retrieval"]["not_retrieved"]
    page = desktop.page
    page.goto(report.as_uri())
    page.locator("body[data-ready=true]").wait_for()
    card = page.locator("#retrieval")
    expect(card.locator("h2")).to_have_text("Will retrieval fix it?")
    expect(card.locator("svg text").first).to_have_text("Closed-book")
    screenshot(page, "report-retrieval-desktop")

    card.locator('[data-filter="retrieval=not_retrieved"]').click()
    expect(page.locator("#case-count")).to_contain_text(
        f"{len(lost)} of 24 cases · facts not retrieved"
    )
    shown = page.locator("#case-rows button.case-open").all_inner_texts()
    assert sorted(shown) == sorted(lost)

    # A case whose retriever found a passage, only not the one with its facts.
    wrong = next(case_id for case_id in lost if run_passages(run, case_id))
    page.locator("button.case-open", has_text=wrong).click()
    body = page.locator("#dlg-body")
    expect(body).to_contain_text("Retrieved passages, best first (recall of the gold facts 0%")
    expect(body).to_contain_text("facts not retrieved")
    expect(body.locator(".retrieved .passage-id")).to_have_text(run_passages(run, wrong))
    expect(body.locator(".retrieved li")).to_have_count(len(run_passages(run, wrong)))
    page.locator("#dlg-close").click()
    nothing = next(case_id for case_id in lost if not run_passages(run, case_id))
    page.locator("button.case-open", has_text=nothing).click()
    expect(body.locator(".retrieved")).to_contain_text("Nothing retrieved")
    expect(body.locator(".arm h3")).to_contain_text(["Retrieved passages"])
    screenshot(page, "report-retrieval-case", full_page=False)
    desktop.assert_clean()


def run_passages(run: dict[str, Any], case_id: str) -> list[str]:
    case = next(c for c in run["cases"] if c["case_id"] == case_id)
    passages: list[str] = case["retrieved"]["passages"]
    return passages


def test_the_retrieval_card_at_phone_width(
    browser: Browser, retrieval_run: tuple[Path, dict[str, Any]]
) -> None:
    state = watched_page(browser, PHONE)
    page = state.page
    page.goto(retrieval_run[0].as_uri())
    page.locator("body[data-ready=true]").wait_for()
    card = page.locator("#retrieval")
    card.scroll_into_view_if_needed()
    box = card.bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert overflow is False
    screenshot(page, "report-retrieval-phone")
    state.assert_clean()
    state.page.context.close()
