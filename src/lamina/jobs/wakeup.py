"""Waking idle workers the moment a job is queued, so a pick-up takes milliseconds rather
than a polling interval; polling stays as the fallback.

Two sources feed a worker's :class:`Wakeup`:

- PostgreSQL (any number of machines): the store sends ``NOTIFY lamina_jobs`` in the same
  transaction that queues a job, and :func:`listen_for_jobs` keeps a dedicated connection
  ``LISTEN``-ing in a thread of each worker process.
- ``lamina serve`` (SQLite, or any store): its worker pool hands each child the read end of a
  pipe (:data:`WAKE_FD_ENV`) and the API writes a byte to every child after a submit. No
  signals, so a child that is still starting cannot be killed by one; bytes wait in the pipe
  until the child looks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from lamina.jobs.store import CHANGES_CHANNEL, NOTIFY_CHANNEL

log = logging.getLogger(__name__)

WAKE_FD_ENV = "LAMINA_WORKER_WAKE_FD"
"""Set for ``lamina serve``'s pool children: a pipe's read end that receives a byte per submit."""


class Wakeup:
    """A level-triggered wake-up over a self-pipe.

    :meth:`set` may be called from any thread or a signal handler (one non-blocking
    ``write``); :meth:`wait` returns ``True`` at once when anything was set, or written to
    one of ``extra_fds`` by another process, since the last wait. A set that no wait sees
    yet is never lost; several sets before a wait count as one.
    """

    def __init__(self, *, extra_fds: Sequence[int] = ()) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        for fd in extra_fds:
            os.set_blocking(fd, False)
        self._fds = [self._read, *extra_fds]

    def set(self) -> None:
        """Wake the waiter (now, or at its next :meth:`wait`)."""
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is already pending
            os.write(self._write, b"\0")

    def wait(self, timeout: float) -> bool:
        """Block until woken or ``timeout`` seconds pass; whether it was woken."""
        ready, _, _ = select.select(self._fds, [], [], max(0.0, timeout))
        for fd in ready:
            if not _drain(fd) and fd != self._read:
                # end of file: the writer (the pool's parent) is gone; poll from now on
                self._fds.remove(fd)
                os.close(fd)
        return bool(ready)

    def close(self) -> None:
        """Close every descriptor."""
        for fd in {self._write, *self._fds}:
            os.close(fd)
        self._fds = []


def _drain(fd: int) -> bool:
    """Read everything pending; ``False`` at end of file."""
    while True:
        try:
            if not os.read(fd, 4096):
                return False
        except BlockingIOError:
            return True


def listen_for_jobs(url: sa.URL, wakeup: Wakeup, stop: threading.Event) -> threading.Thread:
    """A daemon thread that sets ``wakeup`` on every ``NOTIFY lamina_jobs`` until ``stop``.

    It reconnects after a lost connection (back-off up to 30 s) and sets ``wakeup`` once
    after each ``LISTEN``, for jobs queued while it was not listening.
    """
    thread = threading.Thread(
        target=_listen,
        args=(url, NOTIFY_CHANNEL, lambda _payload: wakeup.set(), stop),
        name="job-listener",
        daemon=True,
    )
    thread.start()
    return thread


def listen_for_changes(
    url: sa.URL, on_change: Callable[[str | None], None], stop: threading.Event
) -> threading.Thread:
    """A daemon thread that calls ``on_change(job_id)`` for every ``NOTIFY`` on
    :data:`~lamina.jobs.store.CHANGES_CHANNEL` until ``stop``, and ``on_change(None)`` after
    each ``LISTEN`` (changes made while it was not listening are unknown)."""
    thread = threading.Thread(
        target=_listen,
        args=(url, CHANGES_CHANNEL, on_change, stop),
        name="change-listener",
        daemon=True,
    )
    thread.start()
    return thread


def _listen(
    url: sa.URL,
    channel: str,
    on_notify: Callable[[str | None], None],
    stop: threading.Event,
) -> None:
    """``LISTEN`` on ``channel`` until ``stop``, reconnecting with back-off; ``on_notify``
    gets each payload, and ``None`` once listening (again)."""
    import psycopg

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    backoff = 0.5
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"LISTEN {channel}")
                on_notify(None)
                backoff = 0.5
                while not stop.is_set():
                    for note in conn.notifies(timeout=1.0, stop_after=1):
                        on_notify(note.payload)
        except psycopg.Error as exc:
            log.warning("%s listener: %s; reconnecting in %.1f s", channel, exc, backoff)
            stop.wait(backoff)
            backoff = min(30.0, backoff * 2)
