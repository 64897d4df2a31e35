"""Initial schema: jobs, workers and API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lamina.jobs.models import JSONType, SeqType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lamina_jobs",
        sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("params", JSONType, nullable=False),
        sa.Column("input_key", sa.String(512), nullable=True),
        sa.Column("input_url", sa.Text(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("worker_id", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("started_ts", sa.Float(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("run_s", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", JSONType, nullable=True),
    )
    op.create_index("ix_lamina_jobs_state_seq", "lamina_jobs", ["state", "seq"])
    op.create_index("ix_lamina_jobs_state_lease", "lamina_jobs", ["state", "lease_expires_at"])
    op.create_index("ix_lamina_jobs_finished_at", "lamina_jobs", ["finished_at"])
    op.create_table(
        "lamina_workers",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_lamina_workers_last_seen", "lamina_workers", ["last_seen"])
    op.create_table(
        "lamina_api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("lamina_api_keys")
    op.drop_index("ix_lamina_workers_last_seen", table_name="lamina_workers")
    op.drop_table("lamina_workers")
    op.drop_index("ix_lamina_jobs_finished_at", table_name="lamina_jobs")
    op.drop_index("ix_lamina_jobs_state_lease", table_name="lamina_jobs")
    op.drop_index("ix_lamina_jobs_state_seq", table_name="lamina_jobs")
    op.drop_table("lamina_jobs")
