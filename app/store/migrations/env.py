"""Alembic's environment for rung: migrate on the connection that `app.store.db` hands over.

There is no alembic.ini and no database URL here. `app.store.db.create_schema` builds the config
in code, opens the migration transaction, takes the lock and passes the connection in
`config.attributes["connection"]`; this file never opens an engine of its own.

To write the next revision after changing app/store/tables.py, upgrade a scratch database to
head and let autogenerate compare it with the models, on a sync connection to it:

    config = app.store.db.alembic_config(connection)  # e.g. on create_engine("sqlite://")
    alembic.command.upgrade(config, "head")
    alembic.command.revision(config, "what changed", autogenerate=True, rev_id="0002")

then review the file it writes in versions/. On SQLite it writes batch operations, since SQLite
can alter little in place: batch mode copies the table to a new one and drops the old. Beware:
rung's connections have foreign keys on, and SQLite ignores `PRAGMA foreign_keys` inside the
upgrade's transaction, so dropping a table that others reference with ON DELETE CASCADE deletes
their rows. A migration that must rebuild such a table needs create_schema to switch foreign keys
off around the transaction first.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import Connection

from app.store.tables import Base, UtcDateTime


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations stay free of the app's imports: UtcDateTime is stored as a timestamp with zone.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def record(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    # app.store.db logs what was applied, once, after Alembic's own INFO lines are silenced.
    if step.is_migration and step.is_upgrade and step.up_revision_id:
        context.config.attributes.setdefault("applied", []).append(step.up_revision_id)


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
        on_version_apply=record,
    )
    # The caller's transaction is already open, so this one is only logical.
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise RuntimeError(
        "rung's migrations run on a connection from app.store.db (Store.open runs them at "
        "start); there is no alembic.ini or offline mode"
    )
run_migrations(connection)
