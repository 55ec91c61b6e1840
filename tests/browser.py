"""Real Chromium for page tests: Debian's /usr/bin/chromium driven by Playwright (never a
downloaded browser), pages that may reach nothing but 127.0.0.1 and file://, and the checks
every page gets: console errors, contrast, screenshots in a known place."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class Watched:
    """A page whose every request is recorded (and aborted unless `allow` says so), with its
    console errors and uncaught exceptions."""

    page: Page
    allow_hosts: tuple[str, ...] = ()
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def route(self, route: Route) -> None:
        url = route.request.url
        self.requests.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("file", "blob", "data") or parts.hostname in self.allow_hosts:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")

    def assert_clean(self, expected_errors: int = 0, expected: str = "") -> None:
        """No network beyond what is allowed, no dialogs, and no console errors but
        `expected_errors` ones containing `expected` (a 401 the page meets on purpose)."""
        assert self.blocked == [], f"the page tried to reach the network: {self.blocked}"
        unexpected = [e for e in self.errors if not (expected and expected in e)]
        assert unexpected == [], f"console errors: {self.errors}"
        assert len(self.errors) == expected_errors, f"console errors: {self.errors}"
        assert self.dialogs == [], f"the page opened dialogs (an injected script?): {self.dialogs}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y --no-install-recommends chromium")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def watched_page(browser: Browser, viewport: dict[str, int], *hosts: str) -> Watched:
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(20_000)
    page = context.new_page()
    state = Watched(page, allow_hosts=hosts)
    context.route("**/*", state.route)
    page.on("pageerror", lambda exc: state.errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: state.errors.append(f"{msg.type}: {msg.text}") if msg.type == "error" else None,
    )

    def on_dialog(dialog: Any) -> None:
        state.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return state


def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=full_page)
    print(f"screenshot: {path}")
    return path


# Text colour against the colour actually behind it (ancestors' backgrounds composited over
# white), per WCAG 2.x relative luminance. SVG text uses its fill.
CONTRAST_JS = """
(selectors) => {
  const parse = (c) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3]));
  const lum = (rgb) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2]);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let color = [255, 255, 255];
    for (const layer of layers.reverse()) color = over(layer, color);
    return color;
  };
  const out = [];
  for (const selector of selectors) {
    const shown = (el) => {
      const r = el.getBoundingClientRect();
      const seen = getComputedStyle(el).visibility !== "hidden";
      return r.width > 0 && r.height > 0 && el.textContent.trim() && seen;
    };
    const els = [...document.querySelectorAll(selector)].filter(shown).slice(0, 25);
    for (const el of els) {
      const style = getComputedStyle(el);
      const fg = parse(el instanceof SVGElement ? style.fill : style.color);
      const bg = background(el instanceof SVGElement ? el.ownerSVGElement || el : el);
      const text = over(fg, bg);
      const [a, b] = [lum(text), lum(bg)].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      out.push({ selector, text: el.textContent.trim().slice(0, 40), ratio });
    }
  }
  return out;
}
"""


def contrast(page: Page, selectors: list[str]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(CONTRAST_JS, selectors)
    return result
