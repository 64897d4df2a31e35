"""Waking status streams and waiting submits when their job changes, across processes.

Workers run in other processes (or machines), so the API learns of a change from the
store: on PostgreSQL every state or progress change sends ``NOTIFY lamina_job_changes``
with the job's id (one listening connection per API process, started on first use); on
SQLite, which has no notifications, a waiter re-reads the job every :data:`SQLITE_POLL_S`
(one ~40 us indexed read in WAL mode). Either way the waiter re-reads the job's status
itself; a wake-up only says when.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lamina.jobs.store import JobStore
from lamina.jobs.wakeup import listen_for_changes

SQLITE_POLL_S = 0.2
"""How often a waiter re-reads its job on SQLite."""
NOTIFIED_POLL_S = 2.0
"""How often a waiter re-reads its job on PostgreSQL anyway: queue positions move without
a notification of this job, and a notification may be lost while the listener reconnects."""


class ChangeFeed:
    """Per-job wake-ups for coroutines, fed by the store's notifications (PostgreSQL) or
    by time (SQLite). Thread-safe; one per API process."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.poll_s = NOTIFIED_POLL_S if store.dialect == "postgresql" else SQLITE_POLL_S
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    @contextmanager
    def subscribe(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``job_id`` may have changed (clear it before re-reading)."""
        loop = asyncio.get_running_loop()
        entry = (loop, asyncio.Event())
        with self._lock:
            self._start_listener()
            self._waiters.setdefault(job_id, set()).add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                waiters = self._waiters.get(job_id)
                if waiters is not None:
                    waiters.discard(entry)
                    if not waiters:
                        del self._waiters[job_id]

    async def wait(self, event: asyncio.Event, timeout: float) -> None:
        """Until ``event`` is set or ``min(timeout, poll_s)`` passes; then clears it."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), min(timeout, self.poll_s))
        event.clear()

    def close(self) -> None:
        """Stop the listener (at shutdown)."""
        self._stop.set()
        if self._listener is not None:
            self._listener.join(5.0)

    def _start_listener(self) -> None:
        if self._listener is None and self.store.dialect == "postgresql":
            self._listener = listen_for_changes(self.store.url, self._changed, self._stop)

    def _changed(self, job_id: str | None) -> None:
        """From the listener thread: wake the waiters of ``job_id`` (``None``: everyone)."""
        with self._lock:
            if job_id is None:
                entries = [e for waiters in self._waiters.values() for e in waiters]
            else:
                entries = list(self._waiters.get(job_id, ()))
        for loop, event in entries:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)
