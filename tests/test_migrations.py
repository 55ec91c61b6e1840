"""The schema comes from the Alembic migrations, on SQLite and on PostgreSQL.

Every check runs on a real, fresh database: a SQLite file in tmp_path, or a PostgreSQL database
created for the test and dropped after it (`pg_url`).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.store import Store
from app.store.db import SchemaError, alembic_config, make_engine
from app.store.tables import Base
from tests.conftest import ROOT
from tests.test_postgres import pg_url  # noqa: F401  (a fixture)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


async def inspect_db(url: str, look: Any) -> Any:
    """Run `look(sync_connection)` on the database at `url`."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(look)
    finally:
        await engine.dispose()


def differences(connection: sa.Connection) -> list[Any]:
    """What autogenerate would change to turn the database into the models' schema."""
    diffs: list[Any] = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return diffs


def versions(connection: sa.Connection) -> list[str]:
    return list(connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def head(connection: sa.Connection) -> str | None:
    return ScriptDirectory.from_config(alembic_config(connection)).get_current_head()


def tables(connection: sa.Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


async def open_and_close(url: str) -> None:
    store = await Store.open(url)
    await store.close()


async def test_upgrade_makes_exactly_the_models_schema(fresh_url: str) -> None:
    await open_and_close(fresh_url)

    assert await inspect_db(fresh_url, differences) == []
    assert await inspect_db(fresh_url, tables) == {*Base.metadata.tables, "alembic_version"}
    assert await inspect_db(fresh_url, versions) == [await inspect_db(fresh_url, head)]


async def test_upgrade_is_idempotent(fresh_url: str) -> None:
    await open_and_close(fresh_url)
    await open_and_close(fresh_url)

    assert await inspect_db(fresh_url, differences) == []
    assert len(await inspect_db(fresh_url, versions)) == 1


OPENER = """
import asyncio, sys
from app.store import Store

async def main(url):
    store = await Store.open(url)
    await store.close()

print("ready", flush=True)
sys.stdin.readline()
asyncio.run(main(sys.argv[1]))
"""


async def test_processes_opening_a_fresh_database_together_all_succeed(fresh_url: str) -> None:
    """The API and its workers start together; each brings the schema up, only one migrates."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, fresh_url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for process in processes:  # every one imported and waiting: start them at once
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert await inspect_db(fresh_url, differences) == []
    assert len(await inspect_db(fresh_url, versions)) == 1


async def test_downgrade_to_base_leaves_only_the_version_table(fresh_url: str) -> None:
    await open_and_close(fresh_url)
    engine = make_engine(fresh_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "base"))
    finally:
        await engine.dispose()

    assert await inspect_db(fresh_url, tables) == {"alembic_version"}
    assert await inspect_db(fresh_url, versions) == []

    await open_and_close(fresh_url)  # and back up again
    assert await inspect_db(fresh_url, differences) == []


# --- databases made by the builds before migrations (create_all, no alembic_version) ---------


def create_all(path: Path, *changes: str) -> str:
    """A SQLite file as the builds before migrations made it, then altered by `changes` (SQL).

    Those builds' `create_all` made exactly revision 0001's tables; they had no alembic_version.
    """
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.exec_driver_sql("DROP TABLE alembic_version")
        for change in changes:
            conn.exec_driver_sql(change)
    engine.dispose()
    return f"sqlite+aiosqlite:///{path}"


async def test_a_database_from_before_migrations_is_adopted_when_it_matches(
    tmp_path: Path,
) -> None:
    url = create_all(tmp_path / "old.db")
    await open_and_close(url)

    assert await inspect_db(url, versions) == [await inspect_db(url, head)]
    assert await inspect_db(url, differences) == []


async def test_0002_keeps_every_suite_case_and_run_and_hashes_the_first_copy(
    tmp_path: Path,
) -> None:
    """Suites posted twice before 0002 stay (runs point at them); the oldest copy gets the hash
    that a new post of the same suite finds. Nothing cascades away while the tables change."""
    url = create_all(tmp_path / "old.db")
    expected = {"type": "contains", "values": ["F"], "mode": "any", "case_sensitive": False}
    body = {"id": "c1", "input": "Q?", "facts": ["F."], "expected": expected, "tags": []}
    case = json.dumps(body)
    statements = []
    for suite_id, stamp in (("s-old", "2026-01-01"), ("s-copy", "2026-01-02")):
        statements += [
            f"INSERT INTO suites VALUES ('{suite_id}', 'twice', '', '', 1, '{stamp} 00:00:00')",
            f"INSERT INTO suite_cases VALUES ('{suite_id}', 0, 'c1', '{case}')",
        ]
    statements.append(
        "INSERT INTO runs (id, suite_id, model, config, status, cancel_requested, calls_planned,"
        " calls_done, calls_cached, calls_failed, slices, cost_reserved_usd, created_at)"
        " VALUES ('r1', 's-copy', 'builtin/reader', '{}', 'succeeded', 0, 2, 2, 0, 0, 1, 0,"
        " '2026-01-03 00:00:00')"
    )
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()

    await open_and_close(url)

    def rows(connection: sa.Connection) -> Any:
        return (
            connection.exec_driver_sql("SELECT id, content_hash FROM suites ORDER BY id").all(),
            connection.exec_driver_sql("SELECT count(*) FROM suite_cases").scalar(),
            connection.exec_driver_sql("SELECT id, executor FROM runs").all(),
        )

    suites, case_count, runs = await inspect_db(url, rows)
    hashes = dict(suites)
    assert hashes["s-copy"] is None and hashes["s-old"] is not None
    assert case_count == 2
    assert runs == [("r1", "service")]

    from app.diagnosis.suite import Suite
    from app.store.suites import content_hash

    again = Suite.model_validate(
        {"name": "twice", "cases": [{"id": "c1", "input": "Q?", "facts": ["F."], "expected": "F"}]}
    )
    assert content_hash(again) == hashes["s-old"]
    store = await Store.open(url)
    try:
        found, created = await store.add_suite(again)
        assert (found.id, created) == ("s-old", False)
    finally:
        await store.close()


async def test_a_database_from_before_migrations_that_differs_is_refused(tmp_path: Path) -> None:
    url = create_all(
        tmp_path / "old.db",
        "DROP TABLE callback_attempts",
        "DROP TABLE callbacks",
        "ALTER TABLE runs DROP COLUMN callback_url",
    )

    with pytest.raises(SchemaError) as refused:
        await open_and_close(url)

    message = str(refused.value)
    assert "table callbacks is missing" in message
    assert "runs lacks callback_url" in message
    assert "RUNG_DATABASE_URL" in message
    assert "alembic_version" not in await inspect_db(url, tables)  # left as it was


async def test_the_upgrade_keeps_alembic_out_of_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await open_and_close(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")

    assert [r.name for r in caplog.records if r.name.startswith("alembic")] == []
    assert "applied 0001" in caplog.text
    assert logging.getLogger("alembic").level == logging.NOTSET  # restored
