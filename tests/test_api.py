"""The public REST contract, over real HTTP against `rung serve` in a subprocess.

Most tests share one server (module scope: a server start costs seconds) on a fresh SQLite file,
with the fake provider behind `fake-model`. Every response any shared-server client receives is
recorded, so the last test can check that no response was a 500 and that the provider key never
reached a response, the server logs or the database file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import (
    ROOT,
    SENTINEL_KEY,
    RungServer,
    _children,
    free_port,
    server_env,
    wait_for_run,
    write_models_file,
)
from tests.fakeprovider import Body, FakeProvider, facts_responder

DEMO_SUITE: dict[str, Any] = yaml.safe_load(
    (ROOT / "fixtures" / "demo-suite.yaml").read_text(encoding="utf-8")
)
DEMO_CASE_IDS = [case["id"] for case in DEMO_SUITE["cases"]]
TERMINAL = ("succeeded", "failed", "cancelled")
MB = 1024 * 1024


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def stop_and_reap(server: RungServer, grace: float = 5.0) -> list[int]:
    """Stop the server; SIGTERM any of its processes that outlive it by `grace` seconds.

    Returns the pids that had to be stopped that way (see test_stopping_the_server_...).
    """
    process = server.process
    pids = _children(process.pid) if process is not None and process.poll() is None else []
    server.stop()
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    leftovers = [p for p in pids if _alive(p)]
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return leftovers


@pytest.fixture
def start_server(make_server: Any) -> Iterator[Any]:
    """`make_server`, but nothing the server started outlives the test, even if it fails."""
    started: list[RungServer] = []

    def start(*args: Any, **kwargs: str) -> RungServer:
        server: RungServer = make_server(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_and_reap(server)


# --- shared server ---------------------------------------------------------------------------


class Recorder:
    """Every response received by the shared-server clients: (method, url, status, body)."""

    def __init__(self) -> None:
        self.responses: list[tuple[str, str, int, bytes]] = []

    def hook(self, response: httpx.Response) -> None:
        response.read()
        self.responses.append(
            (
                response.request.method,
                str(response.request.url),
                response.status_code,
                response.content,
            )
        )


class Shared:
    def __init__(self, server: RungServer, provider: FakeProvider, db_dir: Path) -> None:
        self.server = server
        self.provider = provider
        self.db_dir = db_dir
        self.recorder = Recorder()

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.url,
            timeout=60,
            event_hooks={"response": [self.recorder.hook]},
        )

    def db_bytes(self) -> bytes:
        """The SQLite database with its WAL: everything stored, committed or not yet folded in."""
        return b"".join(p.read_bytes() for p in sorted(self.db_dir.glob("rung.db*")))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    tmp = tmp_path_factory.mktemp("api")
    with FakeProvider() as provider:
        models = write_models_file(tmp / "models.yaml", provider)
        server = RungServer(
            # One run at a time per worker, so a slow run keeps the next one queued.
            env=server_env(
                f"sqlite+aiosqlite:///{tmp / 'rung.db'}", models, RUNG_RUNS_PER_WORKER="1"
            ),
            port=free_port(),
            log_path=tmp / "server.log",
        )
        server.start()
        try:
            yield Shared(server, provider, tmp)
        finally:
            stop_and_reap(server)


@pytest.fixture
def api(shared: Shared) -> Iterator[httpx.Client]:
    shared.provider.reset()
    shared.provider.responder = facts_responder
    shared.provider.delay = 0.0
    with shared.client() as client:
        yield client
    shared.provider.reset()
    shared.provider.responder = facts_responder
    shared.provider.delay = 0.0


# --- helpers ---------------------------------------------------------------------------------


def case(case_id: str, expected: Any = "Qorvo", **extra: Any) -> dict[str, Any]:
    return {
        "id": case_id,
        "input": f"What is the capital of Zedland? ({case_id})",
        "facts": ["Zedland's capital is Qorvo.", "Zedland borders Ymir."],
        "expected": expected,
        **extra,
    }


def tiny_suite(name: str = "tiny", n: int = 3) -> dict[str, Any]:
    return {"name": name, "cases": [case(f"c{i}") for i in range(n)]}


def create_suite(client: httpx.Client, suite: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/suites", json=suite)
    assert response.status_code in (200, 201), response.text  # 200: stored before
    body: dict[str, Any] = response.json()
    return body


def start_run(client: httpx.Client, **request: Any) -> dict[str, Any]:
    response = client.post("/v1/runs", json=request)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def all_suites(client: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/suites", params=params)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("suite pagination never ended")


def all_cases(client: httpx.Client, run_id: str, limit: int) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = client.get(f"/v1/runs/{run_id}/cases", params=params)
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("case pagination never ended")


def locs(response: httpx.Response) -> list[str]:
    return [entry["loc"] for entry in response.json()["detail"]]


def wait_for_status(client: httpx.Client, run_id: str, status: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get(f"/v1/runs/{run_id}").json()["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {status}")


# --- suites ----------------------------------------------------------------------------------


def test_suite_create_and_read_back(api: httpx.Client) -> None:
    created = create_suite(api, DEMO_SUITE)
    assert created["name"] == "northwind-support"
    assert created["case_count"] == 24
    assert created["id"]

    got = api.get(f"/v1/suites/{created['id']}")
    assert got.status_code == 200
    body = got.json()
    assert body["id"] == created["id"]
    assert body["name"] == DEMO_SUITE["name"]
    assert body["description"] == DEMO_SUITE["description"]
    assert body["system_prompt"] == DEMO_SUITE["system_prompt"]
    assert body["case_count"] == 24
    assert [c["id"] for c in body["cases"]] == DEMO_CASE_IDS
    assert [c["input"] for c in body["cases"]] == [c["input"] for c in DEMO_SUITE["cases"]]
    assert [c["facts"] for c in body["cases"]] == [c["facts"] for c in DEMO_SUITE["cases"]]

    listed = {s["id"]: s for s in all_suites(api)}
    assert listed[created["id"]]["case_count"] == 24
    assert listed[created["id"]]["name"] == "northwind-support"


def test_suite_pagination_covers_everything_once(api: httpx.Client) -> None:
    mine = [create_suite(api, tiny_suite(f"page-{i}", n=1))["id"] for i in range(5)]

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = api.get("/v1/suites", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) >= {"items", "next_cursor"}
        assert len(page["items"]) <= 2
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        assert pages < 1000, "pagination does not terminate"
        if cursor is None:
            break
        assert len(page["items"]) == 2

    assert len(seen) == len(set(seen)), "a suite appeared on two pages"
    assert set(mine) <= set(seen), "a suite is missing from the pages"
    assert seen == [s["id"] for s in all_suites(api)], "limit=2 and limit=200 disagree"
    # Newest first: the five just created come in reverse creation order.
    assert [i for i in seen if i in mine] == mine[::-1]


def test_unknown_ids_are_404(api: httpx.Client) -> None:
    assert api.get("/v1/suites/no-such-suite").status_code == 404
    assert api.get("/v1/runs/no-such-run").status_code == 404
    assert api.get("/v1/runs/no-such-run/cases").status_code == 404
    assert api.post("/v1/runs/no-such-run/cancel").status_code == 404
    missing = api.post("/v1/runs", json={"suite_id": "no-such-suite", "model": "builtin/reader"})
    assert missing.status_code == 422
    assert locs(missing) == ["suite_id"]


# --- runs ------------------------------------------------------------------------------------


def test_demo_run_then_the_same_suite_by_id(api: httpx.Client) -> None:
    started = time.monotonic()
    queued = start_run(api, suite=DEMO_SUITE, model="builtin/reader")
    assert time.monotonic() - started < 5, "POST /v1/runs must answer at once"
    assert queued["status"] in ("queued", "running")
    assert queued["id"]
    assert queued["verdict"] is None

    run = wait_for_run(api, queued["id"], timeout=90)
    assert run["status"] == "succeeded", run
    assert run["error"] is None
    assert run["created_at"] and run["finished_at"]
    assert run["progress"]["calls_done"] == run["progress"]["calls_planned"] == 48
    verdict = run["verdict"]
    assert verdict["diagnosis"] == "mixed"
    assert verdict["next_rung"] == "retrieval_and_prompt_fix"
    assert verdict["counts"]["knowledge"] == 12
    assert verdict["counts"]["behavior"] == 12
    assert verdict["summary"].strip()

    pages = all_cases(api, run["id"], limit=5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 4]
    items = [item for page in pages for item in page]
    assert [item["case_id"] for item in items] == DEMO_CASE_IDS
    for item in items:
        assert item["label"] in ("knowledge", "behavior")
        assert isinstance(item["confidence"], float)
        assert "facts_cover_answer" in item
        for arm in ("closed_book", "open_book"):
            detail = item["arms"][arm]
            assert detail["samples"] == 1
            assert detail["passes"] in (0, 1)
            assert len(detail["answers"]) == len(detail["grades"]) == 1
            assert isinstance(detail["answers"][0], str)
            assert isinstance(detail["grades"][0]["passed"], bool)
    labels = [item["label"] for item in items]
    assert labels.count("knowledge") == 12
    assert labels.count("behavior") == 12

    # The same suite stored, then run by id: same verdict, every call from the cache.
    suite = create_suite(api, DEMO_SUITE)
    again = start_run(api, suite_id=suite["id"], model="builtin/reader")
    assert again["suite_id"] == suite["id"]
    again = wait_for_run(api, again["id"], timeout=60)
    assert again["status"] == "succeeded", again
    assert again["suite_id"] == suite["id"]
    assert again["verdict"]["diagnosis"] == "mixed"
    assert again["verdict"]["counts"] == verdict["counts"]
    assert again["progress"]["calls_cached"] == 48


def test_unknown_model_is_422_listing_the_known_ones(api: httpx.Client) -> None:
    response = api.post("/v1/runs", json={"suite": tiny_suite(), "model": "gpt-nonexistent"})
    assert response.status_code == 422
    [entry] = response.json()["detail"]
    assert entry["loc"] == "model"
    assert "builtin/reader" in entry["msg"]
    assert "fake-model" in entry["msg"]

    judge = api.post(
        "/v1/runs", json={"suite": tiny_suite(), "model": "fake-model", "judge_model": "nope"}
    )
    assert judge.status_code == 422
    assert locs(judge) == ["judge_model"]


@pytest.mark.parametrize(
    "extra",
    [
        {"api_key": "sk-attacker"},
        {"api_base": "http://169.254.169.254/"},
        {"api_key": "sk-attacker", "api_base": "http://evil.example/"},
        {"base_url": "http://evil.example/"},
    ],
)
def test_a_run_request_cannot_carry_endpoints_or_keys(
    api: httpx.Client, extra: dict[str, str]
) -> None:
    before = len(all_suites(api))
    response = api.post("/v1/runs", json={"suite": tiny_suite(), "model": "fake-model", **extra})
    assert response.status_code == 422
    assert sorted(locs(response)) == sorted(extra)
    assert len(all_suites(api)) == before, "a rejected run stored its suite"


def test_judge_grader_needs_a_judge_model(api: httpx.Client) -> None:
    judged = {
        "name": "judged",
        "cases": [case("plain"), case("judged", {"type": "judge", "rubric": "names Qorvo"})],
    }
    inline = api.post("/v1/runs", json={"suite": judged, "model": "fake-model"})
    assert inline.status_code == 422
    [entry] = inline.json()["detail"]
    assert entry["loc"] == "suite.cases[1].expected"
    assert "judge_model" in entry["msg"]

    stored = create_suite(api, judged)
    by_id = api.post("/v1/runs", json={"suite_id": stored["id"], "model": "fake-model"})
    assert by_id.status_code == 422
    assert locs(by_id) == ["judge_model"]

    accepted = start_run(api, suite_id=stored["id"], model="fake-model", judge_model="fake-judge")
    assert accepted["config"]["judge_model"] == "fake-judge"
    api.post(f"/v1/runs/{accepted['id']}/cancel")
    assert wait_for_run(api, accepted["id"])["status"] in TERMINAL


def test_cancel_queued_running_and_finished_runs(api: httpx.Client, shared: Shared) -> None:
    # One worker taking one run at a time: while a slow run holds it, the next stays queued.
    shared.provider.delay = 0.5
    slow = start_run(
        api,
        suite=tiny_suite("slow", n=4),
        model="fake-model",
        max_concurrency=1,
        cache=False,
    )
    wait_for_status(api, slow["id"], "running")
    queued = start_run(api, suite=tiny_suite("queued", n=2), model="fake-model", cache=False)
    assert api.get(f"/v1/runs/{queued['id']}").json()["status"] == "queued"

    cancelled = api.post(f"/v1/runs/{queued['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    body = api.get(f"/v1/runs/{queued['id']}").json()
    assert body["status"] == "cancelled"
    assert body["progress"]["calls_done"] == 0

    stopping = api.post(f"/v1/runs/{slow['id']}/cancel")
    assert stopping.status_code == 200
    assert stopping.json()["status"] in ("running", "cancelled")
    stopped = wait_for_run(api, slow["id"], timeout=30)
    assert stopped["status"] == "cancelled"
    assert stopped["progress"]["calls_done"] < 8
    shared.provider.delay = 0.0

    # Cancelling a finished run changes nothing.
    done = wait_for_run(api, start_run(api, suite=tiny_suite("done"), model="fake-model")["id"])
    assert done["status"] == "succeeded"
    again = api.post(f"/v1/runs/{done['id']}/cancel")
    assert again.status_code == 200
    assert again.json()["status"] == "succeeded"
    assert api.get(f"/v1/runs/{done['id']}").json() == done
    # ...and a cancelled one stays cancelled.
    assert api.post(f"/v1/runs/{queued['id']}/cancel").json()["status"] == "cancelled"


def test_a_case_whose_calls_always_fail_is_error_and_the_run_succeeds(
    api: httpx.Client, shared: Shared
) -> None:
    """The provider answers 500 for one case forever, echoing the key in its error message."""

    def responder(body: Body) -> str:
        if "BROKEN" in json.dumps(body):
            raise RuntimeError(f"upstream rejected key {SENTINEL_KEY}")
        return facts_responder(body)

    shared.provider.responder = responder
    suite = {
        "name": "one-broken",
        "cases": [case("a"), case("b"), case("broken", input="BROKEN: capital?"), case("c")],
    }
    run = wait_for_run(api, start_run(api, suite=suite, model="fake-model", cache=False)["id"])

    assert run["status"] == "succeeded", run
    assert run["verdict"]["counts"]["error"] == 1
    assert run["verdict"]["counts"]["knowledge"] == 3
    assert run["progress"]["calls_failed"] >= 2
    items = {item["case_id"]: item for page in all_cases(api, run["id"], 50) for item in page}
    assert set(items) == {"a", "b", "broken", "c"}
    assert items["broken"]["label"] == "error"
    for arm in ("closed_book", "open_book"):
        assert all(items["broken"]["arms"][arm]["errors"]), items["broken"]
    assert items["a"]["label"] == "knowledge"

    # The key really went to the provider, and the provider echoed it back in its errors...
    assert shared.provider.status_counts[500] >= 2
    assert any(SENTINEL_KEY in h.get("authorization", "") for h in shared.provider.request_headers)
    # ...but it reached no response, no log line, and not the database.
    for _method, url, _status, content in shared.recorder.responses:
        assert SENTINEL_KEY.encode() not in content, url
    assert SENTINEL_KEY not in shared.server.logs()
    assert SENTINEL_KEY.encode() not in shared.db_bytes()


# --- bad input -------------------------------------------------------------------------------


def _case_without(field: str) -> dict[str, Any]:
    out = case("x")
    del out[field]
    return out


BAD_SUITES: list[tuple[str, Any, str]] = [
    ("empty", {"name": "e", "cases": []}, "cases"),
    ("no cases field", {"name": "e"}, "cases"),
    ("no name", {"cases": [case("a")]}, "name"),
    (
        "unknown grader",
        {"name": "g", "cases": [case("a"), case("b", {"type": "telepathy"})]},
        "cases[1].expected",
    ),
    (
        "duplicate ids",
        {"name": "d", "cases": [case("a"), case("b"), case("a")]},
        "cases[2].id",
    ),
    (
        "grader missing values",
        {
            "name": "m",
            "cases": [case("a"), case("b"), case("c"), case("d", {"type": "contains"})],
        },
        "cases[3].expected.values",
    ),
    ("case missing id", {"name": "m", "cases": [case("a"), _case_without("id")]}, "cases[1].id"),
    (
        "case missing facts",
        {"name": "m", "cases": [_case_without("facts")]},
        "cases[0].facts",
    ),
    (
        "bad regex",
        {"name": "r", "cases": [case("a", {"type": "regex", "pattern": "("})]},
        "cases[0].expected.pattern",
    ),
    (
        "extra field in a case",
        {"name": "x", "cases": [case("a", api_key="sk-no")]},
        "cases[0].api_key",
    ),
]


def test_bad_input_is_rejected_precisely_and_corrupts_nothing(api: httpx.Client) -> None:
    suite = create_suite(api, tiny_suite("keep-me"))
    run = wait_for_run(api, start_run(api, suite_id=suite["id"], model="builtin/reader")["id"])
    suite_before = api.get(f"/v1/suites/{suite['id']}").json()
    run_before = api.get(f"/v1/runs/{run['id']}").json()
    cases_before = api.get(f"/v1/runs/{run['id']}/cases").json()
    count_before = len(all_suites(api))

    json_headers = {"content-type": "application/json"}
    for path in ("/v1/suites", "/v1/runs"):
        for raw in (b"{bad", b'{"name": "x", "cases": [', b"", b"\xff\xfe{"):
            response = api.post(path, content=raw, headers=json_headers)
            assert response.status_code in (400, 422), (path, raw, response.text)
            if raw.startswith(b"{"):
                assert response.status_code == 400, (path, raw, response.text)
        for not_an_object in ([], "suite", None, 42):
            response = api.post(path, json=not_an_object)
            assert response.status_code == 422, (path, not_an_object, response.text)

    for label, bad, loc in BAD_SUITES:
        response = api.post("/v1/suites", json=bad)
        assert response.status_code == 422, (label, response.text)
        assert loc in locs(response), (label, response.json())
        inline = api.post("/v1/runs", json={"suite": bad, "model": "builtin/reader"})
        assert inline.status_code == 422, (label, inline.text)
        assert f"suite.{loc}" in locs(inline), (label, inline.json())

    for bad_run, loc in [
        ({"model": "builtin/reader"}, "body"),  # neither suite nor suite_id
        ({"suite_id": suite["id"], "suite": tiny_suite(), "model": "builtin/reader"}, "body"),
        ({"suite_id": suite["id"]}, "model"),
        ({"suite_id": suite["id"], "model": "builtin/reader", "samples": 0}, "samples"),
        ({"suite_id": suite["id"], "model": "builtin/reader", "temperature": -1}, "temperature"),
        (
            {"suite_id": suite["id"], "model": "builtin/reader", "max_failure_rate": 1.5},
            "max_failure_rate",
        ),
        (
            {"suite_id": suite["id"], "model": "builtin/reader", "injection": {"position": "x"}},
            "injection.position",
        ),
    ]:
        response = api.post("/v1/runs", json=bad_run)
        assert response.status_code == 422, (bad_run, response.text)
        assert loc in locs(response), (bad_run, response.json())

    for path, params in [
        ("/v1/suites", {"limit": 0}),
        ("/v1/suites", {"limit": "many"}),
        (f"/v1/runs/{run['id']}/cases", {"limit": 0}),
        (f"/v1/runs/{run['id']}/cases", {"cursor": "not-a-cursor"}),
        (f"/v1/runs/{run['id']}/cases", {"cursor": "-5"}),
        ("/v1/suites", {"limit": "9" * 30}),
    ]:
        assert api.get(path, params=params).status_code == 422, (path, params)

    assert api.get(f"/v1/suites/{suite['id']}").json() == suite_before
    assert api.get(f"/v1/runs/{run['id']}").json() == run_before
    assert api.get(f"/v1/runs/{run['id']}/cases").json() == cases_before
    assert len(all_suites(api)) == count_before, "a rejected request stored a suite"


def test_oversized_body_with_content_length_is_413(api: httpx.Client) -> None:
    count_before = len(all_suites(api))
    suite = tiny_suite("huge")
    suite["description"] = "x" * (10 * MB + 1)
    response = api.post("/v1/suites", json=suite)
    assert response.status_code == 413
    response = api.post("/v1/runs", json={"suite": suite, "model": "builtin/reader"})
    assert response.status_code == 413

    # Just under the default limit of 10 MB is accepted.
    suite["description"] = "x" * (10 * MB - 4096)
    assert api.post("/v1/suites", json=suite).status_code == 201
    assert len(all_suites(api)) == count_before + 1


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_unknown_suite_cursor_is_422_naming_it(api: httpx.Client) -> None:
    response = api.get("/v1/suites", params={"cursor": "no-such-suite"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == "cursor"


def test_huge_case_cursor_is_422_not_500(api: httpx.Client) -> None:
    suite = create_suite(api, tiny_suite("cursor"))
    run = wait_for_run(api, start_run(api, suite_id=suite["id"], model="builtin/reader")["id"])
    response = api.get(f"/v1/runs/{run['id']}/cases", params={"cursor": "9" * 30})
    assert response.status_code == 422, response.text


def test_oversized_chunked_body_without_content_length_is_413(api: httpx.Client) -> None:
    suite = tiny_suite("huge-chunked")
    suite["description"] = "x" * (10 * MB + 1)
    data = json.dumps(suite).encode()
    for path in ("/v1/suites", "/v1/runs"):
        response = api.post(
            path, content=_chunks(data), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert response.status_code == 413, (path, response.status_code, response.text)


def test_chunked_body_under_the_limit_is_accepted(api: httpx.Client) -> None:
    data = json.dumps(tiny_suite("chunked-ok")).encode()
    response = api.post(
        "/v1/suites", content=_chunks(data, 16), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 201, response.text
    assert response.json()["case_count"] == 3


def test_zz_no_500_and_no_secret_anywhere(shared: Shared) -> None:
    """Runs last in this module: over every response the shared server gave."""
    assert shared.recorder.responses, "nothing recorded"
    errors = [(m, u, s) for m, u, s, _ in shared.recorder.responses if s >= 500]
    assert not errors
    for _method, url, _status, content in shared.recorder.responses:
        assert SENTINEL_KEY.encode() not in content, url
    assert SENTINEL_KEY not in shared.server.logs()
    assert SENTINEL_KEY.encode() not in shared.db_bytes()


# --- auth (its own server) -------------------------------------------------------------------


V1_REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", "/v1/suites", None),
    ("POST", "/v1/suites", tiny_suite("auth")),
    ("POST", "/v1/suites", {"name": "invalid", "cases": []}),
    ("GET", "/v1/suites/some-id", None),
    ("POST", "/v1/runs", {"suite": tiny_suite("auth"), "model": "builtin/reader"}),
    ("POST", "/v1/runs", {"suite_id": "x", "model": "unknown"}),
    ("GET", "/v1/runs/some-id", None),
    ("GET", "/v1/runs/some-id/cases", None),
    ("POST", "/v1/runs/some-id/cancel", None),
]


def test_api_keys(start_server: Any, models_file: Path) -> None:
    server = start_server(models_file, RUNG_API_KEYS="k1,k2", RUNG_MAX_BODY_BYTES="4096")
    bad_headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer k"},
        {"Authorization": "Bearer k1k2"},
        {"Authorization": "Bearer k1,k2"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic k1"},
        {"Authorization": "k1"},
        {"X-API-Key": "k1"},
    ]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for method, path, body in V1_REQUESTS:
            for headers in bad_headers:
                response = client.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                assert "k1" not in response.text

        # Nothing was stored by the rejected requests.
        listed = client.get("/v1/suites", headers={"Authorization": "Bearer k1"})
        assert listed.status_code == 200
        assert listed.json()["items"] == []

        # Both keys work, for reads and writes.
        ids = []
        for key in ("k1", "k2"):
            auth = {"Authorization": f"Bearer {key}"}
            created = client.post("/v1/suites", json=tiny_suite(key), headers=auth)
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
            assert client.get(f"/v1/suites/{ids[-1]}", headers=auth).status_code == 200
            run = client.post(
                "/v1/runs", json={"suite_id": ids[-1], "model": "builtin/reader"}, headers=auth
            )
            assert run.status_code == 202, run.text
            assert client.get(f"/v1/runs/{run.json()['id']}", headers=auth).status_code == 200
        other = {"Authorization": "Bearer k2"}
        assert {s["id"] for s in client.get("/v1/suites", headers=other).json()["items"]} == set(
            ids
        )

        # Open routes.
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert SENTINEL_KEY not in health.text
        docs = client.get("/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
        assert "cdn.jsdelivr" not in docs.text and "unpkg.com" not in docs.text
        spec = client.get("/openapi.json")
        assert spec.status_code == 200
        assert "/v1/runs" in spec.json()["paths"]

        # RUNG_MAX_BODY_BYTES applies (to an authorised client).
        auth = {"Authorization": "Bearer k1"}
        big = tiny_suite("big")
        big["description"] = "x" * 5000
        assert client.post("/v1/suites", json=big, headers=auth).status_code == 413
        big["description"] = "x" * 100
        assert client.post("/v1/suites", json=big, headers=auth).status_code == 201


def test_malformed_body_without_a_key_is_401_not_400(start_server: Any, models_file: Path) -> None:
    server = start_server(models_file, RUNG_API_KEYS="k1")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for path in ("/v1/suites", "/v1/runs"):
            response = client.post(
                path, content=b"{not json", headers={"content-type": "application/json"}
            )
            assert response.status_code == 401, (path, response.status_code, response.text)


def test_stopping_the_server_stops_its_workers(make_server: Any, models_file: Path) -> None:
    server: RungServer = make_server(models_file)
    assert server.process is not None
    assert _children(server.process.pid), "no worker process"
    leftovers = stop_and_reap(server, grace=5.0)
    assert leftovers == [], f"worker processes outlived the server: {leftovers}"
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete, so a graceful stop
    # ends "terminated by SIGTERM", as Unix service managers expect; anything else is a crash.
    assert server.process.returncode in (0, -signal.SIGTERM), server.process.returncode
