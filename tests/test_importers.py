"""Importers at the process edge: `rung import` as a subprocess and POST /v1/suites/import
against `rung serve`, on files written the way each tool's documentation writes them
(fixtures/import/). Then an imported suite runs end to end on builtin/reader."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ROOT, RungServer, free_port, server_env, wait_for_run
from tests.test_cli import rung

FIXTURES = ROOT / "fixtures" / "import"
KEY = "import-test-key"
MAX_BODY = 64 * 1024

# (format, fixture, CLI flags, API query), and what each import must keep and drop.
FORMATS: dict[str, tuple[str, str, list[str], dict[str, Any]]] = {
    "inspect": ("inspect", "inspect.jsonl", ["--facts-field", "facts"], {"facts_field": "facts"}),
    "openai-evals": (
        "openai-evals",
        "openai-evals.jsonl",
        ["--facts-field", "facts"],
        {"facts_field": "facts"},
    ),
    "ragas": ("ragas", "ragas.jsonl", [], {}),
    "ragas-legacy": ("ragas", "ragas-legacy.jsonl", [], {}),
    "deepeval": ("deepeval", "deepeval.json", [], {}),
    "csv": (
        "csv",
        "qa.csv",
        ["--input-col", "question", "--expected-col", "answer"],
        {"input_col": "question", "expected_col": "answer"},
    ),
}
EXPECTED: dict[str, dict[str, Any]] = {
    "inspect": {
        "ids": ["refund-window", "support-hours", "tent-warranty", "returns-agent"],
        "dropped": {"line 4": "no facts", "line 5": "'image' content"},
        "ignored": {"sandbox", "files"},
    },
    "openai-evals": {
        "ids": ["sample-1", "sample-2"],
        "dropped": {"line 3": "no facts", "line 4": "ends with a message from the assistant"},
        "ignored": set(),
    },
    "ragas": {
        "ids": ["sample-1", "sample-3"],
        "dropped": {"line 2": "not gold", "line 4": "multi-turn"},
        "ignored": {"response", "retrieved_contexts"},
    },
    "ragas-legacy": {
        "ids": ["sample-1", "sample-3"],
        "dropped": {"line 2": "contexts are what the pipeline retrieved, not gold"},
        "ignored": {"answer", "metadata", "episode_done"},
    },
    "deepeval": {
        "ids": ["refund-window", "tent-warranty"],
        "dropped": {"goldens[1]": "retrieval_context", "goldens[2]": "no expected_output"},
        "ignored": {"actual_output", "comments", "source_file", "additional_metadata"},
    },
    "csv": {
        "ids": [
            "refund-window",
            "support-hours",
            "warranty-tents",
            "free-shipping",
            "loyalty-tier",
            "express-shipping",
            "entry-tier",
            "sleeping-pads",
            "chat-support",
            "store-credit",
            "backpack-warranty",
        ],
        "dropped": {"line 13": "empty facts"},
        "ignored": {"owner"},
    },
}


def check_report(report: dict[str, Any], expected: dict[str, Any]) -> None:
    assert report["imported"] == len(expected["ids"])
    dropped = {n["loc"]: n["msg"] for n in report["dropped_cases"]}
    assert set(dropped) == set(expected["dropped"]), dropped
    for loc, reason in expected["dropped"].items():
        assert reason in dropped[loc]
    assert {f["field"] for f in report["ignored_fields"]} == expected["ignored"]
    assert report["read"] == report["imported"] + len(report["dropped_cases"])


def validate(tmp_path: Path, suite: Path) -> None:
    result = rung(tmp_path, "validate", str(suite))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


# --- the CLI ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(FORMATS))
def test_cli_imports_each_format(tmp_path: Path, key: str) -> None:
    fmt, fixture, flags, _ = FORMATS[key]
    out, report_file = tmp_path / "suite.yaml", tmp_path / "report.json"
    result = rung(
        tmp_path,
        "import",
        fmt,
        str(FIXTURES / fixture),
        "--out",
        str(out),
        "--report",
        str(report_file),
        *flags,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(report_file.read_text(encoding="utf-8"))
    check_report(report, EXPECTED[key])
    for note in report["dropped_cases"]:  # every drop is said, with where and why
        assert f"{note['loc']}: {note['msg']}" in " ".join(result.stdout.split())
    suite = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert [c["id"] for c in suite["cases"]] == EXPECTED[key]["ids"]
    validate(tmp_path, out)


def test_cli_promptfoo_config_follows_its_tests_file(tmp_path: Path) -> None:
    out, report_file = tmp_path / "suite.yaml", tmp_path / "report.json"
    config = FIXTURES / "promptfooconfig.yaml"
    result = rung(
        tmp_path, "import", "promptfoo", str(config), "-o", str(out), "--report", str(report_file)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert (report["read"], report["imported"]) == (11, 8)
    assert {n["loc"]: n["msg"] for n in report["dropped_cases"]} == {
        "tests[4]": "no facts: rung needs each test's relevant facts in vars.context (name "
        "another var with facts_var)",
        "tests[5]": "no assertion rung can grade (its assertions are all dropped)",
        "tests.csv line 6": "no facts: rung needs each test's relevant facts in vars.context "
        "(name another var with facts_var)",
    }
    dropped = {n["loc"]: n["msg"] for n in report["dropped"]}
    assert dropped["defaultTest.assert[0]"].startswith("latency: measures the call")
    assert dropped["tests[0].assert[1]"] == "javascript: runs your code, which rung does not run"
    assert dropped["tests[1].assert[1]"].startswith("similar: a similarity score")
    assert dropped["tests[5].assert[0]"].startswith("python: runs your code")
    assert dropped["tests.csv line 2: __expected2"] == "not-icontains: rung has no negated graders"
    assert [f["field"] for f in report["ignored_fields"]] == ["providers"]

    suite = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert suite["name"] == "Northwind Outfitters support answers"
    cases = {c["id"]: c for c in suite["cases"]}
    assert list(cases) == [
        "refund-window",
        "support-hours",
        "warranty-json",
        "free-shipping-tone",
        "summit-tier",
        "express-shipping",
        "entry-tier",
        "sleeping-pads",
    ]
    refund = cases["refund-window"]
    # Rendered through the prompt, without the {{context}} lines: the facts never reach the
    # closed-book arm through the input.
    assert refund["input"] == (
        "You are the customer-support assistant for Northwind Outfitters. Answer from the "
        "context.\n\nQuestion: How many days do customers have to return an order for a refund?"
    )
    assert refund["facts"] == [
        "Refunds are accepted within 45 days of delivery.",
        "Store credit never expires.",
    ]
    assert refund["expected"] == {"type": "contains", "values": ["45 days"]}  # icontains
    assert cases["support-hours"]["expected"] == {
        "type": "contains",
        "values": ["8am to 6pm", "8 am to 6 pm"],
        "case_sensitive": True,
    }
    assert cases["support-hours"]["tags"] == ["category:hours"]
    assert cases["warranty-json"]["expected"]["type"] == "json_schema"
    assert cases["warranty-json"]["expected"]["schema"]["required"] == ["warranty_years"]
    assert cases["free-shipping-tone"]["expected"] == {
        "type": "judge",
        "rubric": "Says that orders over $75 ship free, in a friendly tone",
    }
    assert cases["express-shipping"]["expected"] == {"type": "regex", "pattern": r"\$18(\.00)?"}
    assert cases["entry-tier"]["expected"] == {
        "type": "exact",
        "value": "Basecamp",
        "case_sensitive": True,
    }
    assert cases["sleeping-pads"]["expected"] == {
        "type": "judge",
        "reference": "Sleeping pads have a 2-year warranty",
    }
    validate(tmp_path, out)


def test_cli_writes_the_suite_to_standard_output_and_the_report_to_stderr(tmp_path: Path) -> None:
    result = rung(
        tmp_path,
        "import",
        "ragas",
        str(FIXTURES / "ragas.jsonl"),
        "--use-retrieved",
        "--match",
        "contains",
    )
    assert result.returncode == 0, result.stderr
    suite = yaml.safe_load(result.stdout)
    assert [c["id"] for c in suite["cases"]] == ["sample-1", "sample-2", "sample-3"]
    # the retrieved contexts became facts only because it was asked, and it is said so
    assert suite["cases"][1]["facts"][1] == "Chat support runs around the clock."
    assert "retrieved contexts: they are what your retriever returned, not gold" in " ".join(
        result.stderr.split()
    )


@pytest.mark.parametrize(
    ("args", "text", "said"),
    [
        (["nope"], None, "unknown format 'nope'"),
        (["inspect"], "inspect.jsonl", "facts_field: Inspect samples have no facts field"),
        (["ragas", "--facts-field", "x"], "ragas.jsonl", "facts_field: does not apply to format"),
        (["csv", "--input-col", "q"], "qa.csv", "input_col: no column 'q' in the header"),
        (["openai-evals", "--facts-field", "f"], '{"input": "hi"}\n{"input": \n', "line 2: not"),
        (
            ["promptfoo"],
            "tests:\n  - vars: {context: x}\n    assert:\n      - value: y\n",
            "tests[0].assert[0].type: missing",
        ),
        (
            ["csv", "--input-col", "question", "--expected-col", "answer", "-o", "/no/dir/s.yaml"],
            "qa.csv",
            "cannot write /no/dir/s.yaml",
        ),
        (
            ["deepeval"],
            '[{"input": "q", "expected_output": "a"}]',
            "goldens[0]: no context",
        ),
    ],
)
def test_cli_refuses_bad_input_with_exit_code_2(
    tmp_path: Path, args: list[str], text: str | None, said: str
) -> None:
    if text is None or "\n" in text or text.startswith("["):
        path = tmp_path / "input.txt"
        path.write_text(text or "", encoding="utf-8")
    else:
        path = FIXTURES / text
    result = rung(tmp_path, "import", *args[:1], str(path), *args[1:])
    assert result.returncode == 2, result.stdout + result.stderr
    assert said in " ".join(result.stderr.split())
    assert result.stdout == ""


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RungServer]:
    tmp = tmp_path_factory.mktemp("imports")
    env = server_env(
        f"sqlite+aiosqlite:///{tmp / 'rung.db'}",
        None,
        RUNG_API_KEYS=KEY,
        RUNG_MAX_BODY_BYTES=str(MAX_BODY),
    )
    started = RungServer(env=env, port=free_port(), log_path=tmp / "server.log").start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def api(server: RungServer) -> Iterator[httpx.Client]:
    with server.client(api_key=KEY) as client:
        yield client


def alias_bomb(levels: int = 6) -> bytes:
    """Ten aliases a level: a few hundred bytes of YAML that stand for a million values."""
    lines = ["l0: &l0 [" + ", ".join(["x"] * 10) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines).encode()


def post_import(client: httpx.Client, body: bytes, **query: Any) -> httpx.Response:
    return client.post("/v1/suites/import", params=query, content=body)


@pytest.mark.parametrize("key", list(FORMATS))
def test_api_imports_each_format_and_stores_the_suite(api: httpx.Client, key: str) -> None:
    fmt, fixture, _, query = FORMATS[key]
    body = (FIXTURES / fixture).read_bytes()
    response = post_import(api, body, format=fmt, name=f"from-{key}", **query)
    assert response.status_code == 201, response.text
    imported = response.json()
    check_report(imported["report"], EXPECTED[key])
    assert imported["suite"]["name"] == f"from-{key}"
    stored = api.get(f"/v1/suites/{imported['suite']['id']}").json()
    assert [c["id"] for c in stored["cases"]] == EXPECTED[key]["ids"]
    again = post_import(api, body, format=fmt, name=f"from-{key}", **query)
    assert again.status_code == 200  # identical content: the stored suite, not a second one
    assert again.json()["suite"]["id"] == imported["suite"]["id"]


def test_api_says_which_promptfoo_file_it_cannot_follow_and_takes_that_file_sent_itself(
    api: httpx.Client,
) -> None:
    config = post_import(api, (FIXTURES / "promptfooconfig.yaml").read_bytes(), format="promptfoo")
    assert config.status_code == 201, config.text
    report = config.json()["report"]
    assert report["imported"] == 4  # the inline tests
    unfollowed = next(n for n in report["dropped_cases"] if n["loc"] == "tests[6]")
    assert "file://tests.csv names another file, which the API cannot follow" in unfollowed["msg"]
    assert "tests_format=csv" in unfollowed["msg"] and "rung import promptfoo" in unfollowed["msg"]

    tests = post_import(
        api,
        (FIXTURES / "tests.csv").read_bytes(),
        format="promptfoo",
        tests_format="csv",
        prompt="Answer from the context.\n\nContext: {{context}}\nQuestion: {{question}}",
    )
    assert tests.status_code == 201, tests.text
    suite = api.get(f"/v1/suites/{tests.json()['suite']['id']}").json()
    assert [c["id"] for c in suite["cases"]] == [
        "summit-tier",
        "express-shipping",
        "entry-tier",
        "sleeping-pads",
    ]
    assert suite["cases"][0]["input"] == (
        "Answer from the context.\n\nQuestion: How many points does the Summit loyalty tier "
        "require?"
    )
    assert {n["loc"] for n in tests.json()["report"]["dropped_cases"]} == {"line 6"}


@pytest.mark.parametrize(
    ("query", "body", "loc", "said"),
    [
        ({"format": "excel"}, b"a,b\n", "format", "Input should be 'promptfoo'"),
        ({"format": "csv", "colour": "red"}, b"a,b\n", "colour", "Extra inputs"),
        ({"format": "csv", "facts_field": "x"}, b"a,b\n", "facts_field", "does not apply"),
        ({"format": "csv", "match": "fuzzy"}, b"a,b\n", "match", "Input should be"),
        ({"format": "csv"}, b"", "body", "the file is empty"),
        ({"format": "csv"}, b"\xff\xfe\x00", "body", "not UTF-8"),
        ({"format": "csv"}, b"input,facts,expected\nq,f\x00,a\n", "line 2", "NUL"),
        ({"format": "csv"}, b"question,answer\nq,a\n", "input_col", "no column 'input'"),
        ({"format": "csv"}, b"input,facts,expected\nq,,a\n", "body", "no valid rung case"),
        (
            {"format": "inspect", "facts_field": "f"},
            b'{"input": "q"}\n{"input": ',
            "line 2",
            "not valid JSON",
        ),
        (
            {"format": "inspect", "facts_field": "f"},
            b'{"target": "a"}\n',
            "line 1: input",
            "missing",
        ),
        (
            {"format": "promptfoo"},
            b"tests:\n  - vars: {context: c}\n    assert:\n      - {}\n",
            "tests[0].assert[0].type",
            "missing",
        ),
        ({"format": "promptfoo"}, b"tests:\n  - vars: [1]\n", "tests[0].vars", "mapping"),
        ({"format": "promptfoo"}, b"prompts: [x]\ntests: [\n", "line 3", "not valid YAML"),
        (
            {"format": "promptfoo", "prompt": "{% if q %}{{q}}{% endif %}"},
            b"tests: []\n",
            "prompt",
            "simple template",
        ),
        ({"format": "promptfoo"}, alias_bomb(), "body", "more than 1000000 values"),
        (
            {"format": "deepeval"},
            b'[{"input": "q", "context": ["f"]}]',
            "goldens[0]",
            "no expected_output",
        ),
    ],
)
def test_api_refuses_bad_input_naming_the_place(
    api: httpx.Client, query: dict[str, Any], body: bytes, loc: str, said: str
) -> None:
    before = api.get("/v1/suites", params={"limit": 200}).json()["items"]
    response = post_import(api, body, **query)
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert any(p["loc"] == loc and said in p["msg"] for p in problems), problems
    assert api.get("/v1/suites", params={"limit": 200}).json()["items"] == before


def test_api_keeps_the_body_limit_and_the_api_key(server: RungServer, api: httpx.Client) -> None:
    header = b"input,facts,expected\n"
    too_big = header + b"q,f,a\n" * (MAX_BODY // 6 + 1)
    assert post_import(api, too_big, format="csv").status_code == 413
    with server.client() as anonymous:
        refused = post_import(anonymous, (FIXTURES / "qa.csv").read_bytes(), format="csv")
        assert refused.status_code == 401
    spec = api.get("/openapi.json").json()["paths"]["/v1/suites/import"]["post"]
    assert "text/csv" in spec["requestBody"]["content"]
    assert {"format", "facts_field", "use_retrieved", "input_col"} <= {
        p["name"] for p in spec["parameters"]
    }


def test_an_imported_suite_runs_end_to_end_on_builtin_reader(api: httpx.Client) -> None:
    imported = post_import(
        api,
        (FIXTURES / "qa.csv").read_bytes(),
        format="csv",
        input_col="question",
        expected_col="answer",
        name="northwind-from-csv",
    )
    assert imported.status_code in (200, 201), imported.text
    suite_id = imported.json()["suite"]["id"]
    started = api.post("/v1/runs", json={"suite_id": suite_id, "model": "builtin/reader"})
    assert started.status_code == 202, started.text
    run = wait_for_run(api, started.json()["id"], timeout=120)
    assert run["status"] == "succeeded", run
    verdict = run["verdict"]
    # builtin/reader knows nothing closed-book and reads the answer off the injected facts
    assert verdict["counts"]["knowledge"] == 11
    assert (verdict["diagnosis"], verdict["next_rung"]) == ("knowledge", "retrieval")
    cases = api.get(f"/v1/runs/{run['id']}/cases", params={"limit": 200}).json()["items"]
    assert sorted(c["case_id"] for c in cases) == sorted(EXPECTED["csv"]["ids"])
