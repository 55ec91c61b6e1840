"""Comparisons of two runs; per-arm passes per case; a run's model parameters and baseline.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # New nullable columns only: SQLite adds them in place, so no table is rebuilt (a rebuild
    # of `runs` would cascade-delete the rows that reference it).
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("model_params", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("baseline_run_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("comparison_margin", sa.Float(), nullable=True))
    op.create_index("ix_runs_baseline_run_id", "runs", ["baseline_run_id"])
    with op.batch_alter_table("case_results") as batch:
        for name in ("closed_passes", "closed_scored", "open_passes", "open_scored"):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
    op.create_table(
        "comparisons",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("baseline_run_id", sa.String(32), nullable=False),
        sa.Column("candidate_run_id", sa.String(32), nullable=False),
        sa.Column("margin", sa.Float(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["baseline_run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["candidate_run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_comparisons_baseline_run_id", "comparisons", ["baseline_run_id"])
    op.create_index("ix_comparisons_candidate_run_id", "comparisons", ["candidate_run_id"])


def downgrade() -> None:
    op.drop_index("ix_comparisons_candidate_run_id", table_name="comparisons")
    op.drop_index("ix_comparisons_baseline_run_id", table_name="comparisons")
    op.drop_table("comparisons")
    with op.batch_alter_table("case_results") as batch:
        for name in ("open_scored", "open_passes", "closed_scored", "closed_passes"):
            batch.drop_column(name)
    op.drop_index("ix_runs_baseline_run_id", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("comparison_margin")
        batch.drop_column("baseline_run_id")
        batch.drop_column("model_params")
