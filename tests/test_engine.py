"""The run engine at the process edge: real `rung serve` subprocesses, real HTTP, real litellm.

Only the model is scripted (tests/fakeprovider.py, on loopback). Every test gets a fresh SQLite
file; servers are restarted on it to prove crash resume and SIGTERM drain. Design §3, §5 and
issue 3 (durable, frugal and fast model calls).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import threading
import time
from collections import Counter
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
    running,
    server_env,
    wait_for_run,
    write_models_file,
)
from tests.fakeprovider import Body, FakeProvider, facts_responder, request_key, stable_fraction

TERMINAL = ("succeeded", "failed", "cancelled")
NETAUDIT_DIR = Path(__file__).resolve().parent / "netaudit"
DEMO_SUITE = ROOT / "fixtures" / "demo-suite.yaml"
FAST_LEASE = {"RUNG_LEASE_SECONDS": "2"}

# --- suites -------------------------------------------------------------------------------------
#
# facts_responder knows nothing closed-book ("I don't know.") and repeats the first injected
# fact. So a case's label follows from what its fact says:
#   knowledge: the fact holds the code word      -> fails closed-book, passes with facts
#   behavior:  the fact does not hold it         -> fails both
#   no_gap:    expected "know" is in both replies -> passes both


def case(i: int, kind: str = "knowledge") -> dict[str, Any]:
    facts = {
        "knowledge": f"The code word for item {i} is zebra-{i}-q.",
        "behavior": f"Item {i} has no code word on file.",
        "no_gap": f"Everyone should know item {i} well.",
    }[kind]
    expected = "know" if kind == "no_gap" else f"zebra-{i}-q"
    return {
        "id": f"c{i}",
        "input": f"Which code word belongs to item {i}?",
        "facts": [facts],
        "expected": expected,
    }


def mixed_suite(n: int, name: str = "mixed") -> dict[str, Any]:
    """Mostly knowledge gaps, with some behavior and no_gap cases so the verdict has texture."""
    kinds = ["knowledge", "knowledge", "knowledge", "behavior", "no_gap"]
    return {"name": name, "cases": [case(i, kinds[i % len(kinds)]) for i in range(n)]}


def knowledge_suite(n: int, name: str = "facts", first: int = 0) -> dict[str, Any]:
    return {"name": name, "cases": [case(i) for i in range(first, first + n)]}


def expected_labels(suite: dict[str, Any]) -> dict[str, str]:
    out = {}
    for c in suite["cases"]:
        if c["expected"] == "know":
            out[c["id"]] = "no_gap"
        elif "no code word" in c["facts"][0]:
            out[c["id"]] = "behavior"
        else:
            out[c["id"]] = "knowledge"
    return out


_ITEM = re.compile(r"belongs to item (\d+)\?")


def slot_of(body: Body) -> tuple[str, str]:
    """(case id, arm) of a request to the model under test."""
    text = "\n".join(str(m.get("content", "")) for m in body["messages"])
    match = _ITEM.search(text)
    assert match, text
    arm = "open_book" if "Relevant facts:" in text else "closed_book"
    return f"c{match.group(1)}", arm


# --- HTTP helpers -------------------------------------------------------------------------------


def post_run(client: httpx.Client, **request: Any) -> dict[str, Any]:
    response = client.post("/v1/runs", json=request)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def get_run(client: httpx.Client, run_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/runs/{run_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_progress(client: httpx.Client, run_id: str, calls: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = get_run(client, run_id)
        assert run["status"] not in TERMINAL, f"run ended before {calls} calls: {run}"
        if run["progress"]["calls_done"] >= calls:
            return
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {calls} stored calls")


def case_labels(client: httpx.Client, run_id: str) -> dict[str, str]:
    response = client.get(f"/v1/runs/{run_id}/cases", params={"limit": 500})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    return {item["case_id"]: item["label"] for item in page["items"]}


def verdict_core(verdict: dict[str, Any]) -> dict[str, Any]:
    """What a diagnosis says, without the bookkeeping (usage, cached calls) that may differ."""
    return {
        key: verdict[key]
        for key in ("diagnosis", "next_rung", "counts", "pass_rates", "lift", "partial")
    }


def db_path(database_url: str) -> Path:
    return Path(database_url.split(":///", 1)[1])


def query(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db_path(database_url), timeout=10)) as conn:
        return list(conn.execute(sql, params))


def get_run_status_in_db(database_url: str, run_id: str) -> str:
    [(status,)] = query(database_url, "SELECT status FROM runs WHERE id = ?", run_id)
    return str(status)


def write_models(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"model_list": entries}), encoding="utf-8")
    return path


def entry(name: str, model: str, api_base: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {"model": model, "api_base": api_base, "api_key": SENTINEL_KEY, **params},
    }


# --- servers ------------------------------------------------------------------------------------


@pytest.fixture
def serve(make_server: Any) -> Iterator[Any]:
    """`make_server`, but SIGKILLed at the end of the test: a graceful stop costs seconds per
    server and is tested on its own (test_sigterm_drains_...)."""
    started: list[RungServer] = []

    def start(models: Path | None = None, **extra: str) -> RungServer:
        server: RungServer = make_server(models, **extra)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@pytest.fixture
def server(serve: Any, models_file: Path) -> RungServer:
    """`rung serve` with fake-model and fake-judge on the fake provider, on a fresh database."""
    started: RungServer = serve(models_file)
    return started


# --- 1. a crash loses nothing -------------------------------------------------------------------


def test_sigkill_mid_run_resumes_without_repeating_stored_calls(
    serve: Any, models_file: Path, fake_provider: FakeProvider, database_url: str
) -> None:
    suite = mixed_suite(40)
    fake_provider.delay = 0.1
    server: RungServer = serve(models_file, **FAST_LEASE)
    with server.client() as client:
        run_id = post_run(client, suite=suite, model="fake-model", max_concurrency=4)["id"]
        wait_progress(client, run_id, 10)
    server.kill()
    before_kill = len(fake_provider.bodies)
    stored = set(query(database_url, "SELECT case_id, arm FROM calls WHERE run_id = ?", run_id))
    assert len(stored) >= 10
    assert get_run_status_in_db(database_url, run_id) == "running"

    restarted: RungServer = serve(models_file, **FAST_LEASE)
    with restarted.client() as client:
        run = wait_for_run(client, run_id, timeout=60)
        assert run["status"] == "succeeded", run["error"]
        assert case_labels(client, run_id) == expected_labels(suite)

        bodies = fake_provider.bodies
        after = [slot_of(b) for b in bodies[before_kill:]]
        repeated = stored & set(after)
        assert not repeated, f"calls stored before the kill were made again: {repeated}"
        # Only calls in flight at the kill may be repeated, and only once: the 4 being made,
        # and those answered within the last few ms, whose group commit had not happened yet
        # (at most one per slot: a call takes 100 ms, a commit follows its answer in ~10 ms).
        per_body = Counter(request_key(b) for b in bodies)
        assert max(per_body.values()) <= 2
        assert len(bodies) <= 80 + 2 * 4, len(bodies)
        assert len(set(per_body)) == 80  # every call was made, none skipped
        assert run["progress"]["calls_done"] == 80
        assert run["progress"]["calls_failed"] == 0

        # The verdict equals an uninterrupted run of the same suite.
        fake_provider.delay = 0.0
        clean_id = post_run(client, suite=suite, model="fake-model", cache=False)["id"]
        clean = wait_for_run(client, clean_id, timeout=60)
        assert clean["status"] == "succeeded", clean["error"]
        assert verdict_core(run["verdict"]) == verdict_core(clean["verdict"])
        assert run["verdict"]["usage"]["calls"] == clean["verdict"]["usage"]["calls"] == 80


# --- 2. SIGTERM drains --------------------------------------------------------------------------


def test_sigterm_drains_quickly_and_a_restart_resumes_without_the_lease(
    serve: Any, models_file: Path, fake_provider: FakeProvider, database_url: str
) -> None:
    suite = knowledge_suite(40)
    fake_provider.delay = 0.1
    # A long lease: if the restart finishes the run well within it, the slices were handed back.
    env = {"RUNG_LEASE_SECONDS": "120"}
    server: RungServer = serve(models_file, **env)
    with server.client() as client:
        run_id = post_run(client, suite=suite, model="fake-model", max_concurrency=4)["id"]
        wait_progress(client, run_id, 10)
    started = time.monotonic()
    server.stop(signal.SIGTERM, timeout=30)
    stopped_in = time.monotonic() - started
    assert stopped_in < 15, f"SIGTERM took {stopped_in:.1f}s"
    before = len(fake_provider.bodies)
    assert get_run_status_in_db(database_url, run_id) not in TERMINAL
    stored = set(query(database_url, "SELECT case_id, arm FROM calls WHERE run_id = ?", run_id))
    assert len(stored) >= 10
    owners = query(database_url, "SELECT owner FROM run_slices WHERE run_id = ?", run_id)
    assert all(owner is None for (owner,) in owners), f"slices still held: {owners}"

    restarted: RungServer = serve(models_file, **env)
    t0 = time.monotonic()
    with restarted.client() as client:
        run = wait_for_run(client, run_id, timeout=90)
    assert time.monotonic() - t0 < 60, "the restart waited for the lease"
    assert run["status"] == "succeeded", run["error"]
    bodies = fake_provider.bodies
    repeated = stored & {slot_of(b) for b in bodies[before:]}
    assert not repeated, f"calls stored before the stop were made again: {repeated}"
    per_body = Counter(request_key(b) for b in bodies)
    assert len(per_body) == 80
    assert len(bodies) <= 80 + 4  # only calls abandoned in flight are made again
    assert run["progress"]["calls_done"] == 80


# --- 3. live progress ---------------------------------------------------------------------------


def read_events(client: httpx.Client, run_id: str, timeout: float = 60) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    name, data = "message", []
    with client.stream("GET", f"/v1/runs/{run_id}/events", timeout=timeout) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").strip())
            elif line == "" and data:
                events.append((name, json.loads("\n".join(data))))
                name, data = "message", []
                if events[-1][0] == "end":
                    break
    return events


def test_progress_events_stream_until_the_end(
    server: RungServer, fake_provider: FakeProvider
) -> None:
    fake_provider.delay = 0.05
    with server.client() as client:
        run_id = post_run(client, suite=knowledge_suite(20), model="fake-model")["id"]
        events = read_events(client, run_id)
    names = [name for name, _ in events]
    assert names[-1] == "end"
    assert events[-1][1]["status"] == "succeeded"
    progress = [data for name, data in events if name == "progress"]
    assert set(names[:-1]) == {"progress"}
    done = [p["calls_done"] for p in progress]
    assert done == sorted(done), f"calls_done went backwards: {done}"
    assert len(set(done)) >= 3, f"progress did not update while the run executed: {done}"
    assert done[-1] == 40
    assert all(p["calls_planned"] == 40 and p["calls_failed"] == 0 for p in progress)
    assert progress[-1]["status"] == "succeeded"


def test_events_of_an_unknown_run_are_404(server: RungServer) -> None:
    with server.client() as client:
        response = client.get("/v1/runs/no-such-run/events", timeout=10)
    assert response.status_code == 404
    assert "no-such-run" in response.text


# --- 4. estimate --------------------------------------------------------------------------------


@pytest.fixture
def priced_models(tmp_path: Path, fake_provider: FakeProvider) -> Path:
    """fake-model (no known price) plus `priced`: gpt-4o-mini's price, served by the fake."""
    base = fake_provider.base_url
    return write_models(
        tmp_path / "priced.yaml",
        [
            entry("fake-model", "openai/fake-model", base),
            entry("priced", "openai/gpt-4o-mini", base),
        ],
    )


