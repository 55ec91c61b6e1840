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


async def work(settings: Settings, stop: asyncio.Event) -> None:
    """Claim and advance runs until `stop` is set."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    store = await Store.open(settings.database_url)
    runner = Runner(
        store,
        ModelCatalog.from_file(settings.models_file),
        default_concurrency=settings.default_concurrency,
        timeout=settings.call_timeout_seconds,
    )
    parent = os.getppid()
    try:
        while not stop.is_set():
            run_id = await store.claim_run(owner, settings.lease_seconds)
            if run_id is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), settings.poll_seconds)
                if os.getppid() != parent:  # the server died: don't linger as an orphan
                    return
                continue
            log.info("advancing run %s", run_id)
            lease = asyncio.create_task(_keep_lease(store, run_id, owner, settings.lease_seconds))
            advance = asyncio.create_task(runner.advance(run_id))
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({advance, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if not advance.done():
                    # Shutting down: abandon in-flight calls; stored calls are kept and the run
                    # is released so the next process resumes it at once.
                    advance.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await advance
                    await store.release_lease(run_id, owner)
                elif advance.exception() is not None:
                    log.error("run %s crashed: %r", run_id, advance.exception())
                    await store.finish_run(
                        run_id, "failed", None, f"internal error: {advance.exception()!r}"[:500]
                    )
            finally:
                lease.cancel()
                stopper.cancel()
    finally:
        await store.close()


def main(settings_values: dict[str, Any]) -> None:
    """Entry point of a worker process (started by `rung serve`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = Settings.model_validate(settings_values)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await work(settings, stop)

    asyncio.run(run())
