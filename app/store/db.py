"""Opening the database: SQLite by default (zero set-up), PostgreSQL for shared deployments.

The schema is kept by Alembic migrations (app/store/migrations). Every process that opens the
store (the API and each worker) brings the database to the newest revision at start, inside one
transaction that holds a lock, so the processes starting together migrate once between them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, create_engine, event, inspect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.store.errors import StoreError
from app.store.tables import Base

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported inside the functions below, under `_quiet_alembic`: merely importing it
# logs a line per plug-in at INFO.

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ADOPTABLE_REVISION = "0001"  # what the builds before migrations made with `create_all`
# Any fixed 64-bit number will do, as long as nothing else on the server locks with it.
_PG_MIGRATION_LOCK = 0x72756E67_6D696772  # b"rungmigr"

log = logging.getLogger("rung.store")


class SchemaError(StoreError):
    """The database's schema is not one these migrations can take forward."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a worker process writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration, built in code (no alembic.ini): it works from a wheel too.

    env.py runs the migrations on `connection`, inside the caller's transaction.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def create_schema(engine: AsyncEngine) -> None:
    """Bring the database to the newest revision (creating it from nothing if it is empty)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def import_schema_tools() -> None:
    """Import what `create_schema` will need (Alembic, its templates, both async drivers).

    The first worker calls this before it forks the others, so they share these modules (about
    13 MB and 140 modules) instead of each importing them when it opens the store.
    """
    import importlib

    with _quiet_alembic():
        for module in (
            "alembic.command",
            "alembic.config",
            "alembic.runtime.migration",
            "alembic.script",
            "aiosqlite",
            "sqlalchemy.dialects.sqlite.aiosqlite",
            "sqlalchemy.dialects.postgresql.asyncpg",
        ):
            importlib.import_module(module)


def _upgrade(connection: Connection) -> None:
    _lock(connection)
    tables = set(inspect(connection).get_table_names())
    with _quiet_alembic():
        from alembic import command

        config = alembic_config(connection)
        if "alembic_version" not in tables and tables & set(Base.metadata.tables):
            _adopt(connection, config)
        command.upgrade(config, "head")
    if applied := config.attributes.get("applied"):
        log.info("database schema migrated: applied %s", ", ".join(applied))


def _lock(connection: Connection) -> None:
    """Serialise migrations: the second process waits, then finds the schema up to date."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        # The sqlite3 driver emits no BEGIN before DDL (each CREATE would commit on its own) and
        # a plain BEGIN takes no lock until the first write. BEGIN IMMEDIATE takes the write lock
        # now (waiting out the busy timeout) and makes the whole upgrade one transaction, which
        # SQLAlchemy commits or rolls back as usual when `engine.begin()` ends.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        # Released by the transaction's commit or rollback.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")


def _adopt(connection: Connection, config: Config) -> None:
    """A database made by a build before migrations (`create_all`, no alembic_version table).

    If its tables have exactly the columns of revision 0001, record it as being at 0001, and the
    upgrade takes it on from there; otherwise refuse and say what differs.
    """
    found = inspect(connection)
    existing = set(found.get_table_names())
    problems = []
    for table, columns in sorted(_columns_of(ADOPTABLE_REVISION).items()):
        if table not in existing:
            problems.append(f"table {table} is missing")
            continue
        actual = {column["name"] for column in found.get_columns(table)}
        if missing := sorted(columns - actual):
            problems.append(f"{table} lacks {', '.join(missing)}")
        if extra := sorted(actual - columns):
            problems.append(f"{table} has unknown columns {', '.join(extra)}")
    if problems:
        raise SchemaError(
            "This database was created by an older rung build, before schema migrations, and its "
            f"tables differ from the ones rung can take forward ({'; '.join(problems)}). "
            "rung cannot upgrade it in place. Back it up (export any runs you need with that "
            "older build), then start rung on a new, empty database: point RUNG_DATABASE_URL "
            "elsewhere, or remove this database."
        )
    from alembic import command

    command.stamp(config, ADOPTABLE_REVISION)
    log.info("database from a build before migrations adopted at revision %s", ADOPTABLE_REVISION)


def _columns_of(revision: str) -> dict[str, set[str]]:
    """The tables and columns that `revision` makes, read back from a scratch in-memory SQLite."""
    from alembic import command

    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
            found = inspect(conn)
            return {
                table: {column["name"] for column in found.get_columns(table)}
                for table in found.get_table_names()
                if table != "alembic_version"
            }
    finally:
        scratch.dispose()


class _QuietAlembic:
    """Alembic reports every step at INFO; keep that out of the service's logs while it runs.

    Only the "alembic" logger's own level is touched, and only if no one has set it; it is restored
    afterwards. The app's logging set-up is left alone (no `fileConfig`); a depth count keeps
    overlapping upgrades in one process from restoring it early.
    """

    depth = 0
    saved = logging.NOTSET


@contextmanager
def _quiet_alembic() -> Iterator[None]:
    logger = logging.getLogger("alembic")
    if _QuietAlembic.depth == 0:
        _QuietAlembic.saved = logger.level
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
    _QuietAlembic.depth += 1
    try:
        yield
    finally:
        _QuietAlembic.depth -= 1
        if _QuietAlembic.depth == 0:
            logger.setLevel(_QuietAlembic.saved)


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
