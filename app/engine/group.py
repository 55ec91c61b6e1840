"""The worker processes of `rung serve`: the first imports everything once, then forks the rest.

`rung serve` starts one process, `python -m app.engine.group`, and hands it its settings on
stdin. That process imports litellm and the engine, makes one warm-up call through litellm
(app/engine/preload.py), and freezes those objects out of the collector's reach; then it forks
the other workers and goes on as worker 0 itself. The workers share every page imported before
the fork, copy-on-write, and there is no fork server beside them keeping a copy of its own of
every page they have since written to (about 50 MB on the 20,000-case benchmark).

The server also passes the read end of a pipe whose write end only it holds. When the server
dies, even by SIGKILL, the pipe reads as closed, and every worker stops instead of lingering.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import SecretStr

log = logging.getLogger("rung.worker")

STOP_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class ServerWatch:
    """Whether the server that started the workers is still running."""

    fd: int

    def alive(self) -> bool:
        readable, _, _ = select.select([self.fd], [], [], 0)
        return not readable  # nothing is ever written: readable means the write end is closed


@dataclass(frozen=True)
class GroupConfig:
    settings_values: dict[str, Any]
    workers: int
    server_fd: int

    def encode(self) -> bytes:
        return json.dumps(asdict(self), default=_reveal).encode()


def _reveal(value: object) -> str:
    """Secrets travel to the workers on the pipe to their stdin: never argv, env or a file."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    raise TypeError(f"{type(value).__name__} in the workers' settings")


def _reap(children: list[int], grace: float) -> None:
    """Wait for the forked workers to finish their shutdown; kill the ones that do not."""
    deadline = time.monotonic() + grace
    pending = set(children)
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                pending.discard(pid)
        time.sleep(0.05)
    for pid in pending:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def run_group(config: GroupConfig) -> None:
    from app.engine import preload, worker

    preload.share()
    watch = ServerWatch(config.server_fd)
    children: list[int] = []
    for index in range(1, config.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                worker.main(config.settings_values, config.workers, index, watch)
            except BaseException:  # a worker's crash must not run the parent's code below
                log.exception("worker %d crashed", index)
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        children.append(pid)

    signalled = False

    def stop_children() -> None:
        nonlocal signalled
        if signalled:  # once: a second SIGTERM could reach a worker whose loop has closed
            return
        signalled = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    try:
        worker.main(config.settings_values, config.workers, 0, watch, on_stop=stop_children)
    finally:
        stop_children()
        _reap(children, STOP_GRACE_SECONDS)


def main() -> None:
    # Ctrl-C reaches every process of the terminal's group; the server answers it by stopping
    # the workers (SIGTERM), so an interrupt in the middle of the imports prints no traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        values = json.loads(sys.stdin.buffer.read())
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise SystemExit("app.engine.group is started by `rung serve`")
    run_group(GroupConfig(**values))


if __name__ == "__main__":
    main()
