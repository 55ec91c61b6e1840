"""The same service on PostgreSQL: a fresh database per test on the machine's server.

The default path never needs PostgreSQL; these tests start it if it is down and skip with a
reason if it cannot be reached at all.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, RungServer, free_port, server_env, wait_for_run
from tests.fakeprovider import FakeProvider

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"


def _pg_ready() -> bool:
    if shutil.which("pg_isready") is None:
        return False
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0


def _ensure_postgres() -> None:
    if _pg_ready():
        return
    clusters = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").exists() else []
    for cluster in clusters:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", cluster.name, "main", "start"],
            check=False,
        )
    for _ in range(30):
        if _pg_ready():
            return
        subprocess.run(["sleep", "1"], check=False)
    pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started")


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    _ensure_postgres()
    name = f"rung_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[Any]:
    from app.store import Store

    store = await Store.open(pg_url)
    try:
        yield store
    finally:
        await store.close()


def demo_suite() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "fixtures" / "demo-suite.yaml").read_text())
    return data


async def test_engine_diagnoses_the_demo_on_postgres(pg_store: Any, pg_url: str) -> None:
    from app.bootstrap import Rung
    from app.engine.worker import run_to_end
    from app.service import runs as services
    from app.service.commands import StartRun
    from tests.conftest import engine_settings

    rung = await Rung.open(engine_settings(pg_url))
    catalog = rung.catalog
    request = StartRun.model_validate({"suite": demo_suite(), "model": "builtin/reader"})
    run = await services.start_run(pg_store, catalog, request, slices=4)
    await run_to_end(rung, run.id)

    done = await pg_store.get_run(run.id)
    assert done.status == "succeeded", done.error
    assert (done.verdict.diagnosis, done.verdict.next_rung) == (
        "mixed",
        "retrieval_and_prompt_fix",
    )
    assert (done.calls_done, done.calls_planned) == (48, 48)
    assert len(await pg_store.case_results(run.id)) == 24

    # The same diagnosis again is served entirely from the stored calls.
    again = await services.start_run(pg_store, catalog, request, slices=2)
    await run_to_end(rung, again.id)
    repeat = await pg_store.get_run(again.id)
    assert repeat.calls_cached == 48
    assert repeat.verdict.counts == done.verdict.counts
    await rung.close()


def test_service_over_http_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """`rung serve` on PostgreSQL: one run in four slices, claimed under row locks."""
    with FakeProvider() as provider:
        models = tmp_path / "models.yaml"
        models.write_text(
            yaml.safe_dump(
                {
                    "model_list": [
                        {
                            "model_name": "fake-model",
                            "litellm_params": {
                                "model": "openai/fake-model",
                                "api_base": provider.base_url,
                                "api_key": "sk-test",
                            },
                        }
                    ]
                }
            )
        )
        server = RungServer(
            env=server_env(pg_url, models, RUNG_POLL_SECONDS="0.1"),
            port=free_port(),
            log_path=tmp_path / "server.log",
        )
        server.start()
        try:
            with server.client() as client:
                suite = {
                    "name": "pg-facts",
                    "cases": [
                        {
                            "id": f"c{i}",
                            "input": f"What is the code of item {i}?",
                            "facts": [f"Item {i} has code K{i}."],
                            "expected": f"K{i}",
                        }
                        for i in range(16)
                    ],
                }
                response = client.post(
                    "/v1/runs", json={"suite": suite, "model": "fake-model", "max_concurrency": 8}
                )
                assert response.status_code == 202, response.text
                run = wait_for_run(client, response.json()["id"])
                assert run["status"] == "succeeded", run["error"]
                assert run["verdict"]["diagnosis"] == "knowledge"
                assert run["verdict"]["counts"]["knowledge"] == 16
                assert provider.requests == 32
                page = client.get(f"/v1/runs/{run['id']}/cases", params={"limit": 10}).json()
                assert len(page["items"]) == 10 and page["next_cursor"] is not None
        finally:
            server.stop()
