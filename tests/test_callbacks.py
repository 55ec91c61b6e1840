"""Verdict callbacks: the SSRF guard (app/pipelines/ssrf.py) and delivery from the outbox
(app/pipelines/callbacks.py).

Nothing here sends a packet anywhere but loopback. Public addresses appear only as resolver
answers: the guard refuses before it opens a socket, and a loopback listener that counts
connections proves it. The outbox is a real SQLite database; runs are ended with the store's
own `finish_run`, the call the engine makes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from app.diagnosis.usage import RunVerdict, Sampling, Usage
from app.diagnosis.verdict import CaseOutcome, build_verdict
from app.models.catalog import ModelCatalog
from app.pipelines.callbacks import (
    deliver_due,
    make_client,
    next_delay,
    parse_retry_after,
    secrets_from,
)
from app.pipelines.ssrf import (
    CallbackBlockedError,
    CallbackPolicy,
    CallbackRefusedError,
    CallbackUnresolvedError,
    parse_callback_url,
    refusal,
)
from app.service import runs as services
from app.service.commands import StartRun
from app.service.deliveries import delivery_log, retry_delivery
from app.service.errors import ConflictError, InvalidRequestError, NotFoundError
from app.settings import Settings
from app.store import Store
from tests.receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PUBLIC = "93.184.216.34"  # only ever a resolver's answer: never connected to
SUITE = {"name": "s", "cases": [{"id": "a", "input": "q?", "facts": ["f"], "expected": "f"}]}

# --- the address table ------------------------------------------------------------------------

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",  # cloud metadata
    "100.64.0.1": "carrier-grade NAT",
    "100.127.255.254": "carrier-grade NAT",
    "0.0.0.0": "this network",
    "224.0.0.251": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "192.0.2.10": "documentation",
    "198.18.0.1": "benchmarking",
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fc00::1": "unique local",
    "fd12:3456:789a::1": "unique local",
    "fec0::1": "site-local",
    "ff02::1": "multicast",
    "2001:db8::1": "documentation",
    "::ffff:127.0.0.1": "IPv4-mapped loopback",
    "::ffff:10.1.2.3": "IPv4-mapped private",
    "::ffff:169.254.169.254": "IPv4-mapped link-local",
    "::ffff:100.64.0.1": "IPv4-mapped carrier-grade NAT",
    "64:ff9b::7f00:1": "NAT64 loopback",
    "64:ff9b::a9fe:a9fe": "NAT64 link-local",
    "64:ff9b::c0a8:101": "NAT64 private",
    "64:ff9b:1::a00:1": "local-use NAT64",
    "2002:7f00:1::1": "6to4 loopback",
    "2002:a9fe:a9fe::1": "6to4 link-local",
    "2002:c0a8:101::": "6to4 private",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "Teredo",
    "::127.0.0.1": "IPv4-compatible",
}
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "100.128.0.1",  # just above carrier-grade NAT
    "172.32.0.1",  # just above 172.16/12
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "64:ff9b::808:808",  # NAT64 of a public address
    "2002:808:808::1",  # 6to4 of a public address
]


@pytest.mark.parametrize(("address", "reason"), REFUSED.items(), ids=list(REFUSED))
def test_internal_addresses_are_refused(address: str, reason: str) -> None:
    found = refusal(ipaddress.ip_address(address))
    assert found is not None and reason in found, (address, found)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


# --- URLs --------------------------------------------------------------------------------------

BAD_URLS = {
    "ftp://example.com/x": "http",
    "file:///etc/passwd": "http",
    "gopher://example.com/": "http",
    "javascript:alert(1)": "http",
    "http://user:pw@example.com/": "user name",
    "http://user@example.com/": "user name",
    "http://@example.com/": "user name",
    "http:///path": "host",
    "http://exa mple.com/": "whitespace",
    "http://example.com/\nx": "whitespace",
    "http://example.com:99999/": "valid port",
    "http://example.com:0/": "valid port",
    "https://example.com/" + "a" * 2100: "longer",
}


@pytest.mark.parametrize(("url", "reason"), BAD_URLS.items(), ids=list(BAD_URLS))
def test_callback_urls_must_be_plain_http_s(url: str, reason: str) -> None:
    with pytest.raises(CallbackRefusedError, match=reason):
        parse_callback_url(url)


def test_good_urls_parse() -> None:
    assert parse_callback_url("https://hooks.example.com:8443/a?b=c").port == 8443
    assert parse_callback_url("http://[::1]:9/x").host == "::1"


# --- resolution: every address, at connect time ---------------------------------------------


def resolver(*answers: list[str]) -> tuple[Callable[[str, int], Any], list[str]]:
    """A resolver answering each lookup with the next list (the last one repeats)."""
    asked: list[str] = []
    queue = list(answers)

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return resolve, asked


async def test_vet_checks_every_address_a_name_resolves_to() -> None:
    resolve, asked = resolver([PUBLIC, "2606:4700:4700::1111"])
    policy = CallbackPolicy(resolver=resolve)
    assert await policy.vet("hooks.example.com", 443) == [PUBLIC, "2606:4700:4700::1111"]
    for answer in ([PUBLIC, "127.0.0.1"], ["10.0.0.7"], [PUBLIC, "::ffff:169.254.169.254"]):
        policy = CallbackPolicy(resolver=resolver(answer)[0])
        with pytest.raises(CallbackBlockedError, match="resolves to a") as caught:
            await policy.vet("hooks.example.com", 443)
        assert "10.0.0.7" not in str(caught.value)  # internal DNS stays private
    assert asked == ["hooks.example.com"]


async def test_literals_are_not_resolved_and_allow_hosts_skip_the_check() -> None:
    async def never(host: str, port: int) -> list[str]:
        raise AssertionError("a literal was looked up")

    policy = CallbackPolicy(resolver=never, allow_hosts=frozenset({"127.0.0.1", "::1"}))
    assert await policy.vet(PUBLIC, 80) == [PUBLIC]
    assert await policy.vet("127.0.0.1", 80) == ["127.0.0.1"]
    assert await policy.vet("::1", 80) == ["::1"]
    with pytest.raises(CallbackBlockedError, match=r"loopback address \(127\.0\.0\.2\)"):
        await policy.vet("127.0.0.2", 80)
    internal = CallbackPolicy(
        resolver=resolver(["10.1.2.3"])[0], allow_hosts=frozenset({"hooks.corp"})
    )
    assert await internal.vet("HOOKS.corp.", 80) == ["10.1.2.3"]


async def test_unresolvable_and_slow_hosts() -> None:
    async def fails(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    async def hangs(host: str, port: int) -> list[str]:
        await asyncio.sleep(60)
        return []

    for policy in (
        CallbackPolicy(resolver=fails),
        CallbackPolicy(resolver=hangs, resolve_timeout=0.1),
        CallbackPolicy(resolver=resolver([])[0]),
    ):
        with pytest.raises(CallbackUnresolvedError):
            await policy.vet("hooks.example.com", 443)
        with pytest.raises(CallbackRefusedError, match="did not resolve"):
            await policy.check_url("https://hooks.example.com/")


async def test_check_url_needs_a_signing_secret() -> None:
    with pytest.raises(CallbackRefusedError, match="RUNG_WEBHOOK_SECRET"):
        await CallbackPolicy(can_sign=False).check_url(f"https://{PUBLIC}/")


async def test_rebinding_is_caught_at_connect_time_before_any_packet() -> None:
    """Public when the URL is accepted; public then loopback when the callback connects."""
    with Receiver() as receiver:
        resolve, asked = resolver([PUBLIC], [PUBLIC, "127.0.0.1"])
        policy = CallbackPolicy(resolver=resolve)
        url = f"http://rebind.example:{receiver.port}/hook"
        await policy.check_url(url)  # accepted: the name looked public
        async with make_client(policy) as client:
            with pytest.raises(CallbackBlockedError, match="loopback"):
                await client.post(url, content=b"{}")
        assert asked == ["rebind.example", "rebind.example"]
        assert receiver.connections == 0


async def test_refused_literals_never_reach_a_listener() -> None:
    with Receiver() as v4, Receiver("::1") as v6:
        async with make_client(CallbackPolicy()) as client:
            for url in (v4.url, v6.url, f"http://[::ffff:127.0.0.1]:{v4.port}/hook"):
                with pytest.raises(CallbackBlockedError):
                    await client.post(url, content=b"{}")
        assert v4.connections == 0 and v6.connections == 0


async def test_an_allowed_name_is_dialled_at_the_address_the_guard_vetted() -> None:
    """The name resolves (here) to ::1 only; the system would say 127.0.0.1, where nothing
    listens on this port. The request arriving proves the transport used the vetted address,
    and the Host header still names the host."""
    with Receiver("::1") as receiver:
        resolve, asked = resolver(["::1"])
        policy = CallbackPolicy(resolver=resolve, allow_hosts=frozenset({"localhost"}))
        async with make_client(policy) as client:
            response = await client.post(f"http://localhost:{receiver.port}/hook", content=b"{}")
        assert response.status_code == 200
        assert asked == ["localhost"]
        assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


# --- the retry schedule ----------------------------------------------------------------------

SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0]


def test_the_schedule_is_jittered_and_ends() -> None:
    rng = random.Random(7)
    for failures, base in enumerate(SCHEDULE, start=1):
        for _ in range(50):
            delay = next_delay(failures, SCHEDULE, rng=rng)
            assert delay is not None and 0.8 * base <= delay <= 1.2 * base
    assert next_delay(len(SCHEDULE) + 1, SCHEDULE) is None
    assert next_delay(0, SCHEDULE) is None
    assert next_delay(1, []) is None
    # Jitter spreads receivers' retries: not every wait is the same.
    assert len({round(next_delay(1, SCHEDULE, rng=rng) or 0, 6) for _ in range(20)}) > 10


def test_retry_after_raises_the_wait_up_to_the_longest_step() -> None:
    rng = random.Random(1)
    assert next_delay(1, SCHEDULE, retry_after=120, rng=rng) == 120
    assert next_delay(1, SCHEDULE, retry_after=10**9, rng=rng) == 36000
    delay = next_delay(3, SCHEDULE, retry_after=1, rng=rng)
    assert delay is not None and delay >= 0.8 * 1800


def test_retry_after_parses_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after(" 7 ", now) == 7
    assert parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", now) == 120
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0
    for junk in (None, "", "soon", "-5", "1.5e3"):
        assert parse_retry_after(junk, now) is None


# --- delivery from the outbox ----------------------------------------------------------------


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()


def make_settings(database_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "webhook_secret": SECRET,
        "callback_allow_hosts": ["127.0.0.1", "::1"],
        "callback_schedule": [0.05, 0.05, 0.05],
        "callback_timeout_seconds": 2,
        "public_url": "http://rung.test",
    }
    return Settings.model_validate(values | extra)


def a_verdict() -> RunVerdict:
    """A real verdict over twelve knowledge cases, as the engine would store it."""
    outcomes = [CaseOutcome(case_id=f"c{i}", label="knowledge") for i in range(12)]
    verdict = build_verdict(outcomes, 0.05)
    sampling = Sampling(samples=1, calls_used=24, calls_fixed_design=24)
    return RunVerdict(**verdict.model_dump(), usage=Usage(), sampling=sampling)


async def finished_run(
    store: Store, settings: Settings, url: str, status: str = "succeeded"
) -> str:
    policy = CallbackPolicy(allow_hosts=frozenset(settings.callback_allow_hosts))
    request = StartRun.model_validate(
        {"suite": SUITE, "model": "builtin/reader", "callback_url": url, "metadata": {"r": 1}}
    )
    run = await services.start_run(store, ModelCatalog.from_file(None), request, callbacks=policy)
    assert await store.finish_run(run.id, status, a_verdict(), None)
    return run.id


async def deliver_until_settled(
    store: Store,
    settings: Settings,
    run_id: str,
    policy: CallbackPolicy | None = None,
    clock: Callable[[], float] = time.time,
    timeout: float = 20,
) -> dict[str, Any]:
    policy = policy or CallbackPolicy(allow_hosts=frozenset(settings.callback_allow_hosts))
    deadline = time.monotonic() + timeout
    async with make_client(policy) as client:
        while time.monotonic() < deadline:
            await deliver_due(store, client, "test-owner", settings, secrets_from(settings), clock)
            delivery = (await delivery_log(store, run_id)).items[0]
            if delivery.status != "pending":
                return delivery.model_dump()
            await asyncio.sleep(0.02)
    raise AssertionError("the callback never settled")


async def test_a_receiver_failing_three_times_gets_it_on_the_fourth(
    store: Store, database_url: str
) -> None:
    settings = make_settings(database_url)
    ticks = itertools.count(int(time.time()))  # a new second per attempt: fresh timestamps
    with Receiver() as receiver:
        receiver.script(500, 502, 503)
        run_id = await finished_run(store, settings, receiver.url)
        delivery = await deliver_until_settled(
            store, settings, run_id, clock=lambda: float(next(ticks))
        )
        requests = receiver.requests

    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 502, 503, 200]
    assert [a["outcome"] for a in delivery["attempts"]] == ["retry"] * 3 + ["delivered"]
    assert delivery["attempts"][0]["response"] == "scripted"
    assert len(requests) == 4
    # One webhook-id throughout; a fresh timestamp and signature per attempt; the same body.
    assert {r.headers["webhook-id"] for r in requests} == {delivery["id"]}
    assert len({r.headers["webhook-timestamp"] for r in requests}) == 4
    assert len({r.headers["webhook-signature"] for r in requests}) == 4
    assert len({r.body for r in requests}) == 1
    for request in requests:
        event = Webhook(SECRET).verify(request.body, request.headers)
    assert event["type"] == "run.completed"
    assert event["data"] == {
        "run_id": run_id,
        "status": "succeeded",
        "verdict": a_verdict().model_dump(mode="json"),
        "error": None,
        "metadata": {"r": 1},
        "run_url": f"http://rung.test/v1/runs/{run_id}",
        "baseline_run_id": None,
    }
    # The log holds no secret and no signature.
    assert SECRET not in str(delivery) and "v1," not in str(delivery)


async def test_spent_retries_make_it_dead_and_a_manual_retry_sends_it_again(
    store: Store, database_url: str
) -> None:
    settings = make_settings(database_url, callback_schedule=[0.05])
    with Receiver() as receiver:
        receiver.script(500, 500)
        run_id = await finished_run(store, settings, receiver.url, status="failed")
        dead = await deliver_until_settled(store, settings, run_id)
        assert dead["status"] == "dead"
        assert [a["outcome"] for a in dead["attempts"]] == ["retry", "dead"]
        assert "last scheduled attempt" in dead["attempts"][-1]["error"]
        with pytest.raises(NotFoundError):
            await retry_delivery(store, "msg_unknown")
        queued = await retry_delivery(store, dead["id"])
        assert queued.status == "pending"
        delivered = await deliver_until_settled(store, settings, run_id)
        assert delivered["status"] == "delivered"
        assert len(delivered["attempts"]) == 3
        with pytest.raises(ConflictError, match="delivered"):
            await retry_delivery(store, dead["id"])
        assert len(receiver.requests) == 3
        assert Webhook(SECRET).verify(receiver.requests[-1].body, receiver.requests[-1].headers)


async def test_410_stops_retrying_at_once(store: Store, database_url: str) -> None:
    settings = make_settings(database_url)
    with Receiver() as receiver:
        receiver.script(410)
        run_id = await finished_run(store, settings, receiver.url, status="cancelled")
        delivery = await deliver_until_settled(store, settings, run_id)
        assert delivery["status"] == "dead"
        assert len(delivery["attempts"]) == 1 and "410" in delivery["attempts"][0]["error"]
        await asyncio.sleep(0.2)
        await deliver_until_settled(store, settings, run_id)
        assert len(receiver.requests) == 1


async def test_retry_after_is_honoured(store: Store, database_url: str) -> None:
    settings = make_settings(database_url, callback_schedule=[0.05, 10])
    with Receiver() as receiver:
        receiver.script((503, {"Retry-After": "2"}, b"busy"))
        run_id = await finished_run(store, settings, receiver.url)
        async with make_client(CallbackPolicy(allow_hosts=frozenset({"127.0.0.1"}))) as client:
            await deliver_due(store, client, "owner", settings, secrets_from(settings))
        delivery = (await delivery_log(store, run_id)).items[0]
        assert delivery.status == "pending" and delivery.next_attempt_at is not None
        wait = delivery.next_attempt_at - delivery.attempts[0].attempted_at
        assert timedelta(seconds=2) <= wait < timedelta(seconds=2.5)
        started = time.monotonic()
        settled = await deliver_until_settled(store, settings, run_id)
        assert settled["status"] == "delivered"
        assert time.monotonic() - started >= 1.5


async def test_redirects_are_not_followed(store: Store, database_url: str) -> None:
    settings = make_settings(database_url, callback_schedule=[0.05])
    with Receiver() as first, Receiver() as elsewhere:
        first.set_default(302, {"Location": elsewhere.url})
        run_id = await finished_run(store, settings, first.url)
        delivery = await deliver_until_settled(store, settings, run_id)
        assert delivery["status"] == "dead"
        assert delivery["attempts"][0]["status_code"] == 302
        assert "redirect" in delivery["attempts"][0]["error"]
        assert len(first.requests) == 2 and elsewhere.connections == 0


async def test_a_host_that_now_resolves_inside_is_blocked(store: Store, database_url: str) -> None:
    """Accepted when it resolved to a public address; at delivery it resolves to loopback."""
    settings = make_settings(database_url, callback_allow_hosts=[])
    with Receiver() as receiver:
        url = f"http://hooks.example:{receiver.port}/hook"
        accepting = CallbackPolicy(resolver=resolver([PUBLIC])[0])
        request = StartRun.model_validate(
            {"suite": SUITE, "model": "builtin/reader", "callback_url": url}
        )
        run = await services.start_run(
            store, ModelCatalog.from_file(None), request, callbacks=accepting
        )
        await store.finish_run(run.id, "succeeded", a_verdict(), None)
        rebound = CallbackPolicy(resolver=resolver([PUBLIC, "127.0.0.1"])[0])
        delivery = await deliver_until_settled(store, settings, run.id, policy=rebound)
        assert delivery["status"] == "blocked"
        assert "loopback" in delivery["attempts"][0]["error"]
        assert receiver.connections == 0


async def test_unreachable_and_silent_receivers_are_retried(
    store: Store, database_url: str
) -> None:
    settings = make_settings(database_url, callback_schedule=[0.05], callback_timeout_seconds=0.3)
    with Receiver() as closed:
        url = closed.url  # nothing listens here once it is closed
    run_id = await finished_run(store, settings, url)
    delivery = await deliver_until_settled(store, settings, run_id)
    assert delivery["status"] == "dead"
    assert all("ConnectError" in a["error"] for a in delivery["attempts"])

    writers: list[asyncio.StreamWriter] = []

    async def never_answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        run_id = await finished_run(store, settings, f"http://127.0.0.1:{port}/hook")
        delivery = await deliver_until_settled(store, settings, run_id)
    finally:
        for writer in writers:
            writer.close()
        silent.close()
        await silent.wait_closed()
    assert delivery["status"] == "dead"
    assert "no reply within 0.3s" in delivery["attempts"][0]["error"]


async def test_runs_refuse_bad_callback_urls_and_store_nothing(store: Store) -> None:
    catalog = ModelCatalog.from_file(None)
    policy = CallbackPolicy()
    for url in ("http://169.254.169.254/latest", "http://10.0.0.1/", "ftp://x/", "http://u@x/"):
        request = StartRun.model_validate(
            {"suite": SUITE, "model": "builtin/reader", "callback_url": url}
        )
        with pytest.raises(InvalidRequestError) as caught:
            await services.start_run(store, catalog, request, callbacks=policy)
        assert caught.value.loc == "callback_url"
    assert await store.list_suites(10, None) == []  # not even the inline suite


async def test_only_runs_with_a_callback_url_get_one(store: Store, database_url: str) -> None:
    request = StartRun.model_validate({"suite": SUITE, "model": "builtin/reader"})
    run = await services.start_run(store, ModelCatalog.from_file(None), request)
    await store.finish_run(run.id, "succeeded", a_verdict(), None)
    assert (await delivery_log(store, run.id)).items == []
    # Ending a run twice (racing workers) records one callback, not two.
    settings = make_settings(database_url)
    with Receiver() as receiver:
        run_id = await finished_run(store, settings, receiver.url)
        assert not await store.finish_run(run_id, "failed", None, "late")
        assert len((await delivery_log(store, run_id)).items) == 1


async def test_cancelling_a_queued_run_records_its_callback(
    store: Store, database_url: str
) -> None:
    settings = make_settings(database_url)
    policy = CallbackPolicy(allow_hosts=frozenset({"127.0.0.1"}))
    with Receiver() as receiver:
        request = StartRun.model_validate(
            {"suite": SUITE, "model": "builtin/reader", "callback_url": receiver.url}
        )
        run = await services.start_run(
            store, ModelCatalog.from_file(None), request, callbacks=policy
        )
        await store.request_cancel(run.id)
        delivery = await deliver_until_settled(store, settings, run.id)
        assert delivery["status"] == "delivered"
        body = Webhook(SECRET).verify(receiver.requests[0].body, receiver.requests[0].headers)
        assert body["data"]["status"] == "cancelled"


def test_httpx_transport_still_has_the_pool_the_guard_replaces() -> None:
    """GuardedTransport swaps httpx's private `_pool`; fail loudly if httpx stops using it."""
    transport = httpx.AsyncHTTPTransport()
    assert hasattr(transport, "_pool")
