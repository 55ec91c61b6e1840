"""`rung serve`: the REST API plus worker processes that execute runs."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated, Any

import typer

from app.bootstrap import load_catalog, load_settings
from app.cli.output import err_console


def default_workers() -> int:
    """One worker process per CPU: model calls cost CPU in the client, so one process per
    core is what keeps the cores busy."""
    return max(1, os.cpu_count() or 1)


class WorkerPool:
    """The worker processes: one started here (app/engine/group.py), which forks the others
    once it has imported litellm, so the API neither waits for that import nor carries it."""

    def __init__(self, settings_values: dict[str, Any], count: int) -> None:
        self._config = (settings_values, count)
        self._process: subprocess.Popen[bytes] | None = None
        self._server_end: int | None = None

    def start(self) -> None:
        from app.engine.group import GroupConfig

        settings_values, count = self._config
        worker_end, self._server_end = os.pipe()  # workers see EOF once this process is gone
        env = dict(os.environ)
        # litellm runs part of every call on a thread pool, and glibc gives each thread a
        # malloc arena of its own; two arenas keep the workers' memory from fragmenting
        # across them (about 20 MB less on the 20,000-case benchmark).
        env.setdefault("MALLOC_ARENA_MAX", "2")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "app.engine.group"],
            stdin=subprocess.PIPE,
            pass_fds=(worker_end,),
            env=env,
        )
        os.close(worker_end)
        assert self._process.stdin is not None
        self._process.stdin.write(GroupConfig(settings_values, count, worker_end).encode())
        self._process.stdin.close()

    def stop(self) -> None:
        """SIGTERM: every worker releases its slices for the next start, then exits."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._server_end is not None:
            os.close(self._server_end)  # any forked worker still running now sees EOF
            self._server_end = None


def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to bind [default: 0.0.0.0 with API keys, else 127.0.0.1]"),
    ] = None,
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(help="Run-engine worker processes [default: the number of CPUs]", min=1),
    ] = None,
) -> None:
    """Run the service: the REST API plus worker processes that execute runs."""
    import uvicorn

    from app.main import create_app

    settings = load_settings()
    load_catalog(settings)  # a broken model list is one line and exit 2, before anything starts
    workers = workers or settings.workers or default_workers()
    if host is None:
        # An open API (no keys) stays on loopback unless the operator says otherwise.
        host = "0.0.0.0" if settings.api_keys else "127.0.0.1"  # noqa: S104
    if not settings.api_keys:
        err_console.print(
            "[yellow]warning:[/] RUNG_API_KEYS is not set: the API is open to anyone who can "
            f"reach {host}:{port}."
        )
    pool = WorkerPool(settings.model_dump(), workers)
    pool.start()
    # The app's shutdown stops the workers: uvicorn re-raises the signal it caught once it
    # has shut down, so code after uvicorn.run() would never run on SIGTERM.
    app = create_app(settings, on_shutdown=pool.stop)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        pool.stop()
