"""The comparison report, as a user makes it (`rung compare --report`, GET
/v1/comparisons/{id}/report), and in real Chromium: offline, regressions first, a cell that
filters the cases, both runs' answers side by side, untrusted answers kept as text, readable
at desktop and phone widths (screenshots in tests/artifacts/screenshots/).

The baseline is builtin/reader on 30 cases whose facts hold the answer (it fails closed-book
and passes with the facts). The candidate is a scripted model behind the real litellm client:
it knows the even cases' answers (closed-book: fixed; with facts: both pass) and not the odd
ones (closed-book: both fail; with facts: regressed); case 0 answers with markup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import DESKTOP, PHONE, Watched, browser, contrast, screenshot, watched_page
from tests.conftest import RungServer, write_models_file
from tests.fakeprovider import Body, FakeProvider
from tests.test_cli import rung
from tests.test_comparisons import run_on, small_suite
from tests.test_report import Page as Parsed
from tests.test_report import _self_contained

__all__ = ["browser"]  # the fixture

HOSTILE = '<img src=x onerror="alert(1)"></script><script>alert(2)</script><!--'
N = 30


def knows_the_even_cases(body: Body) -> str:
    found = re.search(r"item (\d+)\?", str(body["messages"][-1]["content"]))
    number = int(found.group(1)) if found else -1
    if number == 0:
        return HOSTILE
    return f"The code is K{number}." if number % 2 == 0 else "I don't know."


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """`rung compare BASE CAND --report FILE --out FILE`, as a user runs it."""
    where = tmp_path_factory.mktemp("compare")
    suite = where / "suite.json"
    suite.write_text(json.dumps(small_suite(N)), encoding="utf-8")
    with FakeProvider(responder=knows_the_even_cases) as provider:
        models = write_models_file(where / "models.yaml", provider)
        ids = []
        for model in ("builtin/reader", "fake-model"):
            out = where / f"{model.replace('/', '-')}.json"
            made = rung(
                where, "diagnose", str(suite), "--model", model, "--out", str(out),
                RUNG_MODELS_FILE=str(models),
            )  # fmt: skip
            assert made.returncode == 0, made.stdout + made.stderr
            ids.append(json.loads(out.read_text(encoding="utf-8"))["id"])
        report, out = where / "comparison.html", where / "comparison.json"
        result = rung(
            where, "compare", ids[0], ids[1], "--report", str(report), "--out", str(out),
            RUNG_MODELS_FILE=str(models),
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Report written to {report}" in result.stdout
    return report, json.loads(out.read_text(encoding="utf-8"))


def test_the_report_file_holds_the_comparison_and_every_case(
    compared: tuple[Path, dict[str, Any]],
) -> None:
    report, view = compared
    page = Parsed(report.read_text(encoding="utf-8"))
    _self_contained(page)
    data = page.data()
    assert data["comparison"] == view
    assert view["decision"] == "worse"
    arms = view["arms"]
    assert (arms["closed_book"]["fixed"], arms["closed_book"]["both_fail"]) == (14, 16)
    assert (arms["open_book"]["both_pass"], arms["open_book"]["regressed"]) == (14, 16)
    by_id = {c["id"]: c for c in data["cases"]}
    assert len(by_id) == N
    assert by_id["c2"]["changes"] == {"closed_book": "fixed", "open_book": "both_pass"}
    assert by_id["c3"]["changes"] == {"closed_book": "both_fail", "open_book": "regressed"}
    assert by_id["c0"]["answers"]["open_book"][1] == HOSTILE  # as data, escaped in the JSON
    assert by_id["c3"]["answers"]["open_book"] == ["Item 3 has code K3.", "I don't know."]
    assert by_id["c3"]["labels"] == ["knowledge", "behavior"]
    # Each count in the per-arm cells is what the comparison says.
    html = report.read_text(encoding="utf-8")
    assert "Worse than the baseline" in html
    assert 'data-arm="open_book" data-change="regressed"' in html


def test_the_comparison_report_over_http(rung_server: RungServer, fake_provider: Any) -> None:
    fake_provider.responder = knows_the_even_cases
    with rung_server.client() as client:
        reader = run_on(client, "builtin/reader", small_suite(12))
        fake = run_on(client, "fake-model", small_suite(12))
        made = client.post(
            "/v1/comparisons",
            json={"baseline_run_id": reader["id"], "candidate_run_id": fake["id"]},
        )
        assert made.status_code == 201, made.text
        page = client.get(f"/v1/comparisons/{made.json()['id']}/report")
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        data = Parsed(page.text).data()
        assert data["comparison"]["id"] == made.json()["id"]
        assert len(data["cases"]) == 12
        missing = client.get("/v1/comparisons/nope/report")
        assert missing.status_code == 404 and "nope" in missing.text


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Watched]:
    state = watched_page(browser, DESKTOP)
    yield state
    state.page.context.close()


def open_page(state: Watched, path: Path) -> Page:
    state.page.goto(path.as_uri())
    state.page.locator("body[data-ready=true]").wait_for()
    return state.page


def case_ids(page: Page) -> list[str]:
    return page.locator("#case-rows button.case-open").all_inner_texts()


def test_renders_offline_regressions_first_at_desktop_and_phone_width(
    browser: Browser, compared: tuple[Path, dict[str, Any]]
) -> None:
    report, _ = compared
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        state = watched_page(browser, viewport)
        page = open_page(state, report)
        expect(page.locator("h1")).to_have_text("Worse than the baseline")
        expect(page.locator("#case-count")).to_have_text(f"{N} of {N} cases")
        ids = case_ids(page)
        odd = [f"c{i}" for i in range(N) if i % 2 or i == 0]
        assert ids[: len(odd)] == odd  # regressions first, in suite order
        expect(
            page.locator('[data-arm="open_book"][data-change="regressed"] .cell-count')
        ).to_have_text("16")
        screenshot(page, f"comparison-{name}")
        state.assert_clean()
        state.page.context.close()


def test_a_cell_filters_the_cases_and_a_row_opens_both_answers(
    desktop: Watched, compared: tuple[Path, dict[str, Any]]
) -> None:
    page = open_page(desktop, compared[0])
    cell = page.locator('[data-arm="closed_book"][data-change="fixed"]')
    cell.click()
    expect(cell).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#case-count")).to_have_text(f"14 of {N} cases · fixed on Closed-book")
    assert case_ids(page) == [f"c{i}" for i in range(2, N, 2)]
    cell.click()  # again: the filter is off
    expect(page.locator("#case-count")).to_have_text(f"{N} of {N} cases")

    page.locator("#f-change").select_option("regressed")
    page.locator("#f-arm").select_option("open_book")
    assert len(case_ids(page)) == 16
    page.locator("button.case-open", has_text="c3").click()
    detail = page.locator("tr.cmp-detail")
    expect(detail).to_have_count(1)
    expect(page.locator("button.case-open", has_text="c3")).to_have_attribute(
        "aria-expanded", "true"
    )
    answers = detail.locator(".pair").nth(1).locator("pre.answer").all_inner_texts()
    assert answers == [
        "Item 3 has code K3.",
        "I don't know.",
    ]  # with facts: baseline, then candidate

    page.locator("button.case-open", has_text="c0").click()  # the hostile answer stays text
    hostile = page.locator("tr.cmp-detail").filter(has_text="alert(1)")
    expect(hostile.locator(".pair").nth(1).locator("pre.answer").nth(1)).to_have_text(HOSTILE)
    assert page.locator("#case-rows img, #case-rows script").count() == 0
    screenshot(page, "comparison-case-open", full_page=False)

    page.locator("#q").fill("c1")
    expect(page.locator("#case-count")).to_contain_text("“c1”")
    page.locator("#reset").click()
    expect(page.locator("#case-count")).to_have_text(f"{N} of {N} cases")
    desktop.assert_clean()


def test_keyboard_opens_a_case(desktop: Watched, compared: tuple[Path, dict[str, Any]]) -> None:
    page = open_page(desktop, compared[0])
    first = page.locator("#case-rows button.case-open").first
    first.focus()
    page.keyboard.press("Enter")
    expect(first).to_have_attribute("aria-expanded", "true")
    expect(page.locator("tr.cmp-detail")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("tr.cmp-detail")).to_have_count(0)
    desktop.assert_clean()


def test_text_is_readable(browser: Browser, compared: tuple[Path, dict[str, Any]]) -> None:
    selectors = [
        "h1", "h2", ".eyebrow", ".reason", ".summary", ".muted", ".chip", ".cell-count",
        ".cell-hint", ".col-head", ".row-head", "svg text", "thead th", ".case-open", ".snippet",
        ".res", "td", "th", ".button", ".field span", "select", "footer p", ".topbar p",
    ]  # fmt: skip
    for viewport in (DESKTOP, PHONE):
        state = watched_page(browser, viewport)
        page = open_page(state, compared[0])
        page.locator("button.case-open", has_text="c3").click()
        found = contrast(page, [*selectors, ".block-title", "pre.text", ".pair h4"])
        assert {f["selector"] for f in found} >= {"h1", ".chip", "svg text", "pre.text"}
        low = [f for f in found if f["ratio"] < 4.5]
        assert low == [], f"text below 4.5:1: {low}"
        state.page.context.close()


def test_two_prompts_on_the_same_cases_compare(tmp_path: Path) -> None:
    """Editing the system prompt makes a new suite with the same cases: its runs pair up with
    the old ones (that is a prompt comparison), and the report shows both prompts. Suites whose
    cases differ are refused, naming the field."""
    ids = []
    for index, prompt in enumerate(("Answer concisely.", "Answer in one short sentence.")):
        suite = {**small_suite(12), "system_prompt": prompt}
        path = tmp_path / f"suite{index}.json"
        path.write_text(json.dumps(suite), encoding="utf-8")
        out = tmp_path / f"run{index}.json"
        made = rung(tmp_path, "diagnose", str(path), "--model", "builtin/reader", "--out", str(out))
        assert made.returncode == 0, made.stderr
        run = json.loads(out.read_text(encoding="utf-8"))
        ids.append((run["id"], run["suite_id"]))
    assert ids[0][1] != ids[1][1]  # two suites
    report = tmp_path / "prompts.html"
    compared = rung(tmp_path, "compare", ids[0][0], ids[1][0], "--report", str(report))
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert "decision:" in compared.stdout
    html = report.read_text(encoding="utf-8")
    assert "The two runs differ in their system prompt" in html
    assert "Answer in one short sentence." in html

    other = tmp_path / "other.json"
    other.write_text(json.dumps(small_suite(13)), encoding="utf-8")
    out = tmp_path / "other-run.json"
    assert (
        rung(
            tmp_path, "diagnose", str(other), "--model", "builtin/reader", "--out", str(out)
        ).returncode
        == 0
    )
    refused = rung(tmp_path, "compare", ids[0][0], json.loads(out.read_text())["id"])
    assert refused.returncode == 2
    assert "suites with different cases" in refused.stderr
