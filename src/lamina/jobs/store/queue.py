"""The API side of the queue: submit, read, poll, list and cancel jobs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from lamina.errors import JobNotFound
from lamina.jobs.models import jobs
from lamina.jobs.states import JobState
from lamina.jobs.store.base import StoreBase, _leaving
from lamina.jobs.store.records import (
    WEBHOOK_PENDING,
    CancelOutcome,
    Job,
    JobStatus,
    JobSummary,
    _job,
)


class QueueMixin(StoreBase):
    """Jobs as the API sees them: queued, polled, listed and cancelled."""

    def submit(
        self,
        *,
        owner: str,
        model_id: str,
        params: Mapping[str, Any],
        input_key: str | None = None,
        input_url: str | None = None,
        webhook: Mapping[str, str] | None = None,
    ) -> Job:
        """Queue a job at the back of the queue (on PostgreSQL, ``NOTIFY`` the idle workers
        in the same transaction). With ``webhook`` (``url``, ``base_url``) its terminal
        state is delivered there (:meth:`claim_webhook`)."""
        if (input_key is None) == (input_url is None):
            raise ValueError("give exactly one of input_key and input_url")
        now = self.clock()
        stmt = (
            sa.insert(jobs)
            .values(
                id=uuid.uuid4().hex,
                owner=owner,
                model_id=model_id,
                state=JobState.IN_QUEUE.value,
                params=dict(params),
                input_key=input_key,
                input_url=input_url,
                progress=0.0,
                attempts=0,
                created_at=now,
                created_ts=now.timestamp(),
                webhook=dict(webhook) if webhook else None,
                webhook_state=WEBHOOK_PENDING if webhook else None,
            )
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            job = _job(conn.execute(stmt).one())
            self._notify(conn)
        return job

    def get(self, job_id: str, *, owner: str | None = None) -> Job:
        """The job, or :class:`JobNotFound` (also when ``owner`` is given and differs)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one_or_none()
        if row is None or (owner is not None and row.owner != owner):
            raise JobNotFound(f"no job {job_id!r}")
        return _job(row)

    def status(self, job_id: str, *, owner: str | None = None) -> JobStatus:
        """The job's state, progress and queue position in ONE query (the polling path).

        Raises :class:`JobNotFound` like :meth:`get`. Positions are counted as
        :meth:`queue_position` counts them; the JSON columns are not read.
        """
        with self._reader.connect() as conn:
            row = conn.execute(self._status_stmt, {"job_id": job_id}).one_or_none()
        if row is None or (owner is not None and row.owner != owner):
            raise JobNotFound(f"no job {job_id!r}")
        position = 0
        if row.ahead is not None:
            position = self._position(int(row.seq), int(row.ahead), row.head)
        return JobStatus(
            id=row.id,
            state=JobState(row.state),
            progress=float(row.progress),
            queue_position=position,
            stage=row.stage,
        )

    def list_jobs(
        self,
        *,
        owner: str,
        state: JobState | None = None,
        before_seq: int | None = None,
        limit: int = 20,
    ) -> list[JobSummary]:
        """``owner``'s jobs, newest first: at most ``limit`` with ``seq`` below ``before_seq``
        (the cursor of the page before), optionally in one ``state``. Reads the
        ``(owner, seq)`` index, never the JSON columns."""
        stmt = (
            sa.select(
                jobs.c.id,
                jobs.c.seq,
                jobs.c.model_id,
                jobs.c.state,
                jobs.c.progress,
                jobs.c.created_at,
                jobs.c.finished_at,
            )
            .where(jobs.c.owner == owner)
            .order_by(jobs.c.seq.desc())
            .limit(limit)
        )
        if state is not None:
            stmt = stmt.where(jobs.c.state == state.value)
        if before_seq is not None:
            stmt = stmt.where(jobs.c.seq < before_seq)
        with self._reader.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            JobSummary(
                id=row.id,
                seq=int(row.seq),
                model_id=row.model_id,
                state=JobState(row.state),
                progress=float(row.progress),
                created_at=row.created_at,
                finished_at=row.finished_at,
            )
            for row in rows
        ]

    def _position(self, seq: int, ahead: int, head: int | None) -> int:
        """Exact below :attr:`exact_positions`, else the ``seq`` distance to the head."""
        if ahead < self.exact_positions:
            return ahead
        return max(ahead, seq - int(head if head is not None else seq))

    def queue_position(self, job: Job) -> int:
        """Jobs ahead of ``job`` in the queue (0 when it is next or no longer queued).

        Exact for the first :attr:`exact_positions` places: a count over at most that many
        entries of the ``(state, seq)`` index. Deeper in the queue it is the ``seq`` distance
        to the head (one more index lookup), which over-counts only the jobs between that
        left the queue out of order (cancelled while queued, or claimed after a requeue).
        Either way the cost does not grow with the queue.
        """
        if job.state is not JobState.IN_QUEUE:
            return 0
        queued = jobs.c.state == JobState.IN_QUEUE.value
        window = (
            sa.select(jobs.c.seq)
            .where(queued, jobs.c.seq < job.seq)
            .order_by(jobs.c.seq.desc())
            .limit(self.exact_positions)
            .subquery()
        )
        with self.engine.connect() as conn:
            ahead = int(conn.execute(sa.select(sa.func.count()).select_from(window)).scalar_one())
            if ahead < self.exact_positions:
                return ahead
            head = conn.execute(sa.select(sa.func.min(jobs.c.seq)).where(queued)).scalar_one()
        return self._position(job.seq, ahead, head)

    def cancel(
        self, job_id: str, *, owner: str | None, running: bool = False
    ) -> tuple[Job, CancelOutcome]:
        """Cancel a queued job (idempotent); with ``running``, ask the worker of a running one
        to stop (``cancel_requested``: it records ``cancelled`` at its next checkpoint).
        A job that cannot be cancelled (finished, or running without ``running``) is
        ``not_cancellable``. ONE guarded statement whichever the state.

        Raises :class:`JobNotFound` for an unknown job or another owner's.
        """
        now = self.clock()
        queued = sa.and_(*_leaving(JobState.IN_QUEUE, JobState.CANCELLED))
        states = [JobState.IN_QUEUE.value]
        if running:
            states.append(JobState.IN_PROGRESS.value)
        where = [jobs.c.id == job_id, jobs.c.state.in_(states)]
        if owner is not None:
            where.append(jobs.c.owner == owner)
        # every SET expression reads the row as it was before the statement
        stmt = (
            sa.update(jobs)
            .where(*where)
            .values(
                state=sa.case((queued, JobState.CANCELLED.value), else_=jobs.c.state),
                cancel_requested=sa.case((queued, jobs.c.cancel_requested), else_=sa.true()),
                finished_at=sa.case((queued, now), else_=jobs.c.finished_at),
                total_s=sa.case(
                    (queued, now.timestamp() - jobs.c.created_ts), else_=jobs.c.total_s
                ),
            )
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).one_or_none()
            if row is not None:
                self._changed(conn, [job_id])
            if row is not None and row.state == JobState.IN_PROGRESS.value:
                return _job(row), "cancel_requested"
        if row is not None:
            return _job(row), "cancelled"
        job = self.get(job_id, owner=owner)
        if job.state is JobState.CANCELLED:
            return job, "cancelled"
        return job, "not_cancellable"
