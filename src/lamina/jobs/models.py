"""The job store's tables (SQLAlchemy Core), shared by the store and the Alembic migrations.

Only migrations create or change these tables; :meth:`JobStore.migrate` runs them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive ISO text, compared as text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType: Any = sa.JSON().with_variant(JSONB(), "postgresql")
SeqType: Any = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""SQLite autoincrements only an ``INTEGER PRIMARY KEY``."""

metadata = sa.MetaData()

jobs = sa.Table(
    "lamina_jobs",
    metadata,
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
    sa.Column("created_ts", sa.Float(), nullable=True),
    sa.Column("wait_s", sa.Float(), nullable=True),
    sa.Column("total_s", sa.Float(), nullable=True),
    sa.Column("stage", sa.String(32), nullable=True),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("webhook", JSONType, nullable=True),
    sa.Column("webhook_state", sa.String(16), nullable=True),
    sa.Column("webhook_next_at", UTCDateTime(), nullable=True),
    sa.Column("webhook_attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Index("ix_lamina_jobs_state_seq", "state", "seq"),
    sa.Index("ix_lamina_jobs_state_lease", "state", "lease_expires_at"),
    sa.Index("ix_lamina_jobs_finished_at", "finished_at"),
    sa.Index("ix_lamina_jobs_owner_seq", "owner", "seq"),
    sa.Index("ix_lamina_jobs_webhook_due", "webhook_state", "webhook_next_at"),
)
"""One row per job. ``seq`` orders the queue (FIFO) and makes ``queue_position`` an index
range count on ``(state, seq)``; ``started_ts``/``run_s`` let one guarded ``UPDATE`` record
the run time on every backend, as ``created_ts`` does for ``wait_s`` (submit to the latest
start) and ``total_s`` (submit to the end). ``stage`` names the step a running job is in;
``cancel_requested`` asks its worker to stop at the next checkpoint. ``webhook`` (``url``,
``base_url``) is where the terminal state is POSTed; ``webhook_state`` is ``pending`` until
it is ``delivered`` or ``failed`` (attempts used up), ``webhook_next_at`` when the next
attempt is due (``NULL``: as soon as the job has ended)."""

workers = sa.Table(
    "lamina_workers",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen", UTCDateTime(), nullable=False),
    sa.Column("job_id", sa.String(32), nullable=True),
    sa.Index("ix_lamina_workers_last_seen", "last_seen"),
)
"""Workers heartbeat here, so every API process knows how many workers are alive."""

api_keys = sa.Table(
    "lamina_api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("webhook_url", sa.Text(), nullable=True),
)
"""API keys: only a SHA-256 of the secret and a short prefix for display are kept;
``webhook_url`` is the key's default webhook (for submits that name none)."""

webhook_attempts = sa.Table(
    "lamina_webhook_attempts",
    metadata,
    sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(32), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("duration_s", sa.Float(), nullable=False),
    sa.Index("ix_lamina_webhook_attempts_job", "job_id", "seq"),
)
"""One row per webhook delivery attempt: the per-request delivery log (deleted with the job)."""
