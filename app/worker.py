"""Worker processes: claim runs from the database and advance them, outside the API's loop.

Model calls cost CPU (litellm ~12 ms each); in the API's event loop they would stall every
request behind them. Workers coordinate only through the database (a lease per run, renewed
while they work), so the same design serves several processes or machines on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from typing import Any

from app.llm import ModelCatalog
from app.ratelimit import LimiterRegistry
from app.runner import Runner
from app.settings import Settings
from app.store.store import Store

log = logging.getLogger("rung.worker")


async def _keep_lease(store: Store, run_id: str, owner: str, lease: float) -> None:
    while True:
        await asyncio.sleep(lease / 3)
        if not await store.renew_lease(run_id, owner, lease):
            log.warning("lost the lease on run %s", run_id)
            return


async def _drive(runner: Runner, store: Store, run_id: str, owner: str, lease: float) -> None:
    """Advance one claimed run while keeping its lease; on shutdown hand it back at once."""
    keeper = asyncio.create_task(_keep_lease(store, run_id, owner, lease))
    try:
        await runner.advance(run_id)
    except asyncio.CancelledError:
        # Shutting down: in-flight calls are abandoned, stored calls are kept, and the run is
        # released so the next process resumes it without waiting for the lease to lapse.
        await asyncio.shield(store.release_lease(run_id, owner))
        raise
    except Exception as exc:  # a bug must fail the run visibly, not leave it running forever
        log.exception("run %s crashed", run_id)
        await store.finish_run(run_id, "failed", None, f"internal error: {exc!r}"[:500])
    finally:
        keeper.cancel()


async def work(settings: Settings, stop: asyncio.Event, processes: int = 1) -> None:
    """Claim and advance runs, several at a time, until `stop` is set."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    store = await Store.open(settings.database_url)
    runner = Runner(
        store,
        ModelCatalog.from_file(settings.models_file),
        default_concurrency=settings.default_concurrency,
        timeout=settings.call_timeout_seconds,
        limiters=LimiterRegistry(share=processes),
    )
    parent = os.getppid()
    active: dict[str, asyncio.Task[None]] = {}
    try:
        while not stop.is_set():
            for done in [r for r, task in active.items() if task.done()]:
                del active[done]
            if len(active) < settings.runs_per_worker:
                claimed = await store.claim_run(owner, settings.lease_seconds)
                if claimed is not None:
                    log.info("advancing run %s", claimed)
                    active[claimed] = asyncio.create_task(
                        _drive(runner, store, claimed, owner, settings.lease_seconds)
                    )
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.poll_seconds)
            if os.getppid() != parent:  # the server died: don't linger as an orphan
                break
    finally:
        for task in active.values():
            task.cancel()
        await asyncio.gather(*active.values(), return_exceptions=True)
        await store.close()


def main(settings_values: dict[str, Any], processes: int = 1) -> None:
    """Entry point of a worker process (started by `rung serve`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = Settings.model_validate(settings_values)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await work(settings, stop, processes)

    asyncio.run(run())
