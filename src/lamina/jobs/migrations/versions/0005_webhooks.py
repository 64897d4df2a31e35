"""Webhooks: the job's webhook and its delivery schedule, and a log of delivery attempts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lamina.jobs.models import JSONType, SeqType, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lamina_jobs") as batch:
        batch.add_column(sa.Column("webhook", JSONType, nullable=True))
        batch.add_column(sa.Column("webhook_state", sa.String(16), nullable=True))
        batch.add_column(sa.Column("webhook_next_at", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("webhook_attempts", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_index(
        "ix_lamina_jobs_webhook_due", "lamina_jobs", ["webhook_state", "webhook_next_at"]
    )
    op.create_table(
        "lamina_webhook_attempts",
        sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
    )
    op.create_index("ix_lamina_webhook_attempts_job", "lamina_webhook_attempts", ["job_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_lamina_webhook_attempts_job", table_name="lamina_webhook_attempts")
    op.drop_table("lamina_webhook_attempts")
    op.drop_index("ix_lamina_jobs_webhook_due", table_name="lamina_jobs")
    with op.batch_alter_table("lamina_jobs") as batch:
        batch.drop_column("webhook_attempts")
        batch.drop_column("webhook_next_at")
        batch.drop_column("webhook_state")
        batch.drop_column("webhook")
