"""The fake provider behind the real litellm client: replies, usage, errors, retries, load."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakeprovider import (
    CONTEXT_LENGTH_MESSAGE,
    FakeProvider,
    facts_responder,
    fail_fraction,
    fake_provider,
    stable_fraction,
)

_ = fake_provider  # the fixture, imported so pytest registers it for this module

ROOT = Path(__file__).resolve().parents[1]
LITELLM_ENV = {
    "LITELLM_OFFLINE_MODE": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_MODE": "PRODUCTION",
    "HF_HUB_OFFLINE": "1",
}
NO_RETRIES: dict[str, Any] = {"num_retries": 0, "max_retries": 0}


@pytest.fixture
def litellm(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The litellm module, imported only after the offline environment is set."""
    for name, value in LITELLM_ENV.items():
        monkeypatch.setenv(name, value)
    import litellm as module

    # litellm prints a "Give Feedback / Get Help" banner on every exception otherwise.
    monkeypatch.setattr(module, "suppress_debug_info", True)
    return module


@pytest.fixture
def server() -> Iterator[FakeProvider]:
    with FakeProvider() as started:
        yield started


async def ask(litellm: Any, server: FakeProvider, content: str = "hi", **kwargs: Any) -> Any:
    return await litellm.acompletion(
        model="openai/fake-model",
        api_base=server.base_url,
        api_key="sk-test",
        messages=[{"role": "user", "content": content}],
        **kwargs,
    )


# -- the scripted model -----------------------------------------------------------------------


def _body(*contents: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": c} for c in contents]}


@pytest.mark.parametrize(
    ("contents", "reply"),
    [
        (["What is the capital of France?"], "I don't know."),
        (
            ["Facts:\n- Paris is the capital of France.\n- Lyon is big.\nQ?"],
            "Paris is the capital of France.",
        ),
        (["Facts:\n1. Paris is the capital.\n2. Other.\nQ?"], "Paris is the capital."),
        (["<facts>Paris is the capital.</facts>\nQ?"], "Paris is the capital."),
        (["<facts>\n- Paris is the capital.\n</facts>"], "Paris is the capital."),
        (["no facts here", "  - indented bullet"], "indented bullet"),
        (["3.14 is not a numbered line; -nor this"], "I don't know."),
    ],
)
def test_facts_responder(contents: list[str], reply: str) -> None:
    assert facts_responder(_body(*contents)) == reply


def test_facts_responder_reads_content_parts() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "- a fact"}]}]}
    assert facts_responder(body) == "a fact"


# -- through the real litellm client ------------------------------------------------------------


async def test_litellm_gets_scripted_reply_and_usage(litellm: Any, server: FakeProvider) -> None:
    server.responder = lambda body: f"echo {body['messages'][-1]['content']}"
    response = await ask(litellm, server, "one two three", temperature=0.7, seed=11, **NO_RETRIES)

    assert response.choices[0].message.content == "echo one two three"
    assert response.choices[0].finish_reason == "stop"
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (3, 4, 7)
    (body,) = server.bodies
    assert body["model"] == "fake-model"  # litellm strips the "openai/" provider prefix
    assert body["temperature"] == 0.7
    assert body["seed"] == 11
    (headers,) = server.request_headers
    assert headers["authorization"] == "Bearer sk-test"
    assert (server.requests, server.completions, server.status_counts[200]) == (1, 1, 1)


async def test_fixture_serves_facts_responder(litellm: Any, fake_provider: FakeProvider) -> None:
    closed = await ask(litellm, fake_provider, "Capital of France?", **NO_RETRIES)
    with_facts = await ask(litellm, fake_provider, "- Paris\nCapital of France?", **NO_RETRIES)
    assert closed.choices[0].message.content == "I don't know."
    assert with_facts.choices[0].message.content == "Paris"


