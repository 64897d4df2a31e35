"""Webhook deliveries of finished jobs: leased claims, settling, and the attempt log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lamina.jobs.models import jobs, webhook_attempts
from lamina.jobs.states import FINISHED
from lamina.jobs.store.base import MAX_ERROR_CHARS, StoreBase, _oldest
from lamina.jobs.store.records import (
    WEBHOOK_DELIVERED,
    WEBHOOK_FAILED,
    WEBHOOK_PENDING,
    Job,
    WebhookAttempt,
    _job,
)


class WebhooksMixin(StoreBase):
    """The deliveries that the webhook dispatcher claims and records."""

    def claim_webhook(self, *, lease_s: float) -> Job | None:
        """Take the oldest due webhook delivery of a finished job, or ``None``; counts one
        attempt. The delivery is leased: until ``lease_s`` passes no one else takes it, and
        after that (its dispatcher died) it is due again, so a restart loses none."""
        now = self.clock()
        due = [
            jobs.c.webhook_state == WEBHOOK_PENDING,
            jobs.c.state.in_([state.value for state in FINISHED]),
            sa.or_(jobs.c.webhook_next_at.is_(None), jobs.c.webhook_next_at <= now),
        ]
        oldest = _oldest(*due)
        stmt = (
            sa.update(jobs)
            .where(jobs.c.seq == oldest, *due)
            .values(
                webhook_next_at=now + timedelta(seconds=lease_s),
                webhook_attempts=jobs.c.webhook_attempts + 1,
            )
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else _job(row)

    def record_webhook(
        self,
        job_id: str,
        *,
        attempt: int,
        status_code: int | None,
        error: str | None,
        duration_s: float,
        retry_at: datetime | None,
    ) -> bool:
        """Log one delivery attempt and settle the delivery in the same transaction:
        ``delivered`` without an ``error``, else due again at ``retry_at`` (``None``: attempts
        used up, ``failed``). The schedule changes only if ``attempt`` is still the latest
        (a dispatcher whose lease lapsed cannot undo its successor's); returns whether it did."""
        now = self.clock()
        if error is None:
            values: dict[str, Any] = {"webhook_state": WEBHOOK_DELIVERED, "webhook_next_at": None}
        elif retry_at is None:
            values = {"webhook_state": WEBHOOK_FAILED, "webhook_next_at": None}
        else:
            values = {"webhook_next_at": retry_at}
        settle = (
            sa.update(jobs)
            .where(
                jobs.c.id == job_id,
                jobs.c.webhook_state == WEBHOOK_PENDING,
                jobs.c.webhook_attempts == attempt,
            )
            .values(**values)
        )
        log_row = sa.insert(webhook_attempts).values(
            job_id=job_id,
            attempt=attempt,
            at=now,
            status_code=status_code,
            error=None if error is None else error[:MAX_ERROR_CHARS],
            duration_s=duration_s,
        )
        with self.engine.begin() as conn:
            conn.execute(log_row)
            return conn.execute(settle).rowcount == 1

    def webhook_log(self, job_id: str) -> list[WebhookAttempt]:
        """Every delivery attempt of ``job_id``'s webhook, oldest first."""
        stmt = (
            sa.select(webhook_attempts)
            .where(webhook_attempts.c.job_id == job_id)
            .order_by(webhook_attempts.c.seq)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            WebhookAttempt(
                attempt=int(row.attempt),
                at=row.at,
                status_code=row.status_code,
                error=row.error,
                duration_s=float(row.duration_s),
            )
            for row in rows
        ]