def test_estimate_plans_calls_tokens_and_cost_without_calling(
    serve: Any, priced_models: Path, fake_provider: FakeProvider
) -> None:
    server: RungServer = serve(priced_models)
    suite = knowledge_suite(10)
    with server.client() as client:
        for model, samples in (("fake-model", 1), ("fake-model", 3), ("builtin/reader", 1)):
            response = client.post(
                "/v1/runs/estimate", json={"suite": suite, "model": model, "samples": samples}
            )
            assert response.status_code == 200, response.text
            estimate = response.json()
            assert estimate["cases"] == 10
            assert estimate["calls_planned"] == 10 * 2 * samples
            assert estimate["prompt_tokens"] > 0
            assert estimate["completion_tokens"] > 0
            expected_cost = None if model == "fake-model" else 0.0
            assert estimate["cost_usd"] == expected_cost
            assert {arm: e["calls"] for arm, e in estimate["per_arm"].items()} == {
                "closed_book": 10 * samples,
                "open_book": 10 * samples,
            }

        priced = client.post(
            "/v1/runs/estimate", json={"suite": suite, "model": "priced", "max_tokens": 100}
        )
        assert priced.status_code == 200, priced.text
        body = priced.json()
        assert body["cost_usd"] > 0
        assert body["completion_tokens"] == 20 * 100
        # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens
        assert body["cost_usd"] == pytest.approx(
            body["prompt_tokens"] * 0.15e-6 + body["completion_tokens"] * 0.6e-6, rel=1e-3
        )
        # An estimate is not a run: nothing stored, nothing queued.
        assert client.get("/v1/suites").json()["items"] == []
    assert fake_provider.requests == 0


