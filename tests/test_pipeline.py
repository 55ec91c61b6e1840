"""Model-review pipelines end to end, over real HTTP against `rung serve` in a subprocess.

A pipeline's side is played by the test: it signs webhooks with the `standardwebhooks` package
(and MLflow's and GitHub's way, fixtures/webhooks/make_fixtures.py), and receives the verdict
callback on a loopback listener (tests/receiver.py), verifying it with `standardwebhooks`.

Most tests share one server (module scope). It runs with API keys, a model list whose provider
key is a sentinel, and the network audit hook (tests/netaudit): the last test checks that no
response was a 500, that the sentinel key reached no response, log line, database row or
callback, and that no process of the server connected or resolved anything beyond loopback.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from standardwebhooks.webhooks import Webhook

from tests.conftest import (
    ROOT,
    SENTINEL_KEY,
    RungServer,
    free_port,
    server_env,
    wait_for_run,
    write_models_file,
)
from tests.fakeprovider import Body, FakeProvider, facts_responder
from tests.receiver import Received, Receiver

_spec = importlib.util.spec_from_file_location(
    "make_fixtures", ROOT / "fixtures" / "webhooks" / "make_fixtures.py"
)
assert _spec is not None and _spec.loader is not None
senders = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(senders)

SECRET: str = senders.SECRET  # the fixtures' secret, so GitHub's fixture posts as it is
API_KEY = "pipeline-key-1"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
HOOK = "/v1/webhooks/model-review"
DEMO_SUITE: dict[str, Any] = yaml.safe_load(
    (ROOT / "fixtures" / "demo-suite.yaml").read_text(encoding="utf-8")
)
LOOPBACK = {"127.0.0.1", "localhost", "::1", "::ffff:127.0.0.1"}
BIND = {"0.0.0.0", "::"}  # looked up by uvicorn to listen (it binds 0.0.0.0 with API keys)
NETAUDIT_DIR = ROOT / "tests" / "netaudit"
MB = 1024 * 1024


# --- the pipeline's side ---------------------------------------------------------------------


def review(model: str = "builtin/reader", **data: Any) -> dict[str, Any]:
    return {"type": "review.requested", "data": {"model": model, **data}}


def signed(
    payload: Any,
    msg_id: str | None = None,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A Standard Webhooks delivery, signed by the standardwebhooks package."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    when = datetime.fromtimestamp(timestamp or int(time.time()), tz=UTC)
    signature = Webhook(secret).sign(msg_id, when, body.decode("utf-8", errors="surrogateescape"))
    return body, {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }


def raw_signed(body: bytes, msg_id: str = "msg_raw") -> dict[str, str]:
    """Signed over arbitrary bytes (the package only signs text)."""
    import hashlib
    import hmac

    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    timestamp = str(int(time.time()))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def verified(callback: Received) -> dict[str, Any]:
    event: dict[str, Any] = Webhook(SECRET).verify(callback.body, callback.headers)
    return event


# --- the shared server -------------------------------------------------------------------------


class Shared:
    def __init__(self, server: RungServer, provider: FakeProvider, tmp: Path) -> None:
        self.server = server
        self.provider = provider
        self.tmp = tmp
        self.responses: list[tuple[str, int, bytes]] = []
        self.callbacks: list[Received] = []

    def client(self, api_key: str | None = None) -> httpx.Client:
        def record(response: httpx.Response) -> None:
            response.read()
            self.responses.append(
                (str(response.request.url), response.status_code, response.content)
            )

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(
            base_url=self.server.url,
            headers=headers,
            timeout=60,
            event_hooks={"response": [record]},
        )

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.tmp / 'rung.db'}?mode=ro", uri=True)

    def count(self, table: str) -> int:
        with self.db() as conn:
            (value,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            return int(value)

    def db_bytes(self) -> bytes:
        return b"".join(p.read_bytes() for p in sorted(self.tmp.glob("rung.db*")))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    tmp = tmp_path_factory.mktemp("pipeline")
    with FakeProvider() as provider:
        models = write_models_file(tmp / "models.yaml", provider)
        port = free_port()
        server = RungServer(
            env=server_env(
                f"sqlite+aiosqlite:///{tmp / 'rung.db'}",
                models,
                RUNG_API_KEYS=API_KEY,
                RUNG_WEBHOOK_SECRET=SECRET,
                RUNG_CALLBACK_ALLOW_HOSTS="127.0.0.1",
                RUNG_CALLBACK_SCHEDULE="0.2,0.2",
                RUNG_CALLBACK_TIMEOUT_SECONDS="2",
                RUNG_PUBLIC_URL=f"http://127.0.0.1:{port}",
                PYTHONPATH=str(NETAUDIT_DIR),
                NETAUDIT_LOG=str(tmp / "netaudit.jsonl"),
            ),
            port=port,
            log_path=tmp / "server.log",
        )
        server.start()
        try:
            with server.client(API_KEY) as client:
                assert client.post("/v1/suites", json=DEMO_SUITE).status_code == 201
            yield Shared(server, provider, tmp)
        finally:
            server.stop()


@pytest.fixture
def receiver(shared: Shared) -> Iterator[Receiver]:
    shared.provider.reset()
    shared.provider.responder = facts_responder
    with Receiver() as listening:
        yield listening
        shared.callbacks += listening.requests


# --- signed webhook in, signed verdict out -------------------------------------------------


def test_a_signed_review_comes_back_as_a_verified_callback(
    shared: Shared, receiver: Receiver
) -> None:
    metadata = {"registry_version": "7", "review_id": "rv-123", "nested": {"ok": [1, 2]}}
    payload = review(suite_name="northwind-support", callback_url=receiver.url, metadata=metadata)
    body, headers = signed(payload)
    with shared.client() as client:
        accepted = client.post(HOOK, content=body, headers=headers)  # no API key: signed
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        assert accepted.json()["duplicate"] is False

        # The same delivery again (a retrying sender): the same run, nothing new started.
        again = client.post(HOOK, content=body, headers=headers)
        assert again.status_code == 202
        assert again.json() == {"run_id": run_id, "duplicate": True}

        with shared.client(API_KEY) as keyed:
            run = wait_for_run(keyed, run_id)
        assert run["status"] == "succeeded", run
        assert run["metadata"] == metadata
        assert run["callback_url"] == receiver.url

        [callback] = receiver.wait_for(1)
        event = verified(callback)
        assert event["type"] == "run.completed"
        assert event["data"] == {
            "run_id": run_id,
            "status": "succeeded",
            "verdict": run["verdict"],
            "error": None,
            "metadata": metadata,
            "run_url": f"{shared.server.url}/v1/runs/{run_id}",
            "baseline_run_id": None,
        }
        assert event["data"]["verdict"]["diagnosis"] == "mixed"

        log = client.get(f"/v1/runs/{run_id}/deliveries", headers=AUTH)
        assert log.status_code == 200, log.text
        [delivery] = log.json()["items"]
        assert delivery["status"] == "delivered"
        assert delivery["id"] == callback.headers["webhook-id"]
        assert [a["status_code"] for a in delivery["attempts"]] == [200]
        assert delivery["attempts"][0]["latency_ms"] >= 0
        assert SECRET not in log.text and "v1," not in log.text
        assert client.get(f"/v1/runs/{run_id}/deliveries").status_code == 401  # keyed

    time.sleep(0.5)
    assert len(receiver.requests) == 1
    assert shared.count("webhook_deliveries_in") >= 1
    with shared.db() as conn:
        rows = conn.execute(
            "SELECT count(*) FROM webhook_deliveries_in WHERE delivery_id = ?",
            (headers["webhook-id"],),
        ).fetchone()
        assert rows == (1,)


def test_a_review_with_a_baseline_model_gates_on_the_comparison(
    shared: Shared, receiver: Receiver
) -> None:
    """A pipeline names the current model as the baseline: rung runs both on the suite, and the
    one callback (for the candidate) carries their comparison, so the pipeline can gate on
    "not worse than the current one"."""
    payload = review(
        "fake-model",
        suite_name="northwind-support",
        baseline_model="builtin/reader",
        callback_url=receiver.url,
        margin=0.1,
        seed=11,  # its own cache keys: later tests script failures for fake-model's calls
    )
    body, headers = signed(payload)
    with shared.client() as client:
        accepted = client.post(HOOK, content=body, headers=headers)
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        with shared.client(API_KEY) as keyed:
            run = wait_for_run(keyed, run_id)
            baseline_id = run["baseline_run_id"]
            assert baseline_id and baseline_id != run_id
            baseline = wait_for_run(keyed, baseline_id)
            assert (baseline["model"], baseline["status"]) == ("builtin/reader", "succeeded")
            assert baseline["callback_url"] is None  # one callback per review

        [callback] = receiver.wait_for(1, timeout=30)
        data = verified(callback)["data"]
        assert data["run_id"] == run_id and data["baseline_run_id"] == baseline_id
        comparison = data["comparison"]
        assert (comparison["baseline_run_id"], comparison["candidate_run_id"]) == (
            baseline_id,
            run_id,
        )
        assert comparison["margin"] == 0.1
        assert comparison["decision"] in ("equivalent", "better", "worse", "inconclusive")
        assert set(comparison["arms"]) >= {"closed_book", "open_book"}
        # The fake model and the reader both copy the first fact: the same answers, paired.
        assert comparison["arms"]["open_book"]["n"] == 24
        assert comparison["regressions"] == []
        with shared.client(API_KEY) as keyed:
            stored = keyed.get(f"/v1/comparisons/{comparison['id']}")
        assert stored.status_code == 200
        assert stored.json()["decision"] == comparison["decision"]


def test_mlflow_and_github_signed_reviews_start_runs(shared: Shared, receiver: Receiver) -> None:
    with shared.client() as client:
        mlflow_headers, mlflow_body = senders.mlflow_signed(
            review(suite_name="northwind-support", callback_url=receiver.url),
            str(uuid.uuid4()),
            int(time.time()),
        )
        response = client.post(HOOK, content=mlflow_body.encode(), headers=mlflow_headers)
        assert response.status_code == 202, response.text
        mlflow_run = response.json()["run_id"]

        # GitHub's fixture, exactly as stored (GitHub signs no timestamp).
        fixture = json.loads(
            (ROOT / "fixtures" / "webhooks" / "github-review-requested.json").read_text()
        )
        response = client.post(HOOK, content=fixture["body"].encode(), headers=fixture["headers"])
        assert response.status_code == 202, response.text
        github_run = response.json()["run_id"]
        replay = client.post(HOOK, content=fixture["body"].encode(), headers=fixture["headers"])
        assert replay.json() == {"run_id": github_run, "duplicate": True}

        # MLflow's own event is well signed but is not a review request: 422, nothing started.
        native = json.loads(
            (ROOT / "fixtures" / "webhooks" / "mlflow-model-version-created.json").read_text()
        )
        headers, body = senders.mlflow_signed(
            json.loads(native["body"]), str(uuid.uuid4()), int(time.time())
        )
        response = client.post(HOOK, content=body.encode(), headers=headers)
        assert response.status_code == 422
        assert "type" in [e["loc"] for e in response.json()["detail"]]

        with shared.client(API_KEY) as keyed:
            for run_id in (mlflow_run, github_run):
                assert wait_for_run(keyed, run_id)["status"] == "succeeded"
    [callback] = receiver.wait_for(1)
    assert verified(callback)["data"]["run_id"] == mlflow_run


def test_a_failed_run_calls_back_too_without_the_provider_key(
    shared: Shared, receiver: Receiver
) -> None:
    """Every call fails and the provider echoes the key in its errors; the callback says
    `failed` with the error, redacted."""

    def responder(body: Body) -> str:
        raise RuntimeError(f"upstream rejected key {SENTINEL_KEY}")

    shared.provider.responder = responder
    payload = review(
        "fake-model",
        suite_name="northwind-support",
        callback_url=receiver.url,
        metadata={"review_id": "rv-fail"},
    )
    body, headers = signed(payload)
    with shared.client() as client:
        response = client.post(HOOK, content=body, headers=headers)
        assert response.status_code == 202, response.text
        run_id = response.json()["run_id"]
    [callback] = receiver.wait_for(1, timeout=60)
    event = verified(callback)
    assert event["data"]["run_id"] == run_id
    assert event["data"]["status"] == "failed"
    assert event["data"]["error"]
    assert event["data"]["metadata"] == {"review_id": "rv-fail"}
    assert SENTINEL_KEY.encode() not in callback.body
    assert shared.provider.status_counts[500] >= 1
    # The key really went to the provider (which echoed it back in its errors).
    assert any(SENTINEL_KEY in h.get("authorization", "") for h in shared.provider.request_headers)


def test_post_runs_takes_a_callback_url_and_metadata_too(
    shared: Shared, receiver: Receiver
) -> None:
    with shared.client() as client:
        suite = {"name": "tiny", "cases": DEMO_SUITE["cases"][:2]}
        response = client.post(
            "/v1/runs",
            json={
                "suite": suite,
                "model": "builtin/reader",
                "callback_url": receiver.url,
                "metadata": {"ci_job": 42},
            },
            headers=AUTH,
        )
        assert response.status_code == 202, response.text
        assert response.json()["metadata"] == {"ci_job": 42}
        run_id = response.json()["id"]
    [callback] = receiver.wait_for(1)
    assert verified(callback)["data"]["metadata"] == {"ci_job": 42}
    assert verified(callback)["data"]["run_id"] == run_id


REFUSED_CALLBACKS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://[::1]:9/hook",  # loopback, but only 127.0.0.1 is allowed on this server
    "http://[::ffff:169.254.169.254]/",
    "http://100.64.0.1/",
    "http://user:pass@127.0.0.1/hook",
    "ftp://127.0.0.1/hook",
    "not a url",
]


def test_refused_callback_urls_are_422_and_start_nothing(shared: Shared) -> None:
    runs_before = shared.count("runs")
    with shared.client() as client:
        for url in REFUSED_CALLBACKS:
            response = client.post(
                "/v1/runs",
                json={"suite_id": "none", "model": "builtin/reader", "callback_url": url},
                headers=AUTH,
            )
            assert response.status_code == 422, (url, response.text)
            assert [e["loc"] for e in response.json()["detail"]] == ["callback_url"], url
            body, headers = signed(review(suite_name="northwind-support", callback_url=url))
            response = client.post(HOOK, content=body, headers=headers)
            assert response.status_code == 422, (url, response.text)
            assert [e["loc"] for e in response.json()["detail"]] == ["data.callback_url"], url
    assert shared.count("runs") == runs_before


def _bad_deliveries() -> list[tuple[str, bytes, dict[str, str], int, str | None]]:
    good = review(suite_name="northwind-support")
    body, headers = signed(good)
    now = int(time.time())
    stale_body, stale = signed(good, timestamp=now - 400)
    _, future = signed(good, timestamp=now + 400)
    _, wrong = signed(good, secret="whsec_" + base64.b64encode(b"x" * 32).decode())
    gh = senders.github_signed(json.dumps(good), "gh-1", "not-our-secret")
    mlflow_headers, mlflow_body = senders.mlflow_signed(good, "ml-1", now - 400)

    def alt(**changes: str) -> dict[str, str]:
        return {**headers, **changes}

    def sig(payload: Any) -> tuple[bytes, dict[str, str]]:
        return signed(payload)

    cases: list[tuple[str, bytes, dict[str, str], int, str | None]] = [
        ("unsigned", body, {"content-type": "application/json"}, 401, None),
        ("wrong secret", body, wrong, 401, None),
        ("stale", stale_body, stale, 401, None),
        ("future", body, future, 401, None),
        ("tampered body", body.replace(b"northwind", b"southwind"), headers, 401, None),
        ("malformed timestamp", body, alt(**{"webhook-timestamp": "soon"}), 401, None),
        ("malformed signature", body, alt(**{"webhook-signature": "v1,***"}), 401, None),
        ("empty signature", body, alt(**{"webhook-signature": ""}), 401, None),
        ("github, wrong secret", json.dumps(good).encode(), gh, 401, None),
        ("mlflow, stale", mlflow_body.encode(), mlflow_headers, 401, None),
        ("not UTF-8", b"\xff\xfe{}", raw_signed(b"\xff\xfe{}"), 400, "body"),
        ("not JSON", b"{not json", raw_signed(b"{not json", "msg_nj"), 400, "body"),
        ("NaN", b'{"type": NaN}', raw_signed(b'{"type": NaN}', "msg_nan"), 400, "body"),
        ("a JSON array", *sig([1, 2]), 422, "body"),
        ("another event type", *sig({"type": "review.done", "data": {}}), 422, "type"),
        (
            "no model",
            *sig({"type": "review.requested", "data": {"suite_id": "x"}}),
            422,
            "data.model",
        ),
        ("unknown model", *sig(review("gpt-9", suite_name="northwind-support")), 422, "data.model"),
        ("both suites", *sig(review(suite_id="a", suite_name="b")), 422, "data"),
        ("unknown suite", *sig(review(suite_name="nope")), 422, "data.suite_name"),
        ("unknown suite id", *sig(review(suite_id="nope")), 422, "data.suite_id"),
        ("an endpoint", *sig(review(suite_id="x", api_base="http://x")), 422, "data.api_base"),
        (
            "too many samples",
            *sig(review(suite_name="northwind-support", samples=99)),
            422,
            "data.samples",
        ),
        ("metadata not an object", *sig(review(suite_id="x", metadata=[1])), 422, "data.metadata"),
    ]
    return cases


def test_bad_deliveries_get_4xx_never_500_and_start_nothing(shared: Shared) -> None:
    runs_before = shared.count("runs")
    with shared.client() as client:
        for name, body, headers, status, loc in _bad_deliveries():
            response = client.post(HOOK, content=body, headers=headers)
            assert response.status_code == status, (name, response.status_code, response.text)
            if status == 401:
                assert response.json()["detail"].startswith("webhook signature:"), name
            if loc is not None:
                assert loc in [e["loc"] for e in response.json()["detail"]], (name, response.text)
    assert shared.count("runs") == runs_before


def test_webhook_bodies_over_1mb_are_413_even_chunked(shared: Shared) -> None:
    big = b'{"pad": "' + b"x" * (MB + 10) + b'"}'
    almost = b'{"pad": "' + b"x" * (MB - 100) + b'"}'

    def chunks(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]

    with shared.client() as client:
        assert client.post(HOOK, content=big).status_code == 413
        chunked = client.post(HOOK, content=chunks(big))
        assert "content-length" not in chunked.request.headers
        assert chunked.status_code == 413
        # Under the limit it is read, and refused for what it is: unsigned.
        assert client.post(HOOK, content=chunks(almost)).status_code == 401
        # Other routes keep the general 10 MB limit.
        suite = {"name": "big", "description": "x" * (2 * MB), "cases": DEMO_SUITE["cases"][:1]}
        assert client.post("/v1/suites", json=suite, headers=AUTH).status_code == 201


def test_retrying_a_delivery_over_http(shared: Shared, receiver: Receiver) -> None:
    receiver.script(500, 500, 500)  # the schedule here allows three attempts: dead after them
    with shared.client() as client:
        body, headers = signed(review(suite_name="northwind-support", callback_url=receiver.url))
        run_id = client.post(HOOK, content=body, headers=headers).json()["run_id"]
        receiver.wait_for(3)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            [delivery] = client.get(f"/v1/runs/{run_id}/deliveries", headers=AUTH).json()["items"]
            if delivery["status"] == "dead":
                break
            time.sleep(0.1)
        assert delivery["status"] == "dead", delivery
        assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 500]
        retry = client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=AUTH)
        assert retry.status_code == 202, retry.text
        assert retry.json()["status"] == "pending"
        [*_, last] = receiver.wait_for(4)
        assert verified(last)["data"]["run_id"] == run_id
        again = client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=AUTH)
        assert again.status_code == 409  # pending or delivered: nothing to retry
        assert client.post("/v1/deliveries/msg_nope/retry", headers=AUTH).status_code == 404
        assert client.post(f"/v1/deliveries/{delivery['id']}/retry").status_code == 401


def test_openapi_describes_both_directions(shared: Shared) -> None:
    with shared.client() as client:
        doc = client.get("/openapi.json").json()
    operation = doc["paths"][HOOK]["post"]
    assert operation["security"] == [{"StandardWebhooks": []}]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "data" in schema["properties"] and "$ref" not in json.dumps(schema)
    assert "run.completed" in doc["webhooks"]
    callback = doc["webhooks"]["run.completed"]["post"]
    assert {p["name"] for p in callback["parameters"]} >= {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    schemes = doc["components"]["securitySchemes"]
    assert schemes["StandardWebhooks"]["in"] == "header"
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    for path in ("/v1/runs/{run_id}/deliveries", "/v1/deliveries/{delivery_id}/retry"):
        for op in doc["paths"][path].values():
            assert op["security"] == [{"HTTPBearer": []}], path


def test_zz_no_500_no_key_and_no_traffic_beyond_loopback(shared: Shared) -> None:
    """Runs last in this module: over everything the shared server did."""
    assert shared.responses and shared.callbacks
    assert not [(url, s) for url, s, _ in shared.responses if s >= 500]
    for url, _status, content in shared.responses:
        assert SENTINEL_KEY.encode() not in content, url
    for callback in shared.callbacks:
        assert SENTINEL_KEY.encode() not in callback.body
        assert SENTINEL_KEY not in json.dumps(callback.headers)
    assert SENTINEL_KEY not in shared.server.logs()
    assert SENTINEL_KEY.encode() not in shared.db_bytes()
    assert SECRET not in shared.server.logs()

    events = [
        json.loads(line)
        for line in (shared.tmp / "netaudit.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert any(e["event"] == "socket.connect" for e in events), "the audit hook saw nothing"
    outside = [
        e
        for e in events
        if (e["event"] == "socket.getaddrinfo" and e["host"] not in LOOPBACK | BIND | {None})
        or (
            e["event"] == "socket.connect"
            and e["family"] in (2, 10)
            and e["address"][0] not in LOOPBACK
        )
    ]
    assert not outside, outside[:10]


# --- servers of their own ----------------------------------------------------------------------


def test_without_a_secret_the_webhook_is_503_and_callbacks_are_refused(make_server: Any) -> None:
    server: RungServer = make_server()
    with server.client() as client:
        body, headers = signed(review(suite_name="x"))
        response = client.post(HOOK, content=body, headers=headers)
        assert response.status_code == 503
        assert "RUNG_WEBHOOK_SECRET" in response.json()["detail"]
        response = client.post(
            "/v1/runs",
            json={
                "suite": {"name": "s", "cases": DEMO_SUITE["cases"][:1]},
                "model": "builtin/reader",
                "callback_url": "http://127.0.0.1:9/hook",
            },
        )
        assert response.status_code == 422
        assert "RUNG_WEBHOOK_SECRET" in response.text


def test_a_crash_between_verdict_and_delivery_still_delivers(
    make_server: Any, tmp_path: Path
) -> None:
    """The receiver is down when the run ends; the server is SIGKILLed; after a restart (and
    the receiver back up) the callback arrives, from the outbox row the verdict was stored with."""
    with Receiver() as probe:
        port = probe.port  # then closed: nothing listens here until the receiver comes back
    url = f"http://127.0.0.1:{port}/hook"
    env = {
        "RUNG_WEBHOOK_SECRET": SECRET,
        "RUNG_CALLBACK_ALLOW_HOSTS": "127.0.0.1",
        "RUNG_CALLBACK_SCHEDULE": ",".join(["1"] * 30),
        "RUNG_CALLBACK_TIMEOUT_SECONDS": "1",
    }
    first: RungServer = make_server(**env)
    with first.client() as client:
        assert client.post("/v1/suites", json=DEMO_SUITE).status_code == 201
        body, headers = signed(review(suite_name="northwind-support", callback_url=url))
        run_id = client.post(HOOK, content=body, headers=headers).json()["run_id"]
        run = wait_for_run(client, run_id)
    first.kill()
    assert run["status"] == "succeeded"

    db = sqlite3.connect(f"file:{tmp_path / 'rung.db'}?mode=ro", uri=True)
    with db:
        status = db.execute("SELECT status FROM callbacks WHERE run_id = ?", (run_id,)).fetchone()
    db.close()
    assert status == ("pending",), "the callback must be in the outbox, not yet delivered"

    with Receiver(port=port) as receiver:
        second: RungServer = make_server(**env)
        [callback] = receiver.wait_for(1, timeout=30)
        event = verified(callback)
        assert event["data"]["run_id"] == run_id
        assert event["data"]["verdict"] == run["verdict"]
        with second.client() as client:
            [delivery] = client.get(f"/v1/runs/{run_id}/deliveries").json()["items"]
        assert delivery["status"] == "delivered"
        assert delivery["attempts"][-1]["status_code"] == 200
        assert all(a["outcome"] == "retry" for a in delivery["attempts"][:-1])
