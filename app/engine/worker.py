"""Worker processes: claim runs from the database and advance them, outside the API's loop.

Model calls cost CPU (litellm ~12 ms each); in the API's event loop they would stall every
request behind them. Workers coordinate only through the database (a lease per slice of a run,
renewed while they work), so the same design serves several processes or machines on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.bootstrap import Rung
from app.engine.conclusion import conclude, fail_run
from app.engine.runner import Runner
from app.models.local import installed_entries
from app.models.ratelimit import LimiterRegistry
from app.pipelines.callbacks import deliver_forever
from app.settings import Settings
from app.store import Store
from app.store.slices import Claim

if TYPE_CHECKING:
    from app.engine.group import ServerWatch

log = logging.getLogger("rung.worker")


async def _keep_lease(store: Store, claim: Claim, owner: str, lease: float) -> None:
    while True:
        await asyncio.sleep(lease / 3)
        if not await store.renew_slice(claim, owner, lease):
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
        await asyncio.shield(store.release_slice(claim, owner))
        raise
    except Exception as exc:  # a bug must fail the run visibly, not leave it running forever
        log.exception("run %s crashed", claim.run_id)
        error = f"internal error: {exc!r}"[:500]
        await fail_run(store, claim.run_id, error, runner.models.catalog)
    finally:
        keeper.cancel()


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def served_models(rung: Rung, index: int) -> list[str] | None:
    """What worker `index` runs: all models for the first; the others leave the built-in local
    models to it, so their weights are loaded in one process, not in every one."""
    if index == 0:
        return None
    local = {entry.model_name for entry in installed_entries()}
    return [name for name in rung.catalog.names if name not in local]


async def work(
    rung: Rung,
    stop: asyncio.Event,
    processes: int = 1,
    index: int = 0,
    server: ServerWatch | None = None,
) -> None:
    """Claim and advance slices of service runs, several at a time, until `stop` is set (or
    the server that started this worker is gone)."""
    settings = rung.settings
    store = rung.store
    owner = new_owner()
    models = served_models(rung, index)
    runner = rung.runner(LimiterRegistry(share=processes))
    active: dict[Claim, asyncio.Task[None]] = {}
    # Verdict callbacks go out from the outbox, beside the runs (app/pipelines/callbacks.py).
    delivery = asyncio.create_task(deliver_forever(settings, store, owner))
    try:
        while not stop.is_set():
            if server is not None and not server.alive():
                break  # the server died (even SIGKILLed): don't linger as an orphan
            for done in [c for c, task in active.items() if task.done()]:
                del active[done]
            if len(active) < settings.slices_per_worker:
                held = Counter(claim.run_id for claim in active)
                claim = await store.claim_slice(
                    owner, settings.lease_seconds, held=held, processes=processes, models=models
                )
                if claim is not None:
                    log.info("advancing run %s slice %d/%d", claim.run_id, claim.slice + 1,
                             claim.slices)  # fmt: skip
                    active[claim] = asyncio.create_task(
                        drive(runner, store, claim, owner, settings.lease_seconds)
                    )
                    continue
            for run_id in await store.unconcluded_runs():
                # Its last worker died between slice and verdict.
                await conclude(store, run_id, catalog=rung.catalog)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.poll_seconds)
    finally:
        delivery.cancel()
        await asyncio.gather(delivery, return_exceptions=True)
        for task in active.values():
            task.cancel()
        await asyncio.gather(*active.values(), return_exceptions=True)


async def run_to_end(rung: Rung, run_id: str, executor: str = "service") -> str:
    """Drive every slice of one run in this process (the CLI's way, no server needed).

    Slices still leased by a process that died are taken over once their lease lapses.
    """
    owner = new_owner()
    lease = rung.settings.lease_seconds
    runner = rung.runner()
    store = rung.store
    tasks: list[asyncio.Task[None]] = []
    try:
        while (run := await store.get_run(run_id)) is not None and not run.finished:
            claim = await store.claim_slice(owner, lease, run_id=run_id, executor=executor)
            if claim is not None:
                tasks.append(asyncio.create_task(drive(runner, store, claim, owner, lease)))
            elif tasks:
                await asyncio.gather(*tasks)
                tasks.clear()
            elif run.cancel_requested:  # cancelled while nobody ran it
                await conclude(store, run_id, "cancelled", catalog=rung.catalog)
            elif await store.pending_slices(run_id) == 0:  # ended before the verdict
                await conclude(store, run_id, catalog=rung.catalog)
            else:
                await asyncio.sleep(rung.settings.poll_seconds)  # wait out a lapsing lease
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return await store.run_status(run_id)


def main(
    settings_values: dict[str, Any],
    processes: int = 1,
    index: int = 0,
    server: ServerWatch | None = None,
    on_stop: Callable[[], None] | None = None,
) -> None:
    """Entry point of worker process number `index` (app/engine/group.py starts them all).

    `on_stop` runs when a stop signal arrives: the first worker passes the others it forked.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s worker[%(process)d] %(levelname)s %(message)s"
    )
    settings = Settings.model_validate(settings_values)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def stopping() -> None:
            stop.set()
            if on_stop is not None:
                on_stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping)
        rung = await Rung.open(settings)
        if rung.models.needs_litellm:
            # A worker exists to call models: pay litellm's import before claiming work, so the
            # first run does not wait seconds for it (the API process never imports it at all).
            from app.models.litellm_client import prepare

            prepare()
        log.info("worker ready")
        try:
            await work(rung, stop, processes, index, server)
        finally:
            await rung.close()

    asyncio.run(run())
