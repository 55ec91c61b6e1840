"""A callback receiver for tests: a real HTTP server on a loopback address, in a thread.

It records every connection and request, and answers from a script (status, headers, body),
then with `default`. Counting connections, not only requests, is what proves a refused
callback never reached the listener at all.

    with Receiver() as receiver:
        receiver.script(500, 500)           # fail twice, then answer 200
        ...
        receiver.wait_for(3)
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class _State:
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    replies: deque[Reply] = field(default_factory=deque)
    default: Reply = (200, {}, b"ok")
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State

    def __init__(self, host: str, port: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.state.lock:
            self.state.connections += 1
        super().process_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        state = self.server.state
        with state.lock:
            state.requests.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status, headers, reply = state.replies.popleft() if state.replies else state.default
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class Receiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server(host, port)
        self._server.state = _State()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/hook"

    @property
    def requests(self) -> list[Received]:
        with self._server.state.lock:
            return list(self._server.state.requests)

    @property
    def connections(self) -> int:
        return self._server.state.connections

    def script(self, *replies: int | Reply) -> None:
        """Answer the next requests with these statuses (or full replies), then `default`."""
        with self._server.state.lock:
            for reply in replies:
                full = (reply, {}, b"scripted") if isinstance(reply, int) else reply
                self._server.state.replies.append(full)

    def set_default(self, status: int, headers: dict[str, str] | None = None) -> None:
        self._server.state.default = (status, headers or {}, b"default")

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return self.requests
            time.sleep(0.05)
        raise AssertionError(f"{len(self.requests)} callbacks received, expected {count}")
