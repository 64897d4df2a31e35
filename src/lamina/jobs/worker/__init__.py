"""The worker: claim a job, run it with a live lease, store the outputs, record the outcome.

Execution is kept apart from bookkeeping (as in cog): :class:`Worker` runs each job in an
executor thread while the calling thread watches the lease and the stop signal, so a long
engine call never lets the lease lapse, and a stop request either lets the job finish within
``grace_s`` or hands it back to the queue.

:class:`Worker` is built in layers, each on the one before: :mod:`.base` (construction and
the engine), :mod:`.execution` (one job's work), :mod:`.supervision` (lease, time limit,
stop and grace, recording the outcome) and :mod:`.loop` (claiming, waking, reaping, purging).
"""

from __future__ import annotations

from lamina.jobs.worker.base import (
    FALLBACK_POLL_S,
    POLL_S,
    PSD_MAX_PIXEL_LAYERS,
    RETRY_BACKOFF_S,
    EngineFactory,
)
from lamina.jobs.worker.execution import ENCODE_AT, ENGINE_FROM
from lamina.jobs.worker.loop import STORE_RETRY_S, ClaimLoopMixin
from lamina.jobs.worker.supervision import EXIT_REPLACE, STOP_AFTER_TIMEOUT_S

__all__ = [
    "ENCODE_AT",
    "ENGINE_FROM",
    "EXIT_REPLACE",
    "FALLBACK_POLL_S",
    "POLL_S",
    "PSD_MAX_PIXEL_LAYERS",
    "RETRY_BACKOFF_S",
    "STOP_AFTER_TIMEOUT_S",
    "STORE_RETRY_S",
    "EngineFactory",
    "Worker",
]


class Worker(ClaimLoopMixin):
    """Runs jobs from ``store`` one at a time with the engine ``engine_factory`` builds.

    ``heartbeat_s`` is how often the lease is renewed and the worker shows it is alive
    (default: a third of the lease, at most 30 s, well inside the store's ``worker_ttl_s``);
    An idle worker sleeps until woken (:mod:`lamina.jobs.wakeup`: PostgreSQL ``LISTEN``, or
    the pipes ``wake_fds`` that ``lamina serve`` writes to) or ``poll_s`` passes (default
    :data:`FALLBACK_POLL_S` with a wake-up source, else :data:`POLL_S`); whoever sets the
    ``stop`` event given to :meth:`run` should call :meth:`wake` too.
    ``grace_s`` is how long a stop request waits for the running job before releasing it;
    ``psd_max_pixel_layers`` caps the PSD export (see :data:`PSD_MAX_PIXEL_LAYERS`).
    A job that meets a storage or database fault is held ``retry_backoff_s`` (doubling with
    each attempt) and requeued, until ``settings.max_attempts`` attempts fail it.
    """
