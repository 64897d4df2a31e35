"""An ``(owner, seq)`` index: ``GET /v1/requests`` lists a key's requests newest first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_lamina_jobs_owner_seq", "lamina_jobs", ["owner", "seq"])


def downgrade() -> None:
    op.drop_index("ix_lamina_jobs_owner_seq", table_name="lamina_jobs")
