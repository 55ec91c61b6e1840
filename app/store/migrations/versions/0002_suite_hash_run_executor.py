"""Suites stored once per content; runs owned by an executor (the service or the CLI).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _suite_hash(suite: sa.Row[tuple[str, str, str]], cases: list[object]) -> str:
    # The same digest the application computes for a new suite (app/store/suites.py): the
    # suite as stored, keys sorted, compact separators. Written out here so this revision
    # keeps meaning what it meant when it was written, whatever the application does later.
    body = {
        "name": suite.name,
        "description": suite.description,
        "system_prompt": suite.system_prompt,
        "cases": cases,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("suites") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(64), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("executor", sa.String(16), nullable=False, server_default="service")
        )

    # Suites stored before: the oldest copy of each content gets its hash, so the next post
    # of that suite finds it; later duplicates keep no hash (their runs still point at them).
    conn = op.get_bind()
    suites = sa.table(
        "suites",
        sa.column("id"),
        sa.column("name"),
        sa.column("description"),
        sa.column("system_prompt"),
        sa.column("created_at"),
        sa.column("content_hash"),
    )
    suite_cases = sa.table("suite_cases", sa.column("suite_id"), sa.column("position"),
                           sa.column("body", sa.JSON()))  # fmt: skip
    seen: set[str] = set()
    rows = conn.execute(sa.select(suites).order_by(suites.c.created_at, suites.c.id)).all()
    for suite in rows:
        cases = conn.execute(
            sa.select(suite_cases.c.body)
            .where(suite_cases.c.suite_id == suite.id)
            .order_by(suite_cases.c.position)
        ).scalars()
        digest = _suite_hash(suite, list(cases))
        if digest in seen:
            continue
        seen.add(digest)
        conn.execute(sa.update(suites).where(suites.c.id == suite.id).values(content_hash=digest))
    op.create_index("ix_suites_content_hash", "suites", ["content_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_suites_content_hash", table_name="suites")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("executor")
    with op.batch_alter_table("suites") as batch:
        batch.drop_column("content_hash")
