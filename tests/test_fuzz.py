"""A fuzz run of the OpenAPI document (schemathesis) against `rung serve`, on SQLite and on
PostgreSQL: whatever a client sends, no 500, and no response that breaks its own schema.

Bounded: a fixed number of generated requests per operation (derandomized, so a failure
reproduces), which keeps both backends to about a minute each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import RungServer, free_port, server_env
from tests.test_postgres import _admin, _ensure_postgres

EXAMPLES_PER_OPERATION = 40
SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # configured: 401, not 503


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RungServer]:
    tmp = tmp_path_factory.mktemp("fuzz")
    database = f"sqlite+aiosqlite:///{tmp / 'rung.db'}"
    dropped: list[str] = []
    if request.param == "postgresql":
        import asyncio
        import uuid

        _ensure_postgres()
        name = f"rung_fuzz_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        dropped.append(name)
        database = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    server = RungServer(
        env=server_env(database, None, RUNG_WEBHOOK_SECRET=SECRET),
        port=free_port(),
        log_path=Path(tmp) / "server.log",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        for name in dropped:
            import asyncio

            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_no_500_and_no_response_outside_its_schema(fuzzed: RungServer) -> None:
    api = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    failures: list[str] = []
    tried = 0
    for result in api.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/events"):
            continue  # a stream that stays open while a run goes; tested in test_engine.py
        tried += 1
        # Valid requests by the schema, then invalid ones: both must get a documented answer.
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(mode))
            def check(case: Any) -> None:
                case.call_and_validate(
                    base_url=fuzzed.url, checks=[not_a_server_error, response_schema_conformance]
                )

            try:
                check()
            except Unsatisfiable:
                continue  # nothing to send wrong: the operation takes no input (GET /healthz)
            except Exception as exc:  # hypothesis re-raises the shrunk failing example
                name = f"{operation.method.upper()} {operation.path} ({mode.value})"
                failures.append(f"{name}: {exc}"[:2000])
    assert tried >= 15
    assert not failures, "\n\n".join(failures)
