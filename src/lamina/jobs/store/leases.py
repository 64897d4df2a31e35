"""The worker side of the queue: claim a job under a lease, keep it with checkpoints, and
record how it ended, each change ONE statement guarded by the state table and the lease."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lamina.jobs.models import jobs
from lamina.jobs.states import JobState
from lamina.jobs.store.base import MAX_ERROR_CHARS, StoreBase, _leaving, _oldest, _ours
from lamina.jobs.store.records import Checkpoint, Job, JobResult, _job

_NOT_STARTED: dict[str, Any] = {
    "worker_id": None,
    "progress": 0.0,
    "started_at": None,
    "started_ts": None,
    "wait_s": None,
    "lease_expires_at": None,
}
"""What a job back in the queue forgets of its last run."""


def _ended(now: datetime) -> dict[str, Any]:
    """The columns every end of a run sets: when, how long it ran and lived, no lease."""
    return {
        "finished_at": now,
        "run_s": now.timestamp() - jobs.c.started_ts,
        "total_s": now.timestamp() - jobs.c.created_ts,
        "lease_expires_at": None,
    }


class LeasesMixin(StoreBase):
    """What a worker does to the jobs it runs, and the reaping of jobs whose worker died."""

    def claim(self, worker_id: str, *, lease_s: float) -> Job | None:
        """Take the oldest queued job, or ``None``; counts one attempt."""
        now = self.clock()
        oldest = _oldest(jobs.c.state == JobState.IN_QUEUE.value)
        stmt = (
            sa.update(jobs)
            .where(jobs.c.seq == oldest, *_leaving(JobState.IN_QUEUE, JobState.IN_PROGRESS))
            .values(
                state=JobState.IN_PROGRESS.value,
                worker_id=worker_id,
                attempts=jobs.c.attempts + 1,
                progress=0.0,
                stage=None,
                started_at=now,
                started_ts=now.timestamp(),
                wait_s=now.timestamp() - jobs.c.created_ts,
                lease_expires_at=now + timedelta(seconds=lease_s),
            )
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).one_or_none()
            if row is not None:
                self._changed(conn, [row.id])
        return None if row is None else _job(row)

    def heartbeat(
        self, job_id: str, worker_id: str, *, lease_s: float, progress: float | None = None
    ) -> bool:
        """Extend the lease (and record progress); ``False`` means the job is no longer ours."""
        return self.checkpoint(job_id, worker_id, lease_s=lease_s, progress=progress) != "lost"

    def checkpoint(
        self,
        job_id: str,
        worker_id: str,
        *,
        lease_s: float,
        progress: float | None = None,
        stage: str | None = None,
    ) -> Checkpoint:
        """Extend the lease and record progress (and the stage), in one statement that also
        reads whether a cancel was requested: ``running`` (carry on), ``cancel`` (stop and
        :meth:`finish_cancelled`) or ``lost`` (no longer ours)."""
        values: dict[str, Any] = {"lease_expires_at": self.clock() + timedelta(seconds=lease_s)}
        if progress is not None:
            values["progress"] = min(max(float(progress), 0.0), 1.0)
        if stage is not None:
            values["stage"] = stage[:32]
        stmt = (
            sa.update(jobs)
            .where(*_ours(job_id, worker_id))
            .values(**values)
            .returning(jobs.c.cancel_requested)
        )
        with self.engine.begin() as conn:
            flag = conn.execute(stmt).scalar_one_or_none()
            if flag is not None and (progress is not None or stage is not None):
                self._changed(conn, [job_id])
        if flag is None:
            return "lost"
        return "cancel" if flag else "running"

    def complete(self, job_id: str, worker_id: str, result: JobResult) -> bool:
        """Mark our running job completed with ``result``; ``False`` if it is no longer ours."""
        now = self.clock()
        return self._guarded(
            job_id,
            worker_id,
            JobState.COMPLETED,
            {
                "result": dict(result),
                "progress": 1.0,
                **_ended(now),
            },
        )

    def fail(self, job_id: str, worker_id: str, error: str) -> bool:
        """Mark our running job failed with a readable ``error``."""
        now = self.clock()
        return self._guarded(
            job_id,
            worker_id,
            JobState.FAILED,
            {
                "error": error[:MAX_ERROR_CHARS],
                **_ended(now),
            },
        )

    def finish_cancelled(self, job_id: str, worker_id: str) -> bool:
        """Record that our running job stopped because a cancel was requested; ``False`` if
        it is no longer ours or no cancel was requested."""
        now = self.clock()
        return self._guarded(
            job_id,
            worker_id,
            JobState.CANCELLED,
            _ended(now),
        )

    def release(self, job_id: str, worker_id: str, *, count_attempt: bool = False) -> bool:
        """Put our running job back at its place in the queue, without counting the attempt
        (the worker is stopping) or counting it (the job met a fault that may pass).
        Refused once a cancel was requested: :meth:`finish_cancelled` instead."""
        return self._guarded(
            job_id,
            worker_id,
            JobState.IN_QUEUE,
            notify=True,
            values={
                **_NOT_STARTED,
                "attempts": jobs.c.attempts - (0 if count_attempt else 1),
            },
        )

    def _guarded(
        self,
        job_id: str,
        worker_id: str,
        target: JobState,
        values: dict[str, Any],
        *,
        notify: bool = False,
    ) -> bool:
        """One ``UPDATE`` moving our running job to ``target``, guarded as the transition
        table says (:func:`_leaving`: to ``cancelled`` only once a cancel was requested,
        anywhere else only if none was)."""
        stmt = (
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.worker_id == worker_id)
            .where(*_leaving(JobState.IN_PROGRESS, target))
            .values(state=target.value, **values)
        )
        with self.engine.begin() as conn:
            changed = conn.execute(stmt).rowcount == 1
            if changed:
                self._changed(conn, [job_id])
            if changed and notify:
                self._notify(conn)
        return changed

    def reap_expired(self, *, max_attempts: int) -> int:
        """Requeue running jobs whose lease expired (their worker died); fail those that used
        ``max_attempts`` attempts and cancel those whose cancel was requested. Returns how
        many jobs were requeued, failed or cancelled."""
        now = self.clock()
        expired = jobs.c.lease_expires_at < now
        running = JobState.IN_PROGRESS
        cancel = (
            sa.update(jobs)
            .where(expired, *_leaving(running, JobState.CANCELLED))
            .values(
                state=JobState.CANCELLED.value,
                **_ended(now),
            )
        )
        give_up = (
            sa.update(jobs)
            .where(expired, *_leaving(running, JobState.FAILED), jobs.c.attempts >= max_attempts)
            .values(
                state=JobState.FAILED.value,
                error=f"the worker running this job stopped responding {max_attempts} "
                "time(s); giving up",
                **_ended(now),
            )
        )
        requeue = (
            sa.update(jobs)
            .where(expired, *_leaving(running, JobState.IN_QUEUE), jobs.c.attempts < max_attempts)
            .values(
                state=JobState.IN_QUEUE.value,
                **_NOT_STARTED,
            )
        )
        with self.engine.begin() as conn:
            ended = [
                *conn.execute(cancel.returning(jobs.c.id)).scalars(),
                *conn.execute(give_up.returning(jobs.c.id)).scalars(),
            ]
            requeued = list(conn.execute(requeue.returning(jobs.c.id)).scalars())
            if requeued:
                self._notify(conn)
            self._changed(conn, ended + requeued)
        return len(ended) + len(requeued)
