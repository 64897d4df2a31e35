"""The durable job queue: one SQL table, every claim and state change ONE guarded statement.

The same code runs on SQLite (WAL mode, the default; one machine) and PostgreSQL (many
machines; claims use ``SELECT ... FOR UPDATE SKIP LOCKED``). A statement of the form
``UPDATE ... WHERE id = ? AND state IN (...)`` either wins or changes nothing, so a cancel and a
claim, or two claims, can never both win, and a worker that lost its lease can no longer
complete or fail the job.

:class:`JobStore` is one class made of parts named by who calls them: :mod:`.records` (what it
hands out), :mod:`.base` (engines, migration, the shared SQL guards), :mod:`.queue` (the API
side), :mod:`.leases` (the worker side), :mod:`.webhooks`, :mod:`.workers` (the registry) and
:mod:`.monitoring` (``/metrics`` and retention).
"""

from __future__ import annotations

from lamina.config import normalize_database_url
from lamina.jobs.store.base import (
    CHANGES_CHANNEL,
    MAX_ERROR_CHARS,
    MIGRATIONS_DIR,
    NOTIFY_CHANNEL,
)
from lamina.jobs.store.leases import LeasesMixin
from lamina.jobs.store.monitoring import DURATION_BUCKETS, WAIT_BUCKETS, MonitoringMixin
from lamina.jobs.store.queue import QueueMixin
from lamina.jobs.store.records import (
    WEBHOOK_DELIVERED,
    WEBHOOK_FAILED,
    WEBHOOK_PENDING,
    CancelOutcome,
    Checkpoint,
    Job,
    JobResult,
    JobStatus,
    JobSummary,
    WebhookAttempt,
    new_worker_id,
    output_prefix,
)
from lamina.jobs.store.webhooks import WebhooksMixin
from lamina.jobs.store.workers import WorkersMixin

__all__ = [
    "CHANGES_CHANNEL",
    "DURATION_BUCKETS",
    "MAX_ERROR_CHARS",
    "MIGRATIONS_DIR",
    "NOTIFY_CHANNEL",
    "WAIT_BUCKETS",
    "WEBHOOK_DELIVERED",
    "WEBHOOK_FAILED",
    "WEBHOOK_PENDING",
    "CancelOutcome",
    "Checkpoint",
    "Job",
    "JobResult",
    "JobStatus",
    "JobStore",
    "JobSummary",
    "WebhookAttempt",
    "new_worker_id",
    "normalize_database_url",
    "output_prefix",
]


class JobStore(QueueMixin, LeasesMixin, WebhooksMixin, WorkersMixin, MonitoringMixin):
    """Jobs, workers and API keys in one database (``JobStore(settings.resolved_database_url)``).

    Thread-safe; share one per process. Call :meth:`migrate` once at start-up (safe from several
    processes at the same time).
    """
