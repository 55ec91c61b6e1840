"""The report in real Chromium: offline, filterable, keyboard-driven, readable, and fast at
5,000 cases. The demo report is made the way a user makes it (`rung demo --report`) and
opened from disk with every network request refused; screenshots land in
tests/artifacts/screenshots/ (listed at the end of the test run)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from app.diagnosis.suite import FactInjection, build_messages, load_suite_file, validate_suite
from app.report import render_report
from tests.browser import DESKTOP, PHONE, Watched, browser, contrast, screenshot, watched_page
from tests.conftest import ROOT
from tests.reportdata import replay
from tests.test_cli import rung

__all__ = ["browser"]  # the fixture

DEMO = ROOT / "fixtures" / "demo-suite.yaml"


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`rung demo --report`, as a user runs it, on a fresh database."""
    where = tmp_path_factory.mktemp("demo")
    report = where / "demo-report.html"
    result = rung(
        where, "demo", "--model", "builtin/reader", "--out", str(where / "demo.json"),
        "--report", str(report),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Report written to {report}" in result.stdout
    return report


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Watched]:
    state = watched_page(browser, DESKTOP)
    yield state
    state.page.context.close()


def open_report(state: Watched, path: Path) -> Page:
    page = state.page
    page.goto(path.as_uri())
    page.locator("body[data-ready=true]").wait_for()
    return page


def rows(page: Page) -> list[str]:
    return page.locator("#case-rows button.case-open").all_inner_texts()


# --- rendering, offline -----------------------------------------------------------------------


def test_demo_report_renders_offline_at_desktop_and_phone_width(
    browser: Browser, demo_report: Path
) -> None:
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        state = watched_page(browser, viewport)
        page = open_report(state, demo_report)
        expect(page.locator("h1")).to_have_text(
            "Both gaps: missing facts, and a task it can't do with them"
        )
        expect(page.locator(".pill-value")).to_have_text("Add retrieval, and fix the prompt")
        expect(page.locator(".reason")).to_contain_text("+50 points (95% CI +27 to +69")
        expect(page.locator(".n-line")).to_have_text("n = 24 confidently labelled of 24 cases")
        recommended = page.locator(".step.recommended").evaluate_all(
            "els => els.map(e => e.dataset.rung)"
        )
        assert recommended == ["prompt", "retrieval"]
        expect(page.locator(".cell-knowledge .cell-count")).to_have_text("12")
        expect(page.locator(".cell-behavior .cell-count")).to_have_text("12")
        assert len(rows(page)) == 24
        assert page.locator("svg.chart").count() == 2
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{name}: the page scrolls sideways ({width}px)"
        screenshot(page, f"report-demo-{name}")
        page.locator("button.case-open", has_text="json-support").click()
        expect(page.locator("#case-dialog")).to_be_visible()
        screenshot(page, f"report-demo-{name}-case", full_page=False)
        state.assert_clean()
        assert state.requests == [demo_report.as_uri()], state.requests
        state.page.context.close()


def test_a_quadrant_cell_filters_the_table(desktop: Watched, demo_report: Path) -> None:
    page = open_report(desktop, demo_report)
    knowledge = page.locator("button.cell-knowledge")
    knowledge.click()
    expect(knowledge).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#case-count")).to_have_text("12 of 24 cases · label knowledge")
    assert set(page.locator("#case-rows .chip").all_inner_texts()) == {"knowledge"}
    assert len(rows(page)) == 12

    page.locator("button.cell-behavior").click()
    expect(knowledge).to_have_attribute("aria-pressed", "false")
    assert set(page.locator("#case-rows .chip").all_inner_texts()) == {"behavior"}

    page.locator("button.cell-behavior").click()  # a second click clears the filter
    expect(page.locator("#case-count")).to_have_text("24 of 24 cases")

    page.locator("button.side[data-label=inconclusive]").click()
    expect(page.locator("#no-match")).to_be_visible()
    page.locator("#reset").click()

    page.select_option("#f-tag", "format")
    expect(page.locator("#case-count")).to_have_text("12 of 24 cases · tag format")
    page.select_option("#f-arm-open_book", "pass")  # format cases never pass with facts
    expect(page.locator("#case-count")).to_contain_text("0 of 24")
    page.locator("#reset").click()

    page.fill("#q", "kayak")
    expect(page.locator("#case-count")).to_contain_text("2 of 24")  # the question and its JSON twin
    assert sorted(rows(page)) == ["json-deposit", "rental-deposit"]
    page.locator("#reset").click()

    page.locator("th button[data-sort=label]").click()
    first, last = rows(page)[0], rows(page)[-1]
    assert first.startswith("json-") and not last.startswith("json-")  # behavior sorts first
    page.locator("th button[data-sort=label]").click()
    assert not rows(page)[0].startswith("json-")
    desktop.assert_clean()