# --- 5. budget ----------------------------------------------------------------------------------


def long_reply(body: Body) -> str:
    return facts_responder(body) + " " + " ".join(["padding"] * 2000)


def test_budget_stops_the_run_cleanly_with_a_partial_verdict(
    serve: Any, priced_models: Path, fake_provider: FakeProvider
) -> None:
    fake_provider.responder = long_reply  # ~2,000 completion tokens: about $0.0012 a call
    fake_provider.delay = 0.05
    server: RungServer = serve(priced_models)
    with server.client() as client:
        unpriced = client.post(
            "/v1/runs",
            json={"suite": knowledge_suite(4), "model": "fake-model", "max_cost_usd": 1.0},
        )
        assert unpriced.status_code == 422, unpriced.text
        assert [d["loc"] for d in unpriced.json()["detail"]] == ["max_cost_usd"]

        run_id = post_run(
            client,
            suite=knowledge_suite(40),
            model="priced",
            max_cost_usd=0.01,
            max_concurrency=2,
        )["id"]
        run = wait_for_run(client, run_id, timeout=60)
    assert run["status"] == "cancelled", run
    assert run["cancel_reason"] == "budget"
    assert "budget" in (run["error"] or "")
    verdict = run["verdict"]
    assert verdict is not None and verdict["partial"] is True
    assert 0 < fake_provider.requests < 80
    cost = verdict["usage"]["cost_usd"]
    assert cost is not None and cost >= 0.01
    # In-flight calls finish after the stop, so a little overshoot is fine; a lot is not.
    # In-flight calls finish after the stop, so some overshoot is expected; not a multiple.
    assert cost < 2 * 0.01, cost


