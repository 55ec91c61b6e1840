"""The report as a file: what `rung report`, `--report` and `--fail-on` do for a user, what the
HTML holds, and that untrusted text from a real run never becomes markup."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from app.diagnosis.suite import Case
from app.report.data import describe_grader
from app.report.highlight import marked
from app.service import reports
from tests.conftest import Engine
from tests.fakeprovider import Body, FakeProvider
from tests.test_cli import DEMO, rung

HOSTILE = '<img src=x onerror="alert(1)"></script><script>alert(2)</script><!--'


class Page(HTMLParser):
    """Every element and attribute of an HTML document, and each script's attributes and text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append((dict(attrs), ""))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def data(self) -> dict[str, Any]:
        """The report's JSON, as its script reads it."""
        texts = [text for attrs, text in self.scripts if attrs.get("id") == "rung-data"]
        assert len(texts) == 1, self.scripts
        payload: dict[str, Any] = json.loads(texts[0])
        return payload


def _self_contained(page: Page) -> None:
    """Nothing to fetch: no src, no stylesheet link, no remote href anywhere."""
    names = {tag for tag, _ in page.tags}
    assert not names & {"link", "img", "iframe", "object", "embed", "base", "form"}, names
    for tag, attrs in page.tags:
        assert "src" not in attrs, (tag, attrs)
        href = attrs.get("href") or ""
        assert not re.match(r"^(?:[a-z]+:)?//", href), (tag, href)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    csp = next(
        a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None and "default-src 'none'" in csp and "connect-src" not in csp


def test_demo_and_report_write_the_same_self_contained_report(tmp_path: Path) -> None:
    report = tmp_path / "demo.html"
    made = rung(
        tmp_path, "demo", "--model", "builtin/reader", "--out", str(tmp_path / "d.json"),
        "--report", str(report),
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"Report written to {report}" in made.stdout
    run_id = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))["id"]
    page = Page(report.read_text(encoding="utf-8"))
    _self_contained(page)
    assert len([t for t, _ in page.tags if t == "script"]) == 2
    data = page.data()
    assert data["run"]["id"] == run_id
    assert data["run"]["verdict"]["diagnosis"] == "mixed"
    assert len(data["cases"]) == 24
    first = data["cases"][0]
    assert first["id"] == "refund-window"
    assert first["facts"][0] == ["Refunds are accepted within ", "45 days", " of delivery."]
    system, user = first["messages"]["open_book"]
    assert data["strings"][system[1]].startswith("You are the customer-support assistant")
    assert data["strings"][user[1]].startswith("Relevant facts:\n- Refunds are accepted")

    again = tmp_path / "again.html"
    read = rung(tmp_path, "report", run_id, "--out", str(again))
    assert read.returncode == 0, read.stdout + read.stderr
    assert Page(again.read_text(encoding="utf-8")).data() == data  # the same data, from the DB

    default = rung(tmp_path, "report", run_id)
    assert default.returncode == 0, default.stdout + default.stderr
    written = Path(f"rung-report-{run_id[:12]}.html")
    try:
        assert written.exists() and f"Report written to {written}" in default.stdout
    finally:
        written.unlink(missing_ok=True)  # it went to the working directory, the checkout

    missing = rung(tmp_path, "report", "no-such-run")
    assert missing.returncode == 2
    assert "no-such-run" in missing.stderr and "Traceback" not in missing.stderr


def test_fail_on_gates_ci_on_the_diagnosis(tmp_path: Path) -> None:
    gated = rung(tmp_path, "diagnose", str(DEMO), "--model", "builtin/reader",
                 "--fail-on", "behavior,mixed")  # fmt: skip
    assert gated.returncode == 3, gated.stdout + gated.stderr
    assert "gate: the diagnosis is mixed, which --fail-on behavior,mixed refuses" in gated.stderr
    assert "mixed" in gated.stdout  # the verdict is still printed

    passed = rung(tmp_path, "diagnose", str(DEMO), "--model", "builtin/reader",
                  "--fail-on", "behavior, no_gap")  # fmt: skip
    assert passed.returncode == 0, passed.stdout + passed.stderr

    wrong = rung(tmp_path, "diagnose", str(DEMO), "--model", "builtin/reader",
                 "--fail-on", "mixed,telepathy")  # fmt: skip
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert "--fail-on: unknown diagnosis 'telepathy'" in wrong.stderr
    assert "run " not in wrong.stdout  # refused before any run started

    helped = rung(tmp_path, "diagnose", "--help")
    assert "--fail-on" in helped.stdout and "3 the diagnosis" in " ".join(helped.stdout.split())


