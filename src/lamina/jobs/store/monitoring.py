"""Numbers for ``/metrics`` (counts, histograms) and the retention purge."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lamina.jobs.models import jobs, webhook_attempts, workers
from lamina.jobs.states import FINISHED, JobState
from lamina.jobs.store.base import StoreBase
from lamina.jobs.store.records import Job, _job

DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
"""Upper bounds (seconds) of the run-time and duration histograms of :meth:`JobStore.stats`."""
WAIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
"""Upper bounds (seconds) of the queue-wait histogram: pick-up is milliseconds when idle."""


class MonitoringMixin(StoreBase):
    """Read-mostly queries over the whole table: ``/metrics`` and retention."""

    def stats(self) -> dict[str, Any]:
        """Numbers for ``/metrics``: ``queue_depth``, ``states`` (count per state),
        ``workers_alive``, ``workers_busy``, ``oldest_queued_s`` and three histograms, each
        ``{label: {"buckets": cumulative [(le, count)], "sum": s, "count": n}}``:

        - ``durations``: submit to end, per finished state (completed, failed, cancelled);
        - ``run_times``: claim to end on a worker, per state (completed, failed);
        - ``queue_wait``: submit to the latest start of every started job (label ``""``).
        """
        now = self.clock()
        alive_since = now - timedelta(seconds=self.worker_ttl_s)
        finished = [JobState.COMPLETED.value, JobState.FAILED.value, JobState.CANCELLED.value]
        started = [JobState.IN_PROGRESS.value, JobState.COMPLETED.value, JobState.FAILED.value]
        with self.engine.connect() as conn:
            counts: dict[str, int] = dict(
                conn.execute(sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state)).all()
            )
            durations = _histograms(conn, jobs.c.total_s, DURATION_BUCKETS, finished, by_state=True)
            run_times = _histograms(
                conn, jobs.c.run_s, DURATION_BUCKETS, started[1:], by_state=True
            )
            queue_wait = _histograms(conn, jobs.c.wait_s, WAIT_BUCKETS, started, by_state=False)
            alive, busy = conn.execute(
                sa.select(sa.func.count(), sa.func.count(workers.c.job_id)).where(
                    workers.c.last_seen >= alive_since
                )
            ).one()
            oldest = conn.execute(
                sa.select(jobs.c.created_at)
                .where(jobs.c.state == JobState.IN_QUEUE.value)
                .order_by(jobs.c.seq)
                .limit(1)
            ).scalar_one_or_none()
        states = {state.value: int(counts.get(state.value, 0)) for state in JobState}
        return {
            "queue_depth": states[JobState.IN_QUEUE.value],
            "states": states,
            "workers_alive": int(alive),
            "workers_busy": int(busy),
            "oldest_queued_s": 0.0 if oldest is None else (now - oldest).total_seconds(),
            "durations": durations,
            "run_times": run_times,
            "queue_wait": queue_wait,
        }

    def purge_before(self, before: datetime) -> list[Job]:
        """Delete finished jobs that finished before ``before`` and workers not seen since;
        returns the deleted jobs so the caller can delete their files."""
        finished = [state.value for state in FINISHED]
        stmt = (
            sa.delete(jobs)
            .where(jobs.c.state.in_(finished), jobs.c.finished_at < before)
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(stmt).all()
            gone = [row.id for row in rows]
            if gone:
                conn.execute(sa.delete(webhook_attempts).where(webhook_attempts.c.job_id.in_(gone)))
            conn.execute(sa.delete(workers).where(workers.c.last_seen < before))
        return [_job(row) for row in rows]


def _histograms(
    conn: sa.Connection,
    column: sa.ColumnElement[Any],
    bounds: tuple[float, ...],
    states: list[str],
    *,
    by_state: bool,
) -> dict[str, dict[str, Any]]:
    """Cumulative histograms of ``column`` over jobs in ``states``, one aggregate query:
    per state (every state present, empty ones too) or, with ``by_state=False``, under ``""``."""
    cols = [sa.func.coalesce(sa.func.sum(sa.case((column <= le, 1), else_=0)), 0) for le in bounds]
    aggregates = [sa.func.count(), sa.func.coalesce(sa.func.sum(column), 0.0), *cols]
    where = (jobs.c.state.in_(states), column.is_not(None))
    if by_state:
        stmt = sa.select(jobs.c.state, *aggregates).where(*where).group_by(jobs.c.state)
    else:
        stmt = sa.select(sa.literal_column("''"), *aggregates).where(*where)
    labels = states if by_state else [""]
    found = {
        label: {"buckets": [(le, 0) for le in bounds], "sum": 0.0, "count": 0} for label in labels
    }
    for row in conn.execute(stmt):
        found[row[0]] = {
            "buckets": [(le, int(n)) for le, n in zip(bounds, row[3:], strict=True)],
            "sum": float(row[2]),
            "count": int(row[1]),
        }
    return found
