"""Swagger UI at /docs works offline, from assets the app serves, and its examples execute as is.

Everything runs against a real `rung serve` subprocess (the `rung_server` fixture). The browser
tests drive Debian's /usr/bin/chromium through Playwright with every request to a host other
than 127.0.0.1 aborted and recorded: a page that needs a CDN would fail to render, and the
recorded attempt fails the test even if the page copes without it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, Route, sync_playwright

from tests.conftest import RungServer, _children, running, wait_for_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
API_KEY = "test-key-swagger-3b1f"

PUBLIC_ROUTES = {
    "/v1/suites": {"get", "post"},
    "/v1/runs": {"post"},
    "/v1/runs/{run_id}": {"get"},
    "/v1/runs/{run_id}/cases": {"get"},
    "/v1/runs/{run_id}/cancel": {"post"},
    "/healthz": {"get"},
}
# Operations Swagger UI must draw, as (method, path); others may be added.
OPERATIONS = {
    ("POST", "/v1/suites"),
    ("GET", "/v1/suites"),
    ("GET", "/v1/suites/{suite_id}"),
    ("POST", "/v1/runs"),
    ("GET", "/v1/runs/{run_id}"),
    ("GET", "/v1/runs/{run_id}/cases"),
    ("POST", "/v1/runs/{run_id}/cancel"),
    ("GET", "/healthz"),
}

# src=, href= and the spec url in the inline SwaggerUIBundle({...}) call.
ASSET_REF = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|\burl\s*:\s*["']([^"']+)["']""")


def _content_type(url: str) -> str:
    path = urlsplit(url).path
    for suffix, kind in {
        ".css": "text/css",
        ".js": "javascript",  # text/javascript or application/javascript
        ".png": "image/png",
        ".json": "application/json",
    }.items():
        if path.endswith(suffix):
            return kind
    raise AssertionError(f"unexpected asset type in /docs: {url}")


# --- servers, and the workers they must not leave behind -----------------------------------