@pytest.mark.parametrize(
    ("status", "error_name"),
    [
        (401, "AuthenticationError"),
        (400, "BadRequestError"),
        (429, "RateLimitError"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailableError"),
    ],
)
async def test_fault_maps_to_litellm_error_with_one_request(
    litellm: Any, server: FakeProvider, status: int, error_name: str
) -> None:
    server.fail_next(1, status)
    with pytest.raises(getattr(litellm, error_name)) as caught:
        await ask(litellm, server, **NO_RETRIES)

    assert caught.value.status_code == status
    assert caught.value.response.status_code == status
    # num_retries=0 + max_retries=0: neither litellm nor the openai SDK retried.
    assert server.requests == 1
    assert server.status_counts == {status: 1}
    assert server.request_headers[0]["x-stainless-retry-count"] == "0"


async def test_rate_limit_exposes_retry_after(litellm: Any, server: FakeProvider) -> None:
    server.fail_next(1, 429, retry_after=2.5)
    with pytest.raises(litellm.RateLimitError) as caught:
        await ask(litellm, server, **NO_RETRIES)

    exc = caught.value
    assert exc.response.headers["retry-after"] == "2.5"  # an httpx.Response
    assert exc.litellm_response_headers["retry-after"] == "2.5"  # httpx.Headers
    assert exc.body["code"] == "rate_limit_exceeded"
    assert server.requests == 1


async def test_http_date_retry_after_passes_through(litellm: Any, server: FakeProvider) -> None:
    server.fail_next(1, 503, retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
    with pytest.raises(litellm.ServiceUnavailableError) as caught:
        await ask(litellm, server, **NO_RETRIES)
    assert caught.value.response.headers["retry-after"] == "Wed, 21 Oct 2026 07:28:00 GMT"


async def test_context_length_error(litellm: Any, server: FakeProvider) -> None:
    server.fail_context_length()
    with pytest.raises(litellm.ContextWindowExceededError) as caught:
        await ask(litellm, server, **NO_RETRIES)
    assert caught.value.status_code == 400
    assert "maximum context length" in str(caught.value)
    assert server.bodies and server.requests == 1


async def test_without_retry_settings_the_sdk_retries(litellm: Any, server: FakeProvider) -> None:
    """Documents the default we must switch off: the openai SDK retries 2x by itself."""
    server.fail_next(2, 500, headers={"retry-after-ms": "10"})  # keeps the SDK backoff short
    response = await ask(litellm, server, "- recovered")
    assert response.choices[0].message.content == "recovered"
    retry_counts = [h["x-stainless-retry-count"] for h in server.request_headers]
    assert retry_counts == ["0", "1", "2"]


async def test_client_timeout_is_litellm_timeout(litellm: Any, server: FakeProvider) -> None:
    server.slow_next(1, seconds=2.0)
    started = time.perf_counter()
    with pytest.raises(litellm.Timeout):
        await ask(litellm, server, timeout=0.2, **NO_RETRIES)
    assert time.perf_counter() - started < 1.5
    for _ in range(100):  # the server notices the disconnect and frees the slot
        if server.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert (server.in_flight, server.disconnects, server.requests) == (0, 1, 1)


async def test_fault_rule_fails_a_stable_fraction_once(litellm: Any, server: FakeProvider) -> None:
    server.fault_rule = fail_fraction(0.3, status=503)
    contents = [f"- fact {i}" for i in range(40)]
    bodies = [
        {"model": "fake-model", "messages": [{"role": "user", "content": c}]} for c in contents
    ]
    expected = [stable_fraction(b) < 0.3 for b in bodies]

    first = await asyncio.gather(
        *(ask(litellm, server, c, **NO_RETRIES) for c in contents), return_exceptions=True
    )
    failed = [isinstance(r, litellm.ServiceUnavailableError) for r in first]
    assert failed == expected
    assert 4 <= sum(failed) <= 20

    retried = [c for c, f in zip(contents, failed, strict=True) if f]
    again = [await ask(litellm, server, c, **NO_RETRIES) for c in retried]
    assert [r.choices[0].message.content for r in again] == [
        f"fact {i}" for i, f in enumerate(failed) if f
    ]
    assert server.status_counts == {503: sum(failed), 200: 40}


async def test_fault_rule_sees_attempt_index(server: FakeProvider) -> None:
    seen: list[int] = []

    def rule(body: dict[str, Any], attempt: int) -> tuple[int, dict[str, str]] | None:
        seen.append(attempt)
        return (429, {"Retry-After": "1"}) if attempt < 2 else None

    server.fault_rule = rule
    payload = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        statuses = [
            (await client.post("/chat/completions", json=payload)).status_code for _ in "abc"
        ]
        other = await client.post("/chat/completions", json={**payload, "seed": 1})
    assert statuses == [429, 429, 200]
    assert other.status_code == 429  # a different body is a different request: attempt 0
    assert seen == [0, 1, 2, 0]


# -- the server itself --------------------------------------------------------------------------


async def test_sustains_64_concurrent_slow_requests(server: FakeProvider) -> None:
    server.delay = 0.05
    payload = {"model": "m", "messages": [{"role": "user", "content": "- ok"}]}
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(
            *(client.post("/chat/completions", json=payload) for _ in range(64))
        )
        elapsed = time.perf_counter() - started
    assert {r.status_code for r in responses} == {200}
    assert server.max_in_flight == 64
    assert elapsed < 1.0  # concurrent, not 64 x 50 ms
    assert server.completions == 64


async def test_openai_shape_and_both_paths(server: FakeProvider) -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "- x y"}]}
    async with httpx.AsyncClient(base_url=server.url) as client:
        for path in ("/v1/chat/completions", "/chat/completions"):
            data = (await client.post(path, json=payload)).json()
            assert set(data) == {"id", "object", "created", "model", "choices", "usage"}
            assert data["object"] == "chat.completion"
            assert data["choices"] == [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "x y"},
                    "finish_reason": "stop",
                }
            ]
            assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        bad = await client.post("/v1/chat/completions", content=b"not json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]) >= {"message", "type", "code"}


async def test_error_bodies_and_custom_body(server: FakeProvider) -> None:
    server.fail_context_length()
    server.fail_next(1, 401)
    server.fail_next(1, 500, body={"error": {"message": "boom", "type": "x", "code": "y"}})
    assert server.pending_faults == 3
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        errors = [(await client.post("/chat/completions", json={})).json()["error"] for _ in "abc"]
    assert errors[0]["message"] == CONTEXT_LENGTH_MESSAGE
    assert errors[0]["code"] == "context_length_exceeded"
    assert errors[1]["code"] == "invalid_api_key"
    assert errors[2] == {"message": "boom", "type": "x", "code": "y"}


async def test_responder_error_is_a_500_and_recorded(server: FakeProvider) -> None:
    def broken(body: dict[str, Any]) -> str:
        raise ValueError("scripted bug")

    server.responder = broken
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.post("/chat/completions", json={"messages": []})
    assert response.status_code == 500
    assert [str(e) for e in server.responder_errors] == ["scripted bug"]


async def test_reset_clears_counters_and_faults(server: FakeProvider) -> None:
    server.fail_next(3, 500)
    server.fault_rule = fail_fraction(1.0)
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        await client.post("/chat/completions", json={"messages": []})
        server.reset()
        assert (server.requests, server.bodies, server.pending_faults) == (0, [], 0)
        assert server.fault_rule is None
        ok = await client.post("/chat/completions", json={"messages": []})
    assert ok.status_code == 200
    assert (server.requests, server.completions, server.max_in_flight) == (1, 1, 1)


def test_stop_is_idempotent_and_frees_the_port() -> None:
    provider = FakeProvider()
    with provider:
        port = provider.port
        assert httpx.get(f"{provider.base_url}/models").status_code == 200
    provider.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models")


def test_standalone_process_prints_port_and_serves() -> None:
    command = [sys.executable, "-m", "tests.fakeprovider", "--port", "0", "--delay", "0.01"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            port = int(process.stdout.readline())
            payload = {"model": "m", "messages": [{"role": "user", "content": "- served"}]}
            response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=payload)
            assert json.loads(response.text)["choices"][0]["message"]["content"] == "served"
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0