def test_no_call_starts_after_the_shared_budget_is_reached(
    serve: Any, priced_models: Path, fake_provider: FakeProvider
) -> None:
    server: RungServer = serve(priced_models, RUNG_RUN_SLICES="8")
    per_call = 2005 * 0.6e-6  # about 2,000 completion tokens at gpt-4o-mini's price
    with server.client() as client:
        warm = post_run(client, suite=knowledge_suite(1), model="builtin/reader")["id"]
        assert wait_for_run(client, warm)["status"] == "succeeded"  # litellm imported
        fake_provider.responder = long_reply
        fake_provider.delay = 0.3
        budget = 2.5 * per_call
        run_id = post_run(
            client,
            suite=knowledge_suite(40),
            model="priced",
            max_cost_usd=budget,
            max_concurrency=8,
        )["id"]
        run = wait_for_run(client, run_id, timeout=60)
        time.sleep(0.5)  # calls still in flight when the run ended land
        run = get_run(client, run_id)
    assert run["status"] == "cancelled" and run["cancel_reason"] == "budget"
    # The budget is crossed by the third stored call, while at most 8 calls are in flight:
    # anything beyond 3 + 8 calls was started after the run had spent its budget.
    assert fake_provider.requests <= 3 + 8, fake_provider.requests


# --- 6. rate limits across runs ----------------------------------------------------------------