@pytest.fixture
def orphans() -> Iterator[list[int]]:
    """Child pids of the servers a test starts; any still running once they stopped are killed.

    `rung serve` must stop its workers when it stops (uvicorn re-raises the SIGTERM it caught, so
    only the app's shutdown can do it). A leaked worker polls a deleted database forever: warn,
    and kill it rather than let every test run leave one behind. Its database is a temp file.
    """
    pids: list[int] = []
    yield pids  # requested before the servers, so this runs after they were stopped
    deadline = time.monotonic() + 1.0  # the resource tracker exits once its worker is gone
    while any(map(running, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    leaked = list(filter(running, pids))
    for pid in leaked:
        os.kill(pid, signal.SIGKILL)
    if leaked:
        warnings.warn(f"rung serve stopped but left its children {leaked} running", stacklevel=1)


def watch(server: RungServer, orphans: list[int]) -> RungServer:
    assert server.process is not None
    orphans.extend(_children(server.process.pid))
    return server


@pytest.fixture
def server(orphans: list[int], rung_server: RungServer) -> RungServer:
    """The `rung_server` fixture, with its workers watched."""
    return watch(rung_server, orphans)


# --- the HTML and the assets ---------------------------------------------------------------


def test_docs_html_references_only_local_assets(server: RungServer) -> None:
    docs = httpx.get(f"{server.url}/docs", timeout=10)
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    html = docs.text

    refs = [m.group(1) or m.group(2) for m in ASSET_REF.finditer(html)]
    assert refs, f"no asset references found in /docs:\n{html}"
    absolute = [r for r in refs if urlsplit(r).scheme or r.startswith("//")]
    assert not absolute, f"/docs points at absolute URLs (a CDN?): {absolute}"
    # No remote URL anywhere in the page, not only in the attributes the regex knows about.
    assert not re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", html), html

    kinds = set()
    for ref in refs:
        url = urljoin(f"{server.url}/docs", ref)
        assert urlsplit(url).netloc == urlsplit(server.url).netloc, url
        resp = httpx.get(url, timeout=10)
        assert resp.status_code == 200, (url, resp.status_code)
        expected = _content_type(url)
        assert expected in resp.headers["content-type"], (url, resp.headers["content-type"])
        assert len(resp.content) > 1000, (url, len(resp.content))
        kinds.add(expected)
    assert kinds == {"text/css", "javascript", "image/png", "application/json"}, refs


# --- the OpenAPI document ------------------------------------------------------------------


def _openapi(server: RungServer) -> dict[str, Any]:
    resp = httpx.get(f"{server.url}/openapi.json", timeout=10)
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


def _run_examples(doc: dict[str, Any]) -> dict[str, Any]:
    body = doc["paths"]["/v1/runs"]["post"]["requestBody"]
    examples: dict[str, Any] = body["content"]["application/json"]["examples"]
    return examples


def test_openapi_describes_routes_security_and_examples(server: RungServer) -> None:
    doc = _openapi(server)
    paths = doc["paths"]
    for path, methods in PUBLIC_ROUTES.items():
        assert path in paths, f"{path} missing from /openapi.json: {sorted(paths)}"
        assert methods <= set(paths[path]), (path, sorted(paths[path]))

    schemes = doc["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s == s | {"type": "http", "scheme": "bearer"}]
    assert bearer, f"no HTTP bearer scheme: {schemes}"
    for path, methods in PUBLIC_ROUTES.items():
        for method in methods:
            op = paths[path][method]
            if path == "/healthz":
                assert not op.get("security"), "/healthz must stay open for probes"
            else:
                names = {name for req in op.get("security", []) for name in req}
                assert names & set(bearer), f"{method.upper()} {path} is not bearer-protected"

    examples = _run_examples(doc)
    models = {name: ex["value"].get("model") for name, ex in examples.items()}
    assert "builtin/reader" in models.values(), models
    # Swagger UI preselects the first example: it must be the runnable demo.
    first = next(iter(examples))
    assert first == "demo", list(examples)
    assert examples["demo"]["value"]["model"] == "builtin/reader"
    assert examples["demo"]["value"]["suite"]["cases"], "the demo example has no cases"


def test_examples_execute_as_is(server: RungServer) -> None:
    """What a newcomer gets by sending each documented example unchanged (or as told)."""
    doc = _openapi(server)
    examples = _run_examples(doc)
    with server.client() as client:
        started = {}
        for name in ("demo", "with_prompt_fix"):
            resp = client.post("/v1/runs", json=examples[name]["value"])
            assert resp.status_code == 202, (name, resp.text)
            started[name] = resp.json()["id"]
        for name, run_id in started.items():
            run = wait_for_run(client, run_id, timeout=25)
            assert run["status"] == "succeeded", (name, run)
            assert run["verdict"]["diagnosis"], run

        # The stored-suite example says "paste an id": unchanged, it must fail clearly, not 500.
        placeholder = examples["stored_suite"]["value"]
        resp = client.post("/v1/runs", json=placeholder)
        assert resp.status_code == 422, resp.text
        assert "suite" in resp.text

        # ... and with an id from the POST /v1/suites example it runs.
        suite_body = doc["paths"]["/v1/suites"]["post"]["requestBody"]["content"]
        suite_example = next(iter(suite_body["application/json"]["examples"].values()))["value"]
        stored = client.post("/v1/suites", json=suite_example)
        assert stored.status_code in (200, 201), stored.text  # 200: the demo run stored it
        resp = client.post("/v1/runs", json={**placeholder, "suite_id": stored.json()["id"]})
        assert resp.status_code == 202, resp.text


# --- the browser ---------------------------------------------------------------------------


@dataclass
class Offline:
    """A page where only 127.0.0.1 answers; everything else is aborted and remembered."""

    page: Page
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def route(self, route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y --no-install-recommends chromium")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def offline(browser: Browser) -> Iterator[Offline]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    state = Offline(page)
    context.route("**/*", state.route)
    page.on("pageerror", lambda exc: state.errors.append(str(exc)))
    yield state
    context.close()


def _open_docs(offline: Offline, server: RungServer) -> Page:
    page = offline.page
    resp = page.goto(f"{server.url}/docs")
    assert resp is not None and resp.status == 200
    page.locator(".opblock").first.wait_for()
    page.wait_for_load_state("networkidle")
    drawn = {
        (
            op.locator(".opblock-summary-method").inner_text().strip(),
            op.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for op in page.locator(".opblock").all()
    }
    assert drawn >= OPERATIONS, f"not drawn: {OPERATIONS - drawn}"
    assert page.locator(".info .title").inner_text().startswith("rung")
    return page


def _operation(page: Page, method: str, path: str) -> Locator:
    return page.locator(f".opblock.opblock-{method}").filter(
        has=page.locator(f'.opblock-summary-path[data-path="{path}"]')
    )


def _execute(op: Locator) -> tuple[str, str]:
    """Click Execute and return the live response's status code and body text."""
    clear = op.locator("button.btn-clear")
    if clear.count():  # drop the previous response so the one read below is the new one
        clear.click()
        op.locator(".live-responses-table").wait_for(state="detached")
    op.locator("button.execute").click()
    row = op.locator(".live-responses-table tbody tr.response").first
    row.wait_for()
    # The status cell reads "401\nUndocumented" for a code the operation does not declare.
    status = row.locator(".response-col_status").inner_text().split()[0]
    body = row.locator(".response-col_description .highlight-code pre").first.inner_text()
    return status, body


def _open_try_it_out(op: Locator) -> None:
    op.locator(".opblock-summary").click()
    try_it = op.get_by_role("button", name="Try it out")
    if try_it.count():  # tryItOutEnabled opens it already; click only when it is offered
        try_it.click()
    op.locator("button.execute").wait_for()


def _cancel(server: RungServer, run_id: str) -> None:
    """The demo has made its point here; the shutdown need not wait for it."""
    with server.client() as client:
        assert client.post(f"/v1/runs/{run_id}/cancel").status_code == 200


def test_swagger_ui_renders_offline_and_runs_the_demo(
    server: RungServer, offline: Offline, tmp_path: Path
) -> None:
    page = _open_docs(offline, server)

    create = _operation(page, "post", "/v1/runs")
    _open_try_it_out(create)
    chosen = create.locator(".examples-select select")
    assert chosen.input_value() == "demo"
    body = json.loads(create.locator("textarea.body-param__text").input_value())
    assert body["model"] == "builtin/reader", body

    status, text = _execute(create)
    assert status == "202", text
    run = json.loads(text)
    assert run["model"] == "builtin/reader" and run["status"] in ("queued", "running"), run

    # Then, as the page description says, GET /v1/runs/{run_id} with the id from that response.
    # (test_examples_execute_as_is waits for the demo to succeed; here the UI round trip counts.)
    get_run = _operation(page, "get", "/v1/runs/{run_id}")
    _open_try_it_out(get_run)
    get_run.locator('input[placeholder="run_id"]').fill(run["id"])
    status, text = _execute(get_run)
    assert status == "200", text
    fetched = json.loads(text)
    assert fetched["id"] == run["id"], text
    assert fetched["status"] in ("queued", "running", "succeeded"), text
    _cancel(server, run["id"])

    page.screenshot(path=tmp_path / "swagger.png", full_page=True)
    assert (tmp_path / "swagger.png").stat().st_size > 50_000
    assert offline.blocked == [], f"the page tried to leave 127.0.0.1: {offline.blocked}"
    assert offline.errors == [], offline.errors


def test_swagger_ui_authorize_with_api_key(
    orphans: list[int], make_server: Any, models_file: Path, offline: Offline, tmp_path: Path
) -> None:
    """The page's own instructions: "When the server has API keys, click Authorize"."""
    server = watch(make_server(models_file, RUNG_API_KEYS=API_KEY), orphans)
    page = _open_docs(offline, server)
    # A route that starts nothing: the demo run itself is covered above.
    suites = _operation(page, "get", "/v1/suites")
    _open_try_it_out(suites)

    status, text = _execute(suites)
    assert status == "401", text
    assert "Bearer" in text, text

    page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".modal-ux")
    bearer = dialog.locator("form").filter(has_text="(http, Bearer)")
    bearer.locator("input").fill(API_KEY)
    bearer.get_by_role("button", name="Apply credentials").click()
    bearer.get_by_role("button", name="Remove authorization").wait_for()  # i.e. "Logout"
    dialog.get_by_role("button", name="Close").first.click()

    status, text = _execute(suites)
    page.screenshot(path=tmp_path / "swagger-authorized.png", full_page=True)
    assert status == "200", text
    assert "items" in json.loads(text), text
    assert f"Authorization: Bearer {API_KEY}" in suites.locator(".curl-command").inner_text()
    assert offline.blocked == [], f"the page tried to leave 127.0.0.1: {offline.blocked}"
    assert offline.errors == [], offline.errors
