"""`rung serve`: the REST API plus worker processes that execute runs."""

from __future__ import annotations

import multiprocessing
import os
import threading
from typing import Annotated, Any

import typer

from app.bootstrap import load_catalog, load_settings
from app.cli.output import err_console


def default_workers() -> int:
    """One worker process per CPU: model calls cost CPU in the client, so one process per
    core is what keeps the cores busy."""
    return max(1, os.cpu_count() or 1)


def _worker_context() -> Any:
    """Workers fork from a server that imported litellm and the engine once (app/engine/
    preload.py), so they share those pages instead of each holding its own copy; where fork
    servers do not exist, each worker is spawned fresh."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["app.engine.preload"])
    return context


class WorkerPool:
    """The worker processes, started in the background: the first one waits for the fork
    server to import litellm (seconds), and the API need not wait with it."""

    def __init__(self, settings_values: dict[str, Any], count: int) -> None:
        from app.engine import worker

        context = _worker_context()
        self._procs = [
            context.Process(target=worker.main, args=(settings_values, count, i))
            for i in range(count)
        ]
        self._starting = threading.Thread(target=self._start_all, daemon=True)

    def _start_all(self) -> None:
        for proc in self._procs:
            proc.start()

    def start(self) -> None:
        self._starting.start()

    def stop(self) -> None:
        self._starting.join()  # a worker being forked right now is stopped with the others
        for proc in self._procs:
            if proc.pid is not None:
                proc.terminate()  # SIGTERM: a worker releases its slices for the next start
        for proc in self._procs:
            if proc.pid is not None:
                proc.join(timeout=15)
                if proc.is_alive():
                    proc.kill()


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
