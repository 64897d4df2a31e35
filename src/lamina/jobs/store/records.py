"""What the job store hands out and takes in: a job row as :class:`Job`, a status poll, a
listing line, a webhook attempt, a completed job's result, and the storage prefix and worker
ids that the store and its callers agree on."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict, cast

import sqlalchemy as sa

from lamina.jobs.states import JobState

WEBHOOK_PENDING, WEBHOOK_DELIVERED, WEBHOOK_FAILED = "pending", "delivered", "failed"
"""``webhook_state``: to deliver (once the job ends), delivered, attempts used up."""
CancelOutcome = Literal["cancelled", "cancel_requested", "not_cancellable"]
"""What :meth:`JobStore.cancel` did: cancelled (now or before), asked the worker to stop,
or nothing (finished, or running where running jobs may not be cancelled)."""
Checkpoint = Literal["running", "cancel", "lost"]
"""What :meth:`JobStore.checkpoint` tells a worker: carry on, stop (cancel requested), or
stop without recording anything (the job is no longer ours)."""


class JobResult(TypedDict):
    """What a completed job's worker records (:meth:`lamina.jobs.worker.Worker.execute`) and
    the API reads back to sign its files: storage keys, and the manifest's body."""

    layers: list[str]
    """Keys of the layer files, back to front."""
    exports: dict[str, str]
    """Export kind (``zip``, ``psd``, ``pptx``) -> key; a kind left out is in the notes."""
    manifest: str
    """Key of ``layers.json``."""
    metadata: dict[str, Any]
    """The body of ``layers.json``: size, layer entries, notes, timings."""
    engine: str
    seed: int
    timings: dict[str, float]


@dataclass(frozen=True, kw_only=True)
class Job:
    """A snapshot of one job row. ``params`` is ``DecomposeParams.to_dict()`` plus
    ``"image_url"``; ``result`` is written by the worker that completed it."""

    id: str
    seq: int
    owner: str
    model_id: str
    state: JobState
    params: dict[str, Any]
    input_key: str | None
    input_url: str | None
    progress: float
    attempts: int
    worker_id: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    result: JobResult | None
    stage: str | None = None
    cancel_requested: bool = False
    webhook: dict[str, str] | None = None
    webhook_state: str | None = None
    webhook_attempts: int = 0


@dataclass(frozen=True, kw_only=True)
class WebhookAttempt:
    """One webhook delivery attempt: the receiver's HTTP status, or why there was none."""

    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_s: float


@dataclass(frozen=True, kw_only=True)
class JobStatus:
    """What a status poll needs, read in one query: ``queue_position`` is the jobs ahead
    while queued (else 0), ``progress`` is 0..1 and ``stage`` the step a running job is in."""

    id: str
    state: JobState
    progress: float
    queue_position: int
    stage: str | None = None


@dataclass(frozen=True, kw_only=True)
class JobSummary:
    """One line of a listing (:meth:`JobStore.list_jobs`)."""

    id: str
    seq: int
    model_id: str
    state: JobState
    progress: float
    created_at: datetime
    finished_at: datetime | None


def output_prefix(job_id: str) -> str:
    """Storage prefix of a job's outputs (layers, ``layers.json`` and exports)."""
    return f"jobs/{job_id}/"


def _job(row: sa.Row[Any]) -> Job:
    return Job(
        id=row.id,
        seq=int(row.seq),
        owner=row.owner,
        model_id=row.model_id,
        state=JobState(row.state),
        params=dict(row.params),
        input_key=row.input_key,
        input_url=row.input_url,
        progress=float(row.progress),
        attempts=int(row.attempts),
        worker_id=row.worker_id,
        lease_expires_at=row.lease_expires_at,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        result=None if row.result is None else cast(JobResult, dict(row.result)),
        stage=row.stage,
        cancel_requested=bool(row.cancel_requested),
        webhook=None if row.webhook is None else dict(row.webhook),
        webhook_state=row.webhook_state,
        webhook_attempts=int(row.webhook_attempts),
    )


def new_worker_id() -> str:
    """``host:pid:random``, unique across the fleet."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
