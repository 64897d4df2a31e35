"""The registry of worker processes, which ``/metrics`` counts as alive and busy."""

from __future__ import annotations

import os
import socket

import sqlalchemy as sa

from lamina.jobs.models import workers
from lamina.jobs.store.base import StoreBase


class WorkersMixin(StoreBase):
    """Workers announce themselves, refresh their heartbeat, and leave."""

    def register_worker(self, worker_id: str) -> None:
        """Record a worker as alive (call again with :meth:`worker_seen`)."""
        now = self.clock()
        stmt = sa.insert(workers).values(
            id=worker_id,
            hostname=socket.gethostname()[:255],
            pid=os.getpid(),
            started_at=now,
            last_seen=now,
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def worker_seen(self, worker_id: str, *, job_id: str | None) -> None:
        """Refresh a worker's heartbeat and the job it is running."""
        stmt = (
            sa.update(workers)
            .where(workers.c.id == worker_id)
            .values(last_seen=self.clock(), job_id=job_id)
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def unregister_worker(self, worker_id: str) -> None:
        """Forget a worker that stopped cleanly."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(workers).where(workers.c.id == worker_id))
