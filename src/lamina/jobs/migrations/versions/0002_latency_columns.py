"""Latency columns: created_ts, wait_s (queue wait) and total_s (submit to end).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_EPOCH = {
    "postgresql": "EXTRACT(EPOCH FROM {col})",
    "sqlite": "(julianday({col}) - 2440587.5) * 86400.0",
}
"""Seconds since 1970 of a stored timestamp, per dialect (only for the backfill)."""


def upgrade() -> None:
    with op.batch_alter_table("lamina_jobs") as batch:
        batch.add_column(sa.Column("created_ts", sa.Float(), nullable=True))
        batch.add_column(sa.Column("wait_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("total_s", sa.Float(), nullable=True))
    epoch = _EPOCH[op.get_bind().dialect.name]
    created, started, finished = (
        epoch.format(col=c) for c in ("created_at", "started_at", "finished_at")
    )
    op.execute(f"UPDATE lamina_jobs SET created_ts = {created}")
    op.execute(
        f"UPDATE lamina_jobs SET wait_s = {started} - created_ts WHERE started_at IS NOT NULL"
    )
    op.execute(
        f"UPDATE lamina_jobs SET total_s = {finished} - created_ts WHERE finished_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("lamina_jobs") as batch:
        batch.drop_column("total_s")
        batch.drop_column("wait_s")
        batch.drop_column("created_ts")
