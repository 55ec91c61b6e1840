"""Shared fixtures. Everything real except the model: a loopback OpenAI-compatible server.

- `fake_provider`: the scripted provider (tests/fakeprovider.py), behind the real litellm.
- `models_file`: an operator model list pointing at it, with a sentinel provider key.
- `rung_server`: `rung serve` as a subprocess on a fresh SQLite file, reached over real HTTP.
- `engine`: the same store + runner in-process, for tests that drive runs step by step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml

from tests.fakeprovider import FakeProvider, fake_provider  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[1]
SENTINEL_KEY = "sk-SENTINEL-do-not-leak-7f3a9c"

for _key, _value in {
    "LITELLM_OFFLINE_MODE": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_MODE": "PRODUCTION",
    "HF_HUB_OFFLINE": "1",
}.items():
    os.environ.setdefault(_key, _value)


SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
_SESSION_START = time.time()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the screenshots this run wrote (the page tests save them for a human to look at)."""
    if not SCREENSHOTS.is_dir():
        return
    fresh = sorted(p for p in SCREENSHOTS.glob("*.png") if p.stat().st_mtime >= _SESSION_START)
    if fresh:
        terminalreporter.section("screenshots")
        for path in fresh:
            terminalreporter.write_line(str(path))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_models_file(path: Path, provider: FakeProvider, **limits: Any) -> Path:
    entries = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": provider.base_url,
                "api_key": SENTINEL_KEY,
                **limits,
            },
        }
        for name in ("fake-model", "fake-judge")
    ]
    path.write_text(yaml.safe_dump({"model_list": entries}), encoding="utf-8")
    return path


@pytest.fixture
def models_file(tmp_path: Path, fake_provider: FakeProvider) -> Path:  # noqa: F811
    return write_models_file(tmp_path / "models.yaml", fake_provider)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'rung.db'}"


@dataclass
class RungServer:
    """`rung serve` in a subprocess; restartable on the same database."""

    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    workers: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> RungServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "app.cli", "serve", "--port", str(self.port)),
                *("--workers", str(self.workers)),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rung serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"rung serve did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL the server and its workers, as a crash would."""
        if self.process is None:
            return
        for pid in [*_children(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    def client(self, api_key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def running(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _children(pid: int) -> list[int]:
    """Every process below `pid` (the first worker forks the others), deepest first."""
    try:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return []
    direct = [int(p) for p in out.stdout.split()]
    return [grandchild for child in direct for grandchild in _children(child)] + direct


def server_env(database_url: str, models_file: Path | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNG_")}
    env["RUNG_DATABASE_URL"] = database_url
    env["RUNG_POLL_SECONDS"] = "0.1"
    if models_file is not None:
        env["RUNG_MODELS_FILE"] = str(models_file)
    env.update(extra)
    return env


@pytest.fixture
def make_server(tmp_path: Path, database_url: str) -> Iterator[Any]:
    """Start `rung serve` with extra RUNG_ settings; stopped at the end of the test."""
    servers: list[RungServer] = []

    def make(models: Path | None = None, **extra: str) -> RungServer:
        server = RungServer(
            env=server_env(database_url, models, **extra),
            port=free_port(),
            log_path=tmp_path / f"server{len(servers)}.log",
        )
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def rung_server(make_server: Any, models_file: Path) -> RungServer:
    server: RungServer = make_server(models_file)
    return server


def wait_for_run(client: httpx.Client, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish in {timeout}s")


def as_json_run(record: Any) -> SimpleNamespace:
    """A stored run with its verdict as the API serves it (plain JSON), for assertions."""
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    verdict = record.verdict.model_dump(mode="json") if record.verdict is not None else None
    config = record.options.model_dump(mode="json")
    return SimpleNamespace(**{**fields, "verdict": verdict, "config": config})


@dataclass
class Engine:
    """The wired rung (store, catalog, runner) in-process, on a fresh database."""

    rung: Any
    runner: Any

    @property
    def store(self) -> Any:
        return self.rung.store

    @property
    def catalog(self) -> Any:
        return self.rung.catalog

    async def diagnose(
        self, suite: dict[str, Any], model: str = "fake-model", **options: Any
    ) -> Any:
        from app.service import runs
        from app.service.commands import StartRun

        command = StartRun.model_validate({"suite": suite, "model": model, **options})
        run = await runs.start_run(self.store, self.catalog, command)
        await self.runner.advance(run.id)
        return as_json_run(await self.store.get_run(run.id))


def engine_settings(database_url: str, models_file: Path | None = None, **extra: Any) -> Any:
    from app.settings import Settings

    values: dict[str, Any] = {
        "database_url": database_url,
        "default_concurrency": 4,
        "call_timeout_seconds": 10,
        **extra,
    }
    if models_file is not None:
        values["models_file"] = str(models_file)
    return Settings.model_validate(values)


@pytest.fixture
async def engine(database_url: str, models_file: Path) -> AsyncIterator[Engine]:
    from app.bootstrap import Rung

    rung = await Rung.open(engine_settings(database_url, models_file))
    try:
        yield Engine(rung, rung.runner())
    finally:
        await rung.close()