def test_keyboard_navigation(desktop: Watched, demo_report: Path) -> None:
    page = open_report(desktop, demo_report)
    active = "document.activeElement"
    page.keyboard.press("Tab")
    assert page.evaluate(f"{active}.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#cases"

    page.locator("button.cell-knowledge").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#case-count")).to_have_text("12 of 24 cases · label knowledge")
    page.keyboard.press("Space")
    expect(page.locator("#case-count")).to_have_text("24 of 24 cases")

    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("/")
    assert page.evaluate(f"{active}.id") == "q"
    page.keyboard.type("json-h")
    expect(page.locator("#case-count")).to_contain_text("1 of 24")
    page.keyboard.press("Control+a")
    page.keyboard.press("Backspace")
    expect(page.locator("#case-count")).to_have_text("24 of 24 cases")

    page.locator("button.case-open").first.focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate(f"{active}.textContent") == "support-hours"
    page.keyboard.press("End")
    assert page.evaluate(f"{active}.textContent") == "json-boots"
    page.keyboard.press("Home")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    dialog = page.locator("#case-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#dlg-title")).to_have_text("support-hours")
    assert page.evaluate(f"{active}.id") == "dlg-title"
    page.keyboard.press("ArrowRight")
    expect(page.locator("#dlg-title")).to_have_text("warranty-tents")
    assert page.evaluate("location.hash") == "#case=warranty-tents"
    for _ in range(6):  # the modal keeps focus inside it
        page.keyboard.press("Tab")
        assert page.evaluate(f"{active}.closest('dialog') !== null")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # Focus goes back in the dialog's close event, a task queued after it hides.
    page.wait_for_function(f"() => {active}.textContent === 'warranty-tents'")
    desktop.assert_clean()


def test_a_case_link_opens_its_drill_down(desktop: Watched, demo_report: Path) -> None:
    page = desktop.page
    page.goto(demo_report.as_uri() + "#case=refund-window")
    page.locator("body[data-ready=true]").wait_for()
    expect(page.locator("#dlg-title")).to_have_text("refund-window")
    desktop.assert_clean()


# --- what the drill-down shows -----------------------------------------------------------------


def test_drill_down_shows_every_arm_the_marked_facts_and_the_messages_sent(
    desktop: Watched, demo_report: Path
) -> None:
    page = open_report(desktop, demo_report)
    page.locator("button.case-open", has_text="refund-window").click()
    body = page.locator("#dlg-body")
    expect(body.locator(".facts mark")).to_have_text(["45 days"])
    arms = body.locator(".arm")
    expect(arms.locator("h3")).to_have_text(["Closed-book", "With facts"])
    expect(arms.nth(0).locator("pre.answer")).to_have_text("I don't know.")
    expect(arms.nth(0)).to_contain_text("Grade: missing '45 days'")
    expect(arms.nth(0).locator(".kind")).to_have_text("content")
    expect(arms.nth(1).locator("pre.answer mark")).to_have_text("45 days")

    suite = load_suite_file(DEMO)
    case = next(c for c in suite.cases if c.id == "refund-window")
    for index, arm in enumerate(("closed_book", "open_book")):
        panel = arms.nth(index)
        panel.locator("summary").click()
        shown = panel.locator("details pre.text").all_inner_texts()
        sent = build_messages(suite.system_prompt, case, arm, FactInjection())
        assert shown == [m["content"] for m in sent]
        roles = panel.locator(".msg-role").all_inner_texts()
        assert [r.lower() for r in roles] == [m["role"] for m in sent]
    desktop.assert_clean()