def test_max_parallel_requests_holds_across_concurrent_runs(
    serve: Any, tmp_path: Path, fake_provider: FakeProvider
) -> None:
    models = write_models_file(tmp_path / "models.yaml", fake_provider, max_parallel_requests=2)
    fake_provider.delay = 0.05
    server: RungServer = serve(models)
    with server.client() as client:
        # Distinct cases per run, so no run is served from another's cache.
        ids = [
            post_run(client, suite=knowledge_suite(10, f"s{i}", 10 * i), model="fake-model")["id"]
            for i in range(2)
        ]
        # A run's own max_concurrency can only lower the model's limit, never raise it.
        big = knowledge_suite(6, "s3", 100)
        ids.append(post_run(client, suite=big, model="fake-model", max_concurrency=9)["id"])
        runs = [wait_for_run(client, run_id, timeout=60) for run_id in ids]
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    assert fake_provider.requests == 52
    assert fake_provider.max_in_flight == 2  # reached, never exceeded


class Stamps:
    """A responder that records when each request was served."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, body: Body) -> str:
        with self.lock:
            self.times.append(time.monotonic())
        return facts_responder(body)


@pytest.fixture
def rpm_server(
    serve: Any, tmp_path: Path, fake_provider: FakeProvider
) -> tuple[RungServer, Stamps]:
    models = write_models_file(tmp_path / "models.yaml", fake_provider, rpm=6)
    stamps = Stamps()
    fake_provider.responder = stamps
    server: RungServer = serve(models)
    return server, stamps


def test_rpm_is_never_exceeded_across_runs(
    rpm_server: tuple[RungServer, Stamps], fake_provider: FakeProvider
) -> None:
    server, stamps = rpm_server
    with server.client() as client:
        ids = [
            post_run(client, suite=knowledge_suite(5, f"s{i}", 10 * i), model="fake-model")["id"]
            for i in range(2)
        ]
        deadline = time.monotonic() + 20
        while fake_provider.requests < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(4)  # the next request may only come a minute after the first
        assert fake_provider.requests == 6
        assert len(stamps.times) == 6
        assert max(stamps.times) - min(stamps.times) < 60
        for run_id in ids:
            assert client.post(f"/v1/runs/{run_id}/cancel").status_code == 200


def test_cancel_is_prompt_while_calls_wait_for_the_rate_limit(
    rpm_server: tuple[RungServer, Stamps], fake_provider: FakeProvider
) -> None:
    server, _ = rpm_server
    with server.client() as client:
        run_id = post_run(client, suite=knowledge_suite(5), model="fake-model")["id"]
        deadline = time.monotonic() + 20
        while fake_provider.requests < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert client.post(f"/v1/runs/{run_id}/cancel").status_code == 200
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if get_run(client, run_id)["status"] == "cancelled":
                break
            time.sleep(0.1)
        assert get_run(client, run_id)["status"] == "cancelled"


# --- 7. provider faults are not model failures ---------------------------------------------------


def flaky(fraction: float) -> Any:
    """Fail a deterministic `fraction` of distinct requests once or twice with 429/500/503."""

    def rule(body: Body, attempt: int) -> tuple[int, dict[str, str]] | None:
        if stable_fraction(body, "pick") >= fraction:
            return None
        times = 1 if stable_fraction(body, "times") < 0.5 else 2
        if attempt >= times:
            return None
        status = (429, 500, 503)[int(stable_fraction(body, "status") * 3)]
        return status, {"Retry-After": "0.05"} if status == 429 else {}

    return rule


def test_thirty_percent_faults_give_the_same_verdict(
    server: RungServer, fake_provider: FakeProvider
) -> None:
    suite = mixed_suite(20)
    with server.client() as client:
        clean = wait_for_run(client, post_run(client, suite=suite, model="fake-model")["id"])
        assert clean["status"] == "succeeded", clean["error"]
        clean_labels = case_labels(client, clean["id"])

        fake_provider.reset()
        fake_provider.fault_rule = flaky(0.3)
        run_id = post_run(client, suite=suite, model="fake-model", cache=False)["id"]
        faulty = wait_for_run(client, run_id, timeout=60)
        assert faulty["status"] == "succeeded", faulty["error"]
        assert case_labels(client, run_id) == clean_labels == expected_labels(suite)
    counts = fake_provider.status_counts
    assert counts[429] and counts[500] and counts[503], counts
    assert counts[200] == 40
    assert faulty["progress"]["calls_failed"] == 0
    assert faulty["progress"]["calls_cached"] == 0
    for key in ("diagnosis", "next_rung", "counts"):
        assert faulty["verdict"][key] == clean["verdict"][key]


# --- 8. dead endpoints fail fast ----------------------------------------------------------------


def test_dead_endpoint_and_bad_key_fail_the_run_quickly(
    serve: Any, tmp_path: Path, fake_provider: FakeProvider
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    models = write_models(
        tmp_path / "dead.yaml",
        [
            entry("dead", "openai/fake-model", dead),
            entry("fake-model", "openai/fake-model", fake_provider.base_url),
        ],
    )
    server: RungServer = serve(models)
    fake_provider.fault_rule = lambda body, attempt: (401, {})
    with server.client() as client:
        # Warm the worker up (it imports litellm on its first call), so the clock below
        # measures how fast the engine gives up, not how long an import takes.
        warm = post_run(client, suite=knowledge_suite(1), model="builtin/reader")["id"]
        assert wait_for_run(client, warm)["status"] == "succeeded"

        started = time.monotonic()
        dead_id = post_run(client, suite=knowledge_suite(20), model="dead")["id"]
        bad_key_id = post_run(client, suite=knowledge_suite(20, "k"), model="fake-model")["id"]
        bad_key = wait_for_run(client, bad_key_id, timeout=30)
        bad_key_took = time.monotonic() - started
        dead_run = wait_for_run(client, dead_id, timeout=30)
        dead_took = time.monotonic() - started

    assert dead_run["status"] == "failed", dead_run
    assert dead_took < 20, f"a dead endpoint took {dead_took:.1f}s to fail the run"
    assert "connect" in (dead_run["error"] or "").lower(), dead_run["error"]
    assert SENTINEL_KEY not in (dead_run["error"] or "")

    assert bad_key["status"] == "failed", bad_key
    assert bad_key_took < 8, f"a bad key took {bad_key_took:.1f}s to fail the run"
    error = bad_key["error"] or ""
    assert "AuthenticationError" in error or "401" in error, error
    assert SENTINEL_KEY not in error
    # 401 is never retried: each request is a distinct call.
    per_body = Counter(request_key(b) for b in fake_provider.bodies)
    assert max(per_body.values()) == 1
    assert fake_provider.requests < 40


# --- 9. offline hygiene -------------------------------------------------------------------------

LOOPBACK = {"127.0.0.1", "localhost", "::1", "::ffff:127.0.0.1"}


def test_no_connection_leaves_loopback_during_full_runs(
    serve: Any, models_file: Path, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    audit = tmp_path / "netaudit.jsonl"
    pythonpath = os.pathsep.join(filter(None, [str(NETAUDIT_DIR), os.environ.get("PYTHONPATH")]))
    server: RungServer = serve(models_file, PYTHONPATH=pythonpath, NETAUDIT_LOG=str(audit))
    demo = yaml.safe_load(DEMO_SUITE.read_text(encoding="utf-8"))
    with server.client() as client:
        reader = post_run(client, suite=demo, model="builtin/reader")["id"]
        fake = post_run(client, suite=mixed_suite(10), model="fake-model")["id"]
        for run_id in (reader, fake):
            run = wait_for_run(client, run_id, timeout=60)
            assert run["status"] == "succeeded", run["error"]
    assert server.process is not None
    api_pid = server.process.pid
    server.kill()  # nothing more gets logged while we read

    events = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    hooked = {e["pid"] for e in events if e["event"] == "hook"}
    assert api_pid in hooked, "the audit hook was not installed in the API process"
    assert len(hooked) >= 2, "the audit hook was not installed in the worker process"
    provider_connects = [
        e
        for e in events
        if e["event"] == "socket.connect"
        and isinstance(e["address"], list)
        and e["address"][1:2] == [fake_provider.port]
    ]
    assert provider_connects, "the audit hook never saw the provider connection"
    assert api_pid not in {e["pid"] for e in provider_connects}, "the API process called a model"
    outside = []
    for e in events:
        if e["event"] == "hook":
            continue
        if e["event"] == "socket.getaddrinfo":
            if e["host"] not in LOOPBACK and e["host"] is not None:
                outside.append(e)
        elif e["family"] in (2, 10) and e["address"][0] not in LOOPBACK:  # AF_INET, AF_INET6
            outside.append(e)  # (AF_UNIX paths are local)
    assert not outside, f"connections beyond loopback: {outside[:10]}"


# --- 10. adaptive sampling ----------------------------------------------------------------------


def test_adaptive_sampling_over_http_saves_calls(
    server: RungServer, fake_provider: FakeProvider
) -> None:
    suite = knowledge_suite(12)
    with server.client() as client:
        run_id = post_run(client, suite=suite, model="fake-model", samples=5, temperature=0.8)["id"]
        run = wait_for_run(client, run_id, timeout=60)
        assert run["status"] == "succeeded", run["error"]
        assert set(case_labels(client, run_id).values()) == {"knowledge"}
    sampling = run["verdict"]["sampling"]
    assert sampling["samples"] == 5
    assert sampling["calls_fixed_design"] == 12 * 2 * 5
    assert sampling["calls_used"] <= 0.65 * sampling["calls_fixed_design"], sampling
    assert sampling["calls_used"] == fake_provider.requests
    assert run["progress"]["calls_done"] == sampling["calls_used"]
    # Progress ends at what was done, not at the upper bound planned before the run.
    assert run["progress"]["calls_planned"] == sampling["calls_used"]
    # Repeated samples of one case are distinct calls, never served from another sample's cache.
    assert run["progress"]["calls_cached"] == 0


# --- 11. several worker processes share one run -------------------------------------------------


@pytest.fixture
def two_workers(tmp_path: Path, database_url: str, models_file: Path) -> Iterator[RungServer]:
    server = RungServer(
        env=server_env(database_url, models_file),
        port=free_port(),
        log_path=tmp_path / "two-workers.log",
        workers=2,
    )
    try:
        server.start()
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_the_workers_are_one_process_and_its_fork_and_stop_when_the_server_is_killed(
    two_workers: RungServer,
) -> None:
    assert two_workers.process is not None
    deadline = time.monotonic() + 60
    while two_workers.logs().count("worker ready") < 2:
        assert time.monotonic() < deadline, two_workers.logs()[-2000:]
        time.sleep(0.1)
    api = two_workers.process.pid
    children = _children(api)
    # One process started by the server (no fork server, no resource tracker beside it) ...
    direct = [pid for pid in children if _parent(pid) == api]
    assert len(direct) == 1, [_cmdline(pid) for pid in children]
    # ... which forked the other worker after importing litellm: both serve runs.
    assert len(children) == 2
    assert all("app.engine.group" in _cmdline(pid) for pid in children)
    ready = {
        int(pid) for pid in re.findall(r"worker\[(\d+)\] INFO worker ready", two_workers.logs())
    }
    assert ready == set(children)

    two_workers.process.kill()  # SIGKILL: nothing in the server gets to stop them
    two_workers.process.wait(10)
    deadline = time.monotonic() + 10
    while any(map(running, children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(running, children)), "workers outlived their server"


def test_two_workers_share_one_run(
    two_workers: RungServer, fake_provider: FakeProvider, database_url: str
) -> None:
    fake_provider.delay = 0.1
    suite = knowledge_suite(40)
    owners: set[str] = set()
    with two_workers.client() as client:
        run_id = post_run(client, suite=suite, model="fake-model", max_concurrency=8)["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = query(
                database_url,
                "SELECT owner FROM run_slices WHERE run_id = ? AND owner IS NOT NULL",
                run_id,
            )
            owners.update(owner for (owner,) in rows)
            if get_run(client, run_id)["status"] in TERMINAL:
                break
            time.sleep(0.05)
        run = wait_for_run(client, run_id, timeout=5)
        assert run["status"] == "succeeded", run["error"]
        assert case_labels(client, run_id) == expected_labels(suite)
    pids = {owner.split(":")[1] for owner in owners}
    assert len(pids) == 2, f"slices were taken by {owners}"
    assert fake_provider.requests == 80
    assert len({request_key(b) for b in fake_provider.bodies}) == 80
