"""The judge's sufficient-context check per case result.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns only: SQLite adds them in place, no table is rebuilt.
    with op.batch_alter_table("case_results") as batch:
        batch.add_column(sa.Column("facts_sufficient", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("facts_reason", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_results") as batch:
        batch.drop_column("facts_reason")
        batch.drop_column("facts_sufficient")
