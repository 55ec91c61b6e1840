"""Network audit for subprocess tests: log every socket.connect and socket.getaddrinfo target.

Put this directory on PYTHONPATH and name a log file in NETAUDIT_LOG; every Python process that
starts with that environment (the API server and its spawned workers) appends one JSON line per
event: {"event", "pid", "family", "address"} for connects, {"event", "pid", "host", "port"} for
name look-ups, and one {"event": "hook", "pid", "argv"} line as each process starts.
tests/test_engine.py reads it to prove no connection leaves loopback.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

_LOG = os.environ.get("NETAUDIT_LOG")


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    return repr(value)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect":
        sock, address = args[0], args[1]
        record = {
            "event": event,
            "family": int(getattr(sock, "family", -1)),
            "address": _plain(address),
        }
    elif event == "socket.getaddrinfo":
        record = {"event": event, "host": _plain(args[0]), "port": _plain(args[1])}
    else:
        return
    record["pid"] = os.getpid()
    try:
        with open(_LOG, "a", encoding="utf-8") as log:  # type: ignore[arg-type]
            log.write(json.dumps(record) + "\n")
    except OSError:
        pass


if _LOG:
    sys.addaudithook(_hook)
    # One line per process that installed the hook, so a test can tell a silent process from
    # one the hook never reached.
    with open(_LOG, "a", encoding="utf-8") as _log:
        _log.write(json.dumps({"event": "hook", "pid": os.getpid(), "argv": sys.argv}) + "\n")
