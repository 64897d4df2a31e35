"""What every part of a worker shares: its construction (store, storage, settings, timings)
and the engine it builds and warms up before the first claim."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from lamina.config import Settings
from lamina.engines.base import Engine
from lamina.jobs.store import JobStore, new_worker_id
from lamina.jobs.wakeup import Wakeup
from lamina.storage import Storage

log = logging.getLogger("lamina.jobs.worker")
"""One logger for every part of the worker, under the name its log lines have always had."""

EngineFactory = Callable[[], Engine]
POLL_S = 0.5
"""How often an idle worker with no wake-up source looks for a job."""
FALLBACK_POLL_S = 5.0
"""How often an idle worker that is woken on submit looks anyway (a missed wake-up)."""
RETRY_BACKOFF_S = 5.0
"""First wait before a job that met a storage or database fault goes back to the queue;
doubled on each further attempt."""
PSD_MAX_PIXEL_LAYERS = 120_000_000
"""Largest PSD a worker makes (width x height x layers): psd-tools needs about 11 bytes per
pixel-layer and 47 s for 40 MP x 10 layers, so past this (about 1.3 GB) the job completes
without its PSD and says so in ``metadata["notes"]``."""


class WorkerBase:
    """The state of a :class:`~lamina.jobs.worker.Worker`; its parts (execution, supervision,
    the claim loop) each build on the one before."""

    def __init__(
        self,
        store: JobStore,
        storage: Storage,
        engine_factory: EngineFactory,
        settings: Settings,
        *,
        worker_id: str | None = None,
        poll_s: float | None = None,
        wake_fds: Sequence[int] = (),
        heartbeat_s: float | None = None,
        grace_s: float = 20.0,
        progress_every_s: float = 1.0,
        purge_every_s: float = 3600.0,
        psd_max_pixel_layers: int = PSD_MAX_PIXEL_LAYERS,
        retry_backoff_s: float = RETRY_BACKOFF_S,
    ) -> None:
        self.store = store
        self.storage = storage
        self.engine_factory = engine_factory
        self.settings = settings
        self.id = worker_id or new_worker_id()
        self.wakeup = Wakeup(extra_fds=wake_fds)
        """Set when a job may be waiting; :meth:`run` sleeps on it between claims."""
        woken = bool(wake_fds) or store.dialect == "postgresql"
        self.poll_s = poll_s if poll_s is not None else (FALLBACK_POLL_S if woken else POLL_S)
        self.heartbeat_s = (
            heartbeat_s if heartbeat_s is not None else min(settings.lease_s / 3, 30.0)
        )
        self.grace_s = grace_s
        self.progress_every_s = progress_every_s
        self.purge_every_s = purge_every_s
        self.psd_max_pixel_layers = psd_max_pixel_layers
        self.retry_backoff_s = retry_backoff_s
        self.engine: Engine | None = None
        self.hurry = threading.Event()
        """Set (e.g. on a second SIGTERM) to release the running job at once."""
        self.spent = False
        """Set when a timed-out engine would not stop: :meth:`run` returns, and the process
        should exit (:data:`EXIT_REPLACE`) to be replaced, taking the engine with it."""

    def setup(self) -> None:
        """Build and warm up the engine before the first claim, so a worker that cannot run
        jobs never takes one."""
        if self.engine is None:
            self.engine = self.engine_factory()
            self.engine.warm_up()
