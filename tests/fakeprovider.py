"""A fake OpenAI-compatible model provider: a real HTTP server on loopback.

Tests put it behind the real litellm client (``api_base=server.base_url``) so everything from
litellm's HTTP stack to our retry layer runs for real; only the model is scripted.

    with FakeProvider(responder=lambda body: "Paris") as server:
        ...  # litellm.acompletion(model="openai/x", api_base=server.base_url, api_key="sk-test")
        server.fail_next(2, status=429, retry_after=1.0)
        assert server.status_counts[429] == 2

It runs aiohttp on its own event loop in a daemon thread, so it serves requests while the test's
own loop is blocked or busy, and it sustains many concurrent slow requests (``delay``).

Standalone, for benchmarks and subprocess tests (prints the port once listening):

    python -m tests.fakeprovider --port 0 --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import signal
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import pytest
from aiohttp import web

Body = dict[str, Any]
Responder = Callable[[Body], str]
# (request body, attempt index) -> (status, headers) to fail this request, or None to serve it.
FaultRule = Callable[[Body, int], tuple[int, dict[str, str]] | None]

CONTEXT_LENGTH_MESSAGE = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9000 tokens. Please reduce the length of the messages."
)

# OpenAI-style error bodies per status: (message, type, code).
_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided: sk-***.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this model.", "invalid_request_error", None),
    404: ("The model does not exist.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


def error_body(status: int, message: str | None = None, code: str | None = None) -> Body:
    """The OpenAI-style error JSON for ``status``; ``message``/``code`` override the defaults."""
    default_message, kind, default_code = _ERRORS.get(status, ("Error.", "server_error", None))
    return {
        "error": {
            "message": message or default_message,
            "type": kind,
            "param": None,
            "code": code if code is not None else default_code,
        }
    }


@dataclass(frozen=True)
class Fault:
    """One scripted failure: answer with ``status``, ``headers`` and ``body`` after ``delay`` s."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Body | None = None
    delay: float = 0.0