async def test_untrusted_text_from_a_real_run_stays_text(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    """A provider that answers with markup, a suite made of markup: the report's HTML has
    exactly the page's own elements, and the hostile strings arrive intact in its data."""

    def hostile(body: Body) -> str:
        return f"Sure! {HOSTILE}"

    fake_provider.responder = hostile
    suite = {
        "name": HOSTILE,
        "system_prompt": HOSTILE,
        "cases": [
            {
                "id": f"c{i}{HOSTILE}",
                "input": HOSTILE,
                "facts": [HOSTILE],
                "expected": {"type": "contains", "values": ["</script>"]},
                "tags": [HOSTILE],
            }
            for i in range(3)
        ],
    }
    run = await engine.diagnose(suite)
    assert run.status == "succeeded", run.error
    html = await reports.run_report(engine.store, run.id)
    assert "<script>alert" not in html and "<img" not in html and "<!--" not in html
    page = Page(html)
    _self_contained(page)
    assert [t for t, _ in page.tags].count("script") == 2
    data = page.data()
    case = data["cases"][0]
    assert case["id"] == f"c0{HOSTILE}" and case["tags"] == [HOSTILE]
    answer = case["arms"]["open_book"]["calls"][0]["answer"]
    assert "".join(answer) == f"Sure! {HOSTILE}"
    assert answer[1] == "</script>"  # the expected answer, marked
    assert data["strings"][case["input"]] == HOSTILE


def _contains(*values: str, **more: Any) -> dict[str, Any]:
    return {"type": "contains", "values": list(values), **more}


MARKED = [
    ("45 days", "Refunds within 45  DAYS.", ["Refunds within ", "45  DAYS", "."]),
    ({"type": "numeric", "value": 5000}, "at 5,000 points", ["at ", "5,000", " points"]),
    ({"type": "exact", "value": "Duluth."}, "Duluth, Minnesota", ["", "Duluth", ", Minnesota"]),
    (_contains("a", "b", case_sensitive=True), "A b", ["A ", "b", ""]),
    (
        {"type": "all", "checks": [_contains("$75"), {"type": "numeric", "value": 18}]},
        "Over $75; express $18",
        ["Over ", "$75", "; express $", "18", ""],
    ),
    ({"type": "regex", "pattern": "x+"}, "xxx", ["xxx"]),
    ("😀 hi", "a 😀 hi b", ["a ", "😀 hi", " b"]),
]


@pytest.mark.parametrize(("expected", "text", "pieces"), MARKED)
def test_the_expected_answer_is_marked_where_the_grader_would_find_it(
    expected: Any, text: str, pieces: list[str]
) -> None:
    case = Case.model_validate({"id": "x", "input": "q", "facts": ["f"], "expected": expected})
    assert marked(case.expected, text) == pieces


def test_graders_in_words() -> None:
    def words(expected: Any) -> str:
        spec = Case.model_validate({"id": "x", "input": "q", "facts": ["f"], "expected": expected})
        return describe_grader(spec.expected)

    assert words("45 days") == "contains “45 days”"
    assert words({"type": "contains", "values": ["a", "b"], "mode": "all"}) == (
        "contains all of “a”, “b”"
    )
    assert words({"type": "numeric", "value": 3.5, "tolerance": 0.1}) == (
        "ends with the number 3.5 ± 0.1"
    )
    assert words({"type": "judge", "rubric": "polite"}) == (
        "a judge model grades it against the rubric “polite”"
    )
    assert words(
        {"type": "any", "checks": [_contains("x"), {"type": "regex", "pattern": "^y"}]}
    ) == ("any of: contains “x”; matches /^y/")
