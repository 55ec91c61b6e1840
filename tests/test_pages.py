"""The service's pages over real HTTP: `GET /v1/runs/{id}/report` (behind the API key like the
rest of /v1) and the index at `/`, in real Chromium, following a live run through its
server-sent events. Only 127.0.0.1 answers the browser."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, expect

from tests.browser import DESKTOP, PHONE, Watched, browser, contrast, screenshot, watched_page
from tests.conftest import ROOT, RungServer, wait_for_run
from tests.fakeprovider import FakeProvider

__all__ = ["browser"]  # the fixture

KEY = "test-key-pages-5d2e"
DEMO_SUITE: dict[str, Any] = yaml.safe_load(
    (ROOT / "fixtures" / "demo-suite.yaml").read_text(encoding="utf-8")
)


def _demo_run(client: httpx.Client, **options: Any) -> str:
    body = {"suite": DEMO_SUITE, "model": "builtin/reader", **options}
    resp = client.post("/v1/runs", json=body)
    assert resp.status_code == 202, resp.text
    run_id: str = resp.json()["id"]
    return run_id


@pytest.fixture
def page_on(browser: Browser) -> Iterator[Any]:
    pages: list[Watched] = []

    def make(viewport: dict[str, int] = DESKTOP) -> Watched:
        state = watched_page(browser, viewport, "127.0.0.1")
        pages.append(state)
        return state

    yield make
    for state in pages:
        state.page.context.close()


def test_the_report_route_needs_the_key_and_the_index_holds_no_data(
    make_server: Any, models_file: Path
) -> None:
    server: RungServer = make_server(models_file, RUNG_API_KEYS=KEY)
    with server.client(KEY) as client:
        run_id = _demo_run(client)
        assert wait_for_run(client, run_id)["status"] == "succeeded"
        report = client.get(f"/v1/runs/{run_id}/report")
        assert report.status_code == 200, report.text
        assert report.headers["content-type"].startswith("text/html")
        csp = report.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "connect-src" not in csp
        assert f'content="{html.escape(csp)}"' in report.text  # the same policy, in the file
        assert "Both gaps: missing facts" in report.text
        missing = client.get("/v1/runs/nope/report")
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]

    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = httpx.get(f"{server.url}/v1/runs/{run_id}/report", headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"] == "Bearer"

    index = httpx.get(f"{server.url}/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert run_id not in index.text and "northwind" not in index.text
    assert "connect-src 'self'" in index.headers["content-security-policy"]

    doc = httpx.get(f"{server.url}/openapi.json").json()
    op = doc["paths"]["/v1/runs/{run_id}/report"]["get"]
    assert "text/html" in op["responses"]["200"]["content"]
    assert op.get("security"), "the report route is not marked as needing the key"
    assert "/" not in doc["paths"]


def test_the_index_lists_runs_and_follows_a_live_one(
    make_server: Any, models_file: Path, fake_provider: FakeProvider, page_on: Any
) -> None:
    server: RungServer = make_server(models_file)
    with server.client() as client:
        done = _demo_run(client)
        wait_for_run(client, done)
        fake_provider.delay = 0.12  # 48 calls one at a time: about six seconds of progress
        live_body = {"suite": DEMO_SUITE, "model": "fake-model", "max_concurrency": 1}
        live = client.post("/v1/runs", json=live_body).json()["id"]

    state: Watched = page_on()
    page = state.page
    page.goto(f"{server.url}/")
    page.locator("body[data-ready=true]").wait_for()
    row = page.locator(f'tr[data-run="{live}"]')
    expect(page.locator("#run-rows tr")).to_have_count(2)
    expect(row.locator(".progress-text")).to_have_text(re.compile(r"^([1-9]\d*)/48 calls$"))
    first = int(row.locator(".progress-text").inner_text().split("/")[0])
    expect(row.locator(".progress-text")).not_to_have_text(f"{first}/48 calls", timeout=10_000)
    screenshot(page, "index-live-desktop")
    expect(row.locator(".col-status .chip")).to_have_text("succeeded", timeout=30_000)
    expect(row.locator(".col-diagnosis .chip")).not_to_have_text("")
    finished = page.locator(f'tr[data-run="{done}"]')
    expect(finished.locator(".col-diagnosis")).to_have_text("mixed")
    expect(finished).to_contain_text("retrieval + prompt fix")
    expect(finished).to_contain_text("northwind-support")

    low = [
        f for f in contrast(page, ["h1", "td", "th", ".chip", ".muted", "a"]) if f["ratio"] < 4.5
    ]
    assert low == [], low
    phone = page_on(PHONE)
    phone.page.goto(f"{server.url}/")
    phone.page.locator("body[data-ready=true]").wait_for()
    screenshot(phone.page, "index-phone")

    finished.locator("a.report-link").click()
    page.wait_for_url(f"{server.url}/v1/runs/{done}/report")
    page.locator("body[data-ready=true]").wait_for()
    expect(page.locator("h1")).to_contain_text("Both gaps")
    expect(page.locator("#api-link")).to_be_visible()  # served over HTTP: the JSON is a link
    for state_ in (state, phone):
        state_.assert_clean()


def test_the_index_asks_for_a_key_and_keeps_it_for_the_tab(
    make_server: Any, models_file: Path, page_on: Any
) -> None:
    server: RungServer = make_server(models_file, RUNG_API_KEYS=KEY)
    with server.client(KEY) as client:
        run_id = _demo_run(client)
        wait_for_run(client, run_id)

    state: Watched = page_on()
    page = state.page
    page.goto(f"{server.url}/")
    form = page.locator("#key-form")
    expect(form).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "key"
    page.fill("#key", "not-the-key")
    page.keyboard.press("Enter")
    expect(page.locator("#key-error")).to_have_text(re.compile("refused"))
    screenshot(page, "index-key-desktop")
    page.fill("#key", KEY)
    page.keyboard.press("Enter")
    expect(page.locator(f'tr[data-run="{run_id}"] .col-diagnosis')).to_have_text("mixed")
    assert page.evaluate("sessionStorage.getItem('rung.apiKey')") == KEY
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []

    page.locator(f'tr[data-run="{run_id}"] a.report-link').click()
    page.wait_for_url(re.compile("^blob:"))  # fetched with the key, shown from memory
    page.locator("body[data-ready=true]").wait_for()
    expect(page.locator("h1")).to_contain_text("Both gaps")
    page.locator("button.cell-knowledge").click()
    expect(page.locator("#case-count")).to_have_text("12 of 24 cases · label knowledge")
    page.locator("button.case-open").first.click()
    expect(page.locator("#dlg-title")).to_have_text("refund-window")
    page.keyboard.press("Escape")
    expect(page.locator("#case-dialog")).to_be_hidden()
    # The dialog's close event (which drops the #case= link) is a task queued after it hides.
    page.wait_for_function("() => !location.href.includes('#')")
    # Chromium logs the two refused look-ups (no key, then the wrong one), nothing else.
    state.assert_clean(expected_errors=2, expected="401 (Unauthorized)")
    sent = [r for r in state.requests if "/v1/" in r]
    assert sent, state.requests

    other = page_on()  # another tab: the key stayed with the first
    other.page.goto(f"{server.url}/")
    expect(other.page.locator("#key-form")).to_be_visible()