def test_text_is_readable(browser: Browser, demo_report: Path) -> None:
    """WCAG AA: at least 4.5:1 between text and what is behind it, for the main elements."""
    selectors = [
        "h1", "h2", "h3", ".eyebrow", ".pill-label", ".pill-value", ".reason", ".n-line",
        ".summary", ".muted", ".small", ".step-title", ".step-cost", ".step-badge", ".todo li",
        ".chip", ".cell-count", ".cell-hint", ".col-head", ".row-head", ".side-count",
        "svg text", ".facts-list dt", ".facts-list dd", "thead th", ".case-open", ".snippet",
        ".res", ".tag", ".button", ".field span", "select", "input", "td", "footer p",
        ".topbar p", "summary",
    ]  # fmt: skip
    drilled = [".block-title", "pre.text", "mark", ".kind", ".reason-text", ".sample-line",
               ".arm-head", ".note", "#dlg-title"]  # fmt: skip
    worst = []
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        state = watched_page(browser, viewport)
        page = open_report(state, demo_report)
        found = contrast(page, selectors)
        page.locator("button.case-open", has_text="json-boots").click()
        found += contrast(page, drilled)
        assert {f["selector"] for f in found} >= {"h1", ".chip", "svg text", ".step-title"}
        low = [f for f in found if f["ratio"] < 4.5]
        assert low == [], f"{name}: text below 4.5:1: {low}"
        worst.append(min(found, key=lambda f: f["ratio"]))
        state.page.context.close()
    print("lowest contrast:", [(w["selector"], round(w["ratio"], 2)) for w in worst])


# --- untrusted text ----------------------------------------------------------------------------

HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script></script><!--'


def test_hostile_strings_render_as_text(desktop: Watched, tmp_path: Path) -> None:
    """Ids, tags, inputs, facts (so the reader's answers) and the system prompt all carry
    markup; none of it becomes an element, and no script runs."""
    suite = validate_suite(
        {
            "name": HOSTILE,
            "system_prompt": HOSTILE,
            "cases": [
                {
                    "id": f"case-{i}{HOSTILE}",
                    "input": f"What does the {HOSTILE} tag do? {i}",
                    "facts": [f"The {HOSTILE} tag does nothing here."],
                    "expected": "nothing",
                    "tags": [HOSTILE],
                }
                for i in range(12)
            ],
        }
    )
    path = tmp_path / "hostile.html"
    path.write_text(render_report(replay(suite)), encoding="utf-8")
    page = open_report(desktop, path)
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 2  # the data and the page's own script
    page.locator("button.case-open").first.click()
    answer = page.locator("#dlg-body .arm").nth(1).locator("pre.answer")
    expect(answer).to_have_text(f"The {HOSTILE} tag does nothing here.")
    expect(page.locator("#dlg-title")).to_have_text(f"case-0{HOSTILE}")
    assert page.locator("#case-dialog img, #case-dialog script").count() == 0
    desktop.assert_clean()


def test_the_json_download_is_the_run_with_its_evidence(
    desktop: Watched, demo_report: Path
) -> None:
    page = open_report(desktop, demo_report)
    with page.expect_download() as info:
        page.locator("#download-json").click()
    body: dict[str, Any] = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert body["verdict"]["diagnosis"] == "mixed"
    assert len(body["cases"]) == 24
    first = body["cases"][0]
    assert first["case_id"] == "refund-window"
    assert first["arms"]["open_book"]["answers"] == [
        "Refunds are accepted within 45 days of delivery."
    ]
    assert re.fullmatch(r"rung-run-[0-9a-f]{32}\.json", info.value.suggested_filename)
    desktop.assert_clean()
