"""Progress stage and cancel requests: ``stage`` names what a running job is doing and
``cancel_requested`` asks its worker to stop at the next checkpoint.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lamina_jobs") as batch:
        batch.add_column(sa.Column("stage", sa.String(32), nullable=True))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("lamina_jobs") as batch:
        batch.drop_column("cancel_requested")
        batch.drop_column("stage")
