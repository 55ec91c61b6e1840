"""Corpora for the retrieved arm, and what that arm found per case.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "corpora",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("passage_count", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("index_blob", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_corpora_content_hash", "corpora", ["content_hash"], unique=True)
    op.create_table(
        "corpus_passages",
        sa.Column("corpus_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("passage_id", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source_case", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["corpus_id"], ["corpora.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("corpus_id", "position"),
    )
    # New nullable columns only: added in place, no rebuild of case_results.
    with op.batch_alter_table("case_results") as batch:
        batch.add_column(sa.Column("retrieved_passed", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("retrieval_recall", sa.Float(), nullable=True))
        batch.add_column(sa.Column("retrieved", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_results") as batch:
        batch.drop_column("retrieved")
        batch.drop_column("retrieval_recall")
        batch.drop_column("retrieved_passed")
    op.drop_table("corpus_passages")
    op.drop_index("ix_corpora_content_hash", table_name="corpora")
    op.drop_table("corpora")
