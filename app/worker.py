"""Worker processes: claim runs from the database and advance them, outside the API's loop.

Model calls cost CPU (litellm ~12 ms each); in the API's event loop they would stall every
request behind them. Workers coordinate only through the database (a lease per slice of a run,
renewed while they work), so the same design serves several processes or machines on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import uuid
from collections import Counter
from typing import Any

from app import llm
from app.callbacks import deliver_forever
from app.conclusion import conclude
from app.llm import ModelCatalog
from app.ratelimit import LimiterRegistry
from app.runner import Runner
from app.settings import Settings
from app.store.slices import Claim, claim_slice, release_slice, renew_slice, unconcluded_runs
from app.store.store import Store

log = logging.getLogger("rung.worker")


async def _keep_lease(store: Store, claim: Claim, owner: str, lease: float) -> None:
    while True:
        await asyncio.sleep(lease / 3)
        if not await renew_slice(store, claim, owner, lease):
            log.warning("lost the lease on run %s slice %d", claim.run_id, claim.slice)
            return


async def drive(runner: Runner, store: Store, claim: Claim, owner: str, lease: float) -> None:
    """Advance one claimed slice while keeping its lease; on shutdown hand it back at once."""
    keeper = asyncio.create_task(_keep_lease(store, claim, owner, lease))
    try:
        await runner.advance(claim.run_id, claim.slice, claim.slices)
    except asyncio.CancelledError:
        # Shutting down: in-flight calls are abandoned, stored calls are kept, and the slice is
        # released so the next process resumes it without waiting for the lease to lapse.
        await asyncio.shield(release_slice(store, claim, owner))
        raise
    except Exception as exc:  # a bug must fail the run visibly, not leave it running forever
        log.exception("run %s crashed", claim.run_id)
        await store.finish_run(claim.run_id, "failed", None, f"internal error: {exc!r}"[:500])
    finally:
        keeper.cancel()


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def work(settings: Settings, stop: asyncio.Event, processes: int = 1) -> None:
    """Claim and advance slices of runs, several at a time, until `stop` is set."""
    owner = new_owner()
    store = await Store.open(settings.database_url)
    runner = Runner(
        store,
        ModelCatalog.from_file(settings.models_file),
        default_concurrency=settings.default_concurrency,
        timeout=settings.call_timeout_seconds,
        limiters=LimiterRegistry(share=processes),
    )
    parent = multiprocessing.parent_process()  # None when not started by `rung serve`
    active: dict[Claim, asyncio.Task[None]] = {}
    # Verdict callbacks go out from the outbox, beside the runs (app/callbacks.py).
    delivery = asyncio.create_task(deliver_forever(settings, store, owner))
    try:
        while not stop.is_set():
            if parent is not None and not parent.is_alive():
                break  # the server died (even SIGKILLed): don't linger as an orphan
            for done in [c for c, task in active.items() if task.done()]:
                del active[done]
            if len(active) < settings.slices_per_worker:
                held = Counter(claim.run_id for claim in active)
                claim = await claim_slice(
                    store, owner, settings.lease_seconds, held=held, processes=processes
                )
                if claim is not None:
                    log.info("advancing run %s slice %d/%d", claim.run_id, claim.slice + 1,
                             claim.slices)  # fmt: skip
                    active[claim] = asyncio.create_task(
                        drive(runner, store, claim, owner, settings.lease_seconds)
                    )
                    continue
            for run_id in await unconcluded_runs(store):
                await conclude(store, run_id)  # its last worker died between slice and verdict
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.poll_seconds)
    finally:
        delivery.cancel()
        await asyncio.gather(delivery, return_exceptions=True)
        for task in active.values():
            task.cancel()
        await asyncio.gather(*active.values(), return_exceptions=True)
        await store.close()


async def run_to_end(runner: Runner, store: Store, run_id: str, lease: float) -> None:
    """Drive every slice of one run in this process (the CLI's way, no server needed)."""
    owner = new_owner()
    tasks = []
    while (claim := await claim_slice(store, owner, lease, run_id=run_id)) is not None:
        tasks.append(asyncio.create_task(drive(runner, store, claim, owner, lease)))
    await asyncio.gather(*tasks)
    if not tasks:
        await conclude(store, run_id)


def main(settings_values: dict[str, Any], processes: int = 1) -> None:
    """Entry point of a worker process (started by `rung serve`)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s worker[%(process)d] %(levelname)s %(message)s"
    )
    settings = Settings.model_validate(settings_values)
    # A worker exists to call models: pay litellm's import before claiming work, so the first
    # run does not wait seconds for it (and the API process never imports it at all).
    llm.prepare()
    log.info("worker ready")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await work(settings, stop, processes)

    asyncio.run(run())