def message_text(message: Body) -> str:
    """The text of one chat message; content may be a string or a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def count_tokens(text: str) -> int:
    """Rough token count: words."""
    return len(text.split())


_FACT_BLOCK = re.compile(r"<facts>(.*?)</facts>", re.DOTALL | re.IGNORECASE)
_FACT_LINE = re.compile(r"^\s*(?:-\s+|\d+\.\s+)(.+?)\s*$")


def _first_fact(text: str) -> str | None:
    """The earliest bullet/numbered line or <facts> block line in ``text``, without bullet."""
    candidates: list[tuple[int, str]] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        bullet = _FACT_LINE.match(line)
        if bullet:
            candidates.append((offset, bullet.group(1)))
            break
        offset += len(line)
    block = _FACT_BLOCK.search(text)
    if block:
        lines = [line for line in block.group(1).splitlines() if line.strip()]
        if lines:
            bullet = _FACT_LINE.match(lines[0])
            candidates.append((block.start(), bullet.group(1) if bullet else lines[0].strip()))
    return min(candidates)[1] if candidates else None


def facts_responder(body: Body) -> str:
    """A model that knows nothing closed-book but copies the first injected fact.

    A fact is a line starting with "- " or "<digits>. ", or the first line inside
    <facts>...</facts>; messages are searched in order. Otherwise: "I don't know."
    """
    for message in body.get("messages", []):
        if isinstance(message, dict):
            fact = _first_fact(message_text(message))
            if fact is not None:
                return fact
    return "I don't know."


def request_key(body: Body) -> str:
    """A stable hash of a request body (canonical JSON); retries of one call share it."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def stable_fraction(body: Body, salt: str = "") -> float:
    """A deterministic number in [0, 1) per request body, for "fail x% of requests" rules."""
    digest = hashlib.sha256((salt + request_key(body)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def fail_fraction(
    fraction: float,
    status: int = 503,
    *,
    attempts: int = 1,
    retry_after: float | None = None,
    salt: str = "",
) -> FaultRule:
    """A rule failing a deterministic ``fraction`` of distinct requests, the first ``attempts``
    times each, so a retry layer with enough attempts always gets through."""
    headers = {} if retry_after is None else {"Retry-After": _format_seconds(retry_after)}

    def rule(body: Body, attempt: int) -> tuple[int, dict[str, str]] | None:
        if attempt < attempts and stable_fraction(body, salt) < fraction:
            return status, dict(headers)
        return None

    return rule


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


class FakeProvider:
    """An OpenAI-compatible chat-completions server on 127.0.0.1, run in a background thread.

    Attributes tests may set at any time: ``responder``, ``delay`` (seconds before every
    response), ``fault_rule``, ``serial`` (serve one request at a time, queueing the others
    inside the server, as llama.cpp's server and a single-GPU vLLM do: ``delay`` is then each
    request's service time). Counters are read through properties that return copies.
    """

    def __init__(
        self,
        responder: Responder = facts_responder,
        *,
        delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.responder: Responder = responder
        self.delay: float = delay
        self.serial: bool = False
        self._serving: asyncio.Lock | None = None  # made on the server's own loop
        self.fault_rule: FaultRule | None = None
        self.host = host
        self._requested_port = port
        self.port: int = 0
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._reset_counters()

    # -- configuration -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass as litellm's ``api_base``."""
        return f"{self.url}/v1"

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        *,
        retry_after: float | str | None = None,
        body: Body | None = None,
        message: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Fail the next ``n`` requests (in arrival order) with ``status``.

        ``retry_after`` sets the Retry-After header (seconds; a str is sent verbatim, e.g. an
        HTTP date). ``body`` replaces the OpenAI-style error JSON; ``message``/``code`` tweak it.
        """
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = (
                retry_after if isinstance(retry_after, str) else _format_seconds(retry_after)
            )
        fault = Fault(status, all_headers, body or error_body(status, message, code), delay)
        with self._lock:
            self._faults.extend([fault] * n)

    def fail_context_length(self, n: int = 1) -> None:
        """Answer the next ``n`` requests with OpenAI's context-length 400."""
        self.fail_next(n, 400, message=CONTEXT_LENGTH_MESSAGE, code="context_length_exceeded")

    def slow_next(self, n: int = 1, seconds: float = 1.0) -> None:
        """Delay the next ``n`` requests by ``seconds`` (on top of ``delay``), then serve them;
        for client-timeout tests."""
        with self._lock:
            self._faults.extend([Fault(200, delay=seconds)] * n)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    # -- counters ------------------------------------------------------------------------------

    def _reset_counters(self) -> None:
        self._requests = 0
        self._completions = 0
        self._status_counts: Counter[int] = Counter()
        self._bodies: list[Body] = []
        self._headers: list[dict[str, str]] = []
        self._attempts: Counter[str] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0
        self._disconnects = 0
        self._responder_errors: list[BaseException] = []

    def reset(self) -> None:
        """Clear counters, queued faults and the fault rule; keep responder and delay."""
        with self._lock:
            self._reset_counters()
            self._faults.clear()
            self.fault_rule = None

    @property
    def requests(self) -> int:
        """Chat-completion requests with a JSON-object body received (failed ones included)."""
        with self._lock:
            return self._requests

    @property
    def completions(self) -> int:
        """Requests answered with 200 and a completion."""
        with self._lock:
            return self._completions

    @property
    def status_counts(self) -> Counter[int]:
        with self._lock:
            return Counter(self._status_counts)

    @property
    def bodies(self) -> list[Body]:
        """Parsed JSON bodies of every request received, in arrival order."""
        with self._lock:
            return list(self._bodies)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers (lower-cased names) of every request received, parallel to ``bodies``."""
        with self._lock:
            return list(self._headers)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """Peak number of requests being handled at once."""
        with self._lock:
            return self._max_in_flight

    @property
    def disconnects(self) -> int:
        """Requests whose client went away (e.g. timed out) before the response."""
        with self._lock:
            return self._disconnects

    @property
    def responder_errors(self) -> list[BaseException]:
        """Exceptions raised by the responder (each answered with a 500)."""
        with self._lock:
            return list(self._responder_errors)

    # -- HTTP ----------------------------------------------------------------------------------

    async def _handle_chat(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._json(400, error_body(400, "Request body must be a JSON object."))
        with self._lock:
            self._requests += 1
            self._bodies.append(body)
            self._headers.append({k.lower(): v for k, v in request.headers.items()})
            key = request_key(body)
            attempt = self._attempts[key]
            self._attempts[key] += 1
            fault = self._faults.popleft() if self._faults else None
            rule = self.fault_rule
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            if fault is None and rule is not None:
                ruled = rule(body, attempt)
                if ruled is not None:
                    fault = Fault(ruled[0], dict(ruled[1]), error_body(ruled[0]))
            delay = self.delay + (fault.delay if fault else 0.0)
            if self.serial:
                if self._serving is None:
                    self._serving = asyncio.Lock()
                async with self._serving:  # queued here, as in a one-at-a-time server
                    if delay > 0:
                        await asyncio.sleep(delay)
            elif delay > 0:
                await asyncio.sleep(delay)
            if fault is not None and fault.status != 200:
                return self._json(
                    fault.status, fault.body or error_body(fault.status), fault.headers
                )
            if body.get("stream"):
                return self._json(400, error_body(400, "The fake provider does not stream."))
            return self._completion(body)
        except asyncio.CancelledError:
            with self._lock:
                self._disconnects += 1
            raise
        finally:
            with self._lock:
                self._in_flight -= 1

    def _completion(self, body: Body) -> web.Response:
        try:
            text = self.responder(body)
        except Exception as exc:
            with self._lock:
                self._responder_errors.append(exc)
            return self._json(500, error_body(500, f"fake provider responder failed: {exc!r}"))
        messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
        prompt_tokens = sum(count_tokens(message_text(m)) for m in messages)
        completion_tokens = count_tokens(text)
        with self._lock:
            self._completions += 1
        return self._json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": str(body.get("model", "fake-model")),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )

    def _json(
        self, status: int, payload: Body, headers: dict[str, str] | None = None
    ) -> web.Response:
        with self._lock:
            self._status_counts[status] += 1
        return web.json_response(payload, status=status, headers=headers)

    async def _handle_models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeProvider:
        """Start serving; returns once the port is listening."""
        if self._thread is not None:
            raise RuntimeError("FakeProvider already started")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._serve, name="fake-provider", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("FakeProvider failed to start") from self._startup_error
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._open())
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _open(self) -> None:
        app = web.Application(client_max_size=64 * 2**20)
        for prefix in ("/v1", ""):
            app.router.add_post(f"{prefix}/chat/completions", self._handle_chat)
            app.router.add_get(f"{prefix}/models", self._handle_models)
        # handler_cancellation: a request whose client gave up stops occupying a slot.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.2
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port, backlog=1024)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    def stop(self) -> None:
        """Stop serving and join the thread; idempotent."""
        thread, loop, runner = self._thread, self._loop, self._runner
        if thread is None or loop is None:
            return
        if runner is not None:
            future = asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)
            future.result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = self._loop = self._runner = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A started FakeProvider with ``facts_responder``; set ``.responder`` to script it."""
    with FakeProvider() as server:
        yield server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each response")
    parser.add_argument("--serial", action="store_true", help="serve one request at a time")
    parser.add_argument("--reply", default=None, help="fixed reply (default: facts_responder)")
    args = parser.parse_args(argv)
    reply: str | None = args.reply
    responder: Responder = facts_responder if reply is None else (lambda _body: reply)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with FakeProvider(responder, delay=args.delay, host=args.host, port=args.port) as server:
        server.serial = args.serial
        print(server.port, flush=True)
        done.wait()


if __name__ == "__main__":
    main()
