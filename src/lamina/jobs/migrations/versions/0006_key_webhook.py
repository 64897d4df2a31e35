"""A default webhook per API key: ``lamina_api_keys.webhook_url``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lamina_api_keys") as batch:
        batch.add_column(sa.Column("webhook_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lamina_api_keys") as batch:
        batch.drop_column("webhook_url")
