"""The claim loop: claim jobs one at a time, sleep until woken when there are none, and
between claims reap expired leases and purge jobs past retention."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from lamina.jobs.retention import purge_expired
from lamina.jobs.wakeup import listen_for_jobs
from lamina.jobs.worker.base import log
from lamina.jobs.worker.supervision import SupervisionMixin

STORE_RETRY_S = 5.0
"""Pause after a job store error (the database is down or busy)."""


class ClaimLoopMixin(SupervisionMixin):
    """Feeds claimed jobs to the supervision until stopped."""

    def wake(self) -> None:
        """Make an idle :meth:`run` look for a job (or at ``stop``) now; signal-safe."""
        self.wakeup.set()

    def close(self) -> None:
        """Release the wake-up pipe (after the last :meth:`run`)."""
        self.wakeup.close()

    def run(self, stop: threading.Event, *, max_jobs: int | None = None) -> int:
        """Claim and run jobs until ``stop`` is set or ``max_jobs`` ran; returns jobs run."""
        self.setup()
        self.store.register_worker(self.id)
        done = 0
        next_reap = next_purge = 0.0
        stop_listening = threading.Event()
        listener = None
        if self.store.dialect == "postgresql":
            listener = listen_for_jobs(self.store.url, self.wakeup, stop_listening)
        try:
            while not stop.is_set() and not self.spent and (max_jobs is None or done < max_jobs):
                now = time.monotonic()
                try:
                    if now >= next_reap:
                        self.store.reap_expired(max_attempts=self.settings.max_attempts)
                        self.store.worker_seen(self.id, job_id=None)
                        next_reap = now + self.heartbeat_s
                    if now >= next_purge:
                        before = self.store.clock() - timedelta(days=self.settings.retention_days)
                        purge_expired(self.store, self.storage, before=before)
                        next_purge = now + self.purge_every_s
                    job = self.store.claim(self.id, lease_s=self.settings.lease_s)
                except Exception:  # the database is down or busy: wait and try again
                    log.exception("worker %s: job store error; retrying", self.id)
                    stop.wait(STORE_RETRY_S)
                    continue
                if job is None and not stop.is_set():
                    # sleep until woken, the fallback poll, or the next heartbeat is due
                    self.wakeup.wait(min(self.poll_s, next_reap - time.monotonic()))
                    continue
                if job is not None:
                    self.process(job, stop)
                    done += 1
        finally:
            stop_listening.set()
            try:
                self.store.unregister_worker(self.id)
            except Exception:
                log.exception("worker %s: could not unregister", self.id)
            if listener is not None:
                listener.join(5.0)
        return done
