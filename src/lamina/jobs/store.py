"""The durable job queue: one SQL table, every claim and state change ONE guarded statement.

The same code runs on SQLite (WAL mode, the default; one machine) and PostgreSQL (many
machines; claims use ``SELECT ... FOR UPDATE SKIP LOCKED``). A statement of the form
``UPDATE ... WHERE id = ? AND state IN (...)`` either wins or changes nothing, so a cancel and a
claim, or two claims, can never both win, and a worker that lost its lease can no longer
complete or fail the job.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lamina.config import normalize_database_url
from lamina.errors import JobNotFound
from lamina.jobs.models import jobs, webhook_attempts, workers
from lamina.jobs.states import AFTER_CANCEL_REQUEST, FINISHED, JobState, can_transition

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
"""Upper bounds (seconds) of the run-time and duration histograms of :meth:`JobStore.stats`."""
WAIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
"""Upper bounds (seconds) of the queue-wait histogram: pick-up is milliseconds when idle."""
MAX_ERROR_CHARS = 2000
_ADVISORY_LOCK_KEY = 0x6C616D696E61  # "lamina"
_READER_THREADS = 128
WEBHOOK_PENDING, WEBHOOK_DELIVERED, WEBHOOK_FAILED = "pending", "delivered", "failed"
"""``webhook_state``: to deliver (once the job ends), delivered, attempts used up."""
CancelOutcome = Literal["cancelled", "cancel_requested", "not_cancellable"]
"""What :meth:`JobStore.cancel` did: cancelled (now or before), asked the worker to stop,
or nothing (finished, or running where running jobs may not be cancelled)."""
Checkpoint = Literal["running", "cancel", "lost"]
"""What :meth:`JobStore.checkpoint` tells a worker: carry on, stop (cancel requested), or
stop without recording anything (the job is no longer ours)."""
NOTIFY_CHANNEL = "lamina_jobs"
"""PostgreSQL ``NOTIFY`` channel: a job became claimable (see :mod:`lamina.jobs.wakeup`)."""
CHANGES_CHANNEL = "lamina_job_changes"
"""PostgreSQL ``NOTIFY`` channel whose payload is the id of a job whose state or progress
changed: status streams and waiting submits listen to it (:mod:`lamina.api.watch`)."""


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


def _now() -> datetime:
    return datetime.now(UTC)


class JobStore:
    """Jobs, workers and API keys in one database (``JobStore(settings.resolved_database_url)``).

    Thread-safe; share one per process. Call :meth:`migrate` once at start-up (safe from several
    processes at the same time).
    """

    def __init__(
        self, database_url: str, *, worker_ttl_s: float = 120.0, exact_positions: int = 1000
    ) -> None:
        if exact_positions < 1:
            raise ValueError("exact_positions must be at least 1")
        self.url = sa.make_url(normalize_database_url(database_url))
        self.worker_ttl_s = worker_ttl_s
        """A worker not seen for this long no longer counts as alive."""
        self.exact_positions = exact_positions
        """Queue positions up to this are counted exactly; deeper ones are estimated."""
        self._status_stmt = _status_statement(exact_positions)
        if self.url.get_backend_name() == "sqlite":
            db = self.url.database
            if not db or db == ":memory:":
                raise ValueError("the job store needs a SQLite file, not an in-memory database")
            with contextlib.suppress(OSError):  # else connecting says what is wrong, and retries
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = sa.create_engine(
                self.url, connect_args={"check_same_thread": False, "timeout": 30.0}
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            # status polls read on a connection of their own thread: never a pool wait (the
            # pool closes connections beyond pool_size threads, so it is far above the
            # thread pool's 40 and the event loop's one)
            self._reader: Engine = sa.create_engine(
                self.url,
                poolclass=sa.pool.SingletonThreadPool,
                pool_size=_READER_THREADS,
                connect_args={"check_same_thread": False, "timeout": 30.0},
            )
            sa.event.listen(self._reader, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(self.url, pool_pre_ping=True)
            self._reader = self.engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def local_reads(self) -> bool:
        """Whether :meth:`status` reads in-process without waiting on a network or a
        connection pool (SQLite in WAL mode), so an event loop may call it directly."""
        return self.dialect == "sqlite"

    def dispose(self) -> None:
        """Close pooled connections (before a fork, and at exit)."""
        self.engine.dispose()
        self._reader.dispose()

    def ping(self) -> None:
        """One round trip to the database; raises what the driver raises when it is down."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- schema -------------------------------------------------------------------------

    def migrate(self) -> bool:
        """Bring the schema to the newest Alembic revision, holding a cross-process lock.

        Returns whether a migration ran. Alembic's INFO logging (a dozen lines) shows only
        for a migration that runs, not at every start.
        """
        with _quiet("alembic"):  # importing it logs its plug-ins at INFO
            from alembic import command
            from alembic.config import Config
            from alembic.migration import MigrationContext
            from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self._migration_lock(), self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
            with _quiet("alembic"):
                current = set(MigrationContext.configure(conn).get_current_heads())
                if current == set(ScriptDirectory.from_config(config).get_heads()):
                    return False
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        return True

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """SQLite: an exclusive lock file next to the database (PostgreSQL locks in SQL)."""
        if self.dialect != "sqlite":
            yield
            return
        lock_path = f"{self.url.database}.migrate.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- the API side -------------------------------------------------------------------

    def submit(
        self,
        *,
        owner: str,
        model_id: str,
        params: Mapping[str, Any],
        input_key: str | None = None,
        input_url: str | None = None,
        webhook: Mapping[str, str] | None = None,
    ) -> Job:
        """Queue a job at the back of the queue (on PostgreSQL, ``NOTIFY`` the idle workers
        in the same transaction). With ``webhook`` (``url``, ``base_url``) its terminal
        state is delivered there (:meth:`claim_webhook`)."""
        if (input_key is None) == (input_url is None):
            raise ValueError("give exactly one of input_key and input_url")
        now = _now()
        stmt = (
            sa.insert(jobs)
            .values(
                id=uuid.uuid4().hex,
                owner=owner,
                model_id=model_id,
                state=JobState.IN_QUEUE.value,
                params=dict(params),
                input_key=input_key,
                input_url=input_url,
                progress=0.0,
                attempts=0,
                created_at=now,
                created_ts=now.timestamp(),
                webhook=dict(webhook) if webhook else None,
                webhook_state=WEBHOOK_PENDING if webhook else None,
            )
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            job = _job(conn.execute(stmt).one())
            self._notify(conn)
        return job

    def _notify(self, conn: sa.Connection) -> None:
        """Tell listening workers a job became claimable (delivered at commit)."""
        if self.dialect == "postgresql":
            conn.execute(sa.text(f"NOTIFY {NOTIFY_CHANNEL}"))

    def _changed(self, conn: sa.Connection, job_ids: list[str]) -> None:
        """Tell status listeners these jobs changed (PostgreSQL, delivered at commit; on
        SQLite they poll)."""
        if self.dialect == "postgresql" and job_ids:
            conn.execute(
                sa.text(f"SELECT pg_notify('{CHANGES_CHANNEL}', :id)"),
                [{"id": job_id} for job_id in job_ids],
            )

    def get(self, job_id: str, *, owner: str | None = None) -> Job:
        """The job, or :class:`JobNotFound` (also when ``owner`` is given and differs)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one_or_none()
        if row is None or (owner is not None and row.owner != owner):
            raise JobNotFound(f"no job {job_id!r}")
        return _job(row)

    def status(self, job_id: str, *, owner: str | None = None) -> JobStatus:
        """The job's state, progress and queue position in ONE query (the polling path).

        Raises :class:`JobNotFound` like :meth:`get`. Positions are counted as
        :meth:`queue_position` counts them; the JSON columns are not read.
        """
        with self._reader.connect() as conn:
            row = conn.execute(self._status_stmt, {"job_id": job_id}).one_or_none()
        if row is None or (owner is not None and row.owner != owner):
            raise JobNotFound(f"no job {job_id!r}")
        position = 0
        if row.ahead is not None:
            position = self._position(int(row.seq), int(row.ahead), row.head)
        return JobStatus(
            id=row.id,
            state=JobState(row.state),
            progress=float(row.progress),
            queue_position=position,
            stage=row.stage,
        )

    def list_jobs(
        self,
        *,
        owner: str,
        state: JobState | None = None,
        before_seq: int | None = None,
        limit: int = 20,
    ) -> list[JobSummary]:
        """``owner``'s jobs, newest first: at most ``limit`` with ``seq`` below ``before_seq``
        (the cursor of the page before), optionally in one ``state``. Reads the
        ``(owner, seq)`` index, never the JSON columns."""
        stmt = (
            sa.select(
                jobs.c.id,
                jobs.c.seq,
                jobs.c.model_id,
                jobs.c.state,
                jobs.c.progress,
                jobs.c.created_at,
                jobs.c.finished_at,
            )
            .where(jobs.c.owner == owner)
            .order_by(jobs.c.seq.desc())
            .limit(limit)
        )
        if state is not None:
            stmt = stmt.where(jobs.c.state == state.value)
        if before_seq is not None:
            stmt = stmt.where(jobs.c.seq < before_seq)
        with self._reader.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            JobSummary(
                id=row.id,
                seq=int(row.seq),
                model_id=row.model_id,
                state=JobState(row.state),
                progress=float(row.progress),
                created_at=row.created_at,
                finished_at=row.finished_at,
            )
            for row in rows
        ]

    def _position(self, seq: int, ahead: int, head: int | None) -> int:
        """Exact below :attr:`exact_positions`, else the ``seq`` distance to the head."""
        if ahead < self.exact_positions:
            return ahead
        return max(ahead, seq - int(head if head is not None else seq))

    def queue_position(self, job: Job) -> int:
        """Jobs ahead of ``job`` in the queue (0 when it is next or no longer queued).

        Exact for the first :attr:`exact_positions` places: a count over at most that many
        entries of the ``(state, seq)`` index. Deeper in the queue it is the ``seq`` distance
        to the head (one more index lookup), which over-counts only the jobs between that
        left the queue out of order (cancelled while queued, or claimed after a requeue).
        Either way the cost does not grow with the queue.
        """
        if job.state is not JobState.IN_QUEUE:
            return 0
        queued = jobs.c.state == JobState.IN_QUEUE.value
        window = (
            sa.select(jobs.c.seq)
            .where(queued, jobs.c.seq < job.seq)
            .order_by(jobs.c.seq.desc())
            .limit(self.exact_positions)
            .subquery()
        )
        with self.engine.connect() as conn:
            ahead = int(conn.execute(sa.select(sa.func.count()).select_from(window)).scalar_one())
            if ahead < self.exact_positions:
                return ahead
            head = conn.execute(sa.select(sa.func.min(jobs.c.seq)).where(queued)).scalar_one()
        return self._position(job.seq, ahead, head)

    def cancel(
        self, job_id: str, *, owner: str | None, running: bool = False
    ) -> tuple[Job, CancelOutcome]:
        """Cancel a queued job (idempotent); with ``running``, ask the worker of a running one
        to stop (``cancel_requested``: it records ``cancelled`` at its next checkpoint).
        A job that cannot be cancelled (finished, or running without ``running``) is
        ``not_cancellable``. ONE guarded statement whichever the state.

        Raises :class:`JobNotFound` for an unknown job or another owner's.
        """
        now = _now()
        queued = sa.and_(*_leaving(JobState.IN_QUEUE, JobState.CANCELLED))
        states = [JobState.IN_QUEUE.value]
        if running:
            states.append(JobState.IN_PROGRESS.value)
        where = [jobs.c.id == job_id, jobs.c.state.in_(states)]
        if owner is not None:
            where.append(jobs.c.owner == owner)
        # every SET expression reads the row as it was before the statement
        stmt = (
            sa.update(jobs)
            .where(*where)
            .values(
                state=sa.case((queued, JobState.CANCELLED.value), else_=jobs.c.state),
                cancel_requested=sa.case((queued, jobs.c.cancel_requested), else_=sa.true()),
                finished_at=sa.case((queued, now), else_=jobs.c.finished_at),
                total_s=sa.case(
                    (queued, now.timestamp() - jobs.c.created_ts), else_=jobs.c.total_s
                ),
            )
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).one_or_none()
            if row is not None:
                self._changed(conn, [job_id])
            if row is not None and row.state == JobState.IN_PROGRESS.value:
                return _job(row), "cancel_requested"
        if row is not None:
            return _job(row), "cancelled"
        job = self.get(job_id, owner=owner)
        if job.state is JobState.CANCELLED:
            return job, "cancelled"
        return job, "not_cancellable"

    # -- the worker side ----------------------------------------------------------------

    def claim(self, worker_id: str, *, lease_s: float) -> Job | None:
        """Take the oldest queued job, or ``None``; counts one attempt."""
        now = _now()
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
        values: dict[str, Any] = {"lease_expires_at": _now() + timedelta(seconds=lease_s)}
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
        now = _now()
        return self._guarded(
            job_id,
            worker_id,
            JobState.COMPLETED,
            {
                "result": dict(result),
                "progress": 1.0,
                "finished_at": now,
                "run_s": now.timestamp() - jobs.c.started_ts,
                "total_s": now.timestamp() - jobs.c.created_ts,
                "lease_expires_at": None,
            },
        )

    def fail(self, job_id: str, worker_id: str, error: str) -> bool:
        """Mark our running job failed with a readable ``error``."""
        now = _now()
        return self._guarded(
            job_id,
            worker_id,
            JobState.FAILED,
            {
                "error": error[:MAX_ERROR_CHARS],
                "finished_at": now,
                "run_s": now.timestamp() - jobs.c.started_ts,
                "total_s": now.timestamp() - jobs.c.created_ts,
                "lease_expires_at": None,
            },
        )

    def finish_cancelled(self, job_id: str, worker_id: str) -> bool:
        """Record that our running job stopped because a cancel was requested; ``False`` if
        it is no longer ours or no cancel was requested."""
        now = _now()
        return self._guarded(
            job_id,
            worker_id,
            JobState.CANCELLED,
            {
                "finished_at": now,
                "run_s": now.timestamp() - jobs.c.started_ts,
                "total_s": now.timestamp() - jobs.c.created_ts,
                "lease_expires_at": None,
            },
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
                "worker_id": None,
                "attempts": jobs.c.attempts - (0 if count_attempt else 1),
                "progress": 0.0,
                "started_at": None,
                "started_ts": None,
                "wait_s": None,
                "lease_expires_at": None,
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
        now = _now()
        expired = jobs.c.lease_expires_at < now
        running = JobState.IN_PROGRESS
        cancel = (
            sa.update(jobs)
            .where(expired, *_leaving(running, JobState.CANCELLED))
            .values(
                state=JobState.CANCELLED.value,
                finished_at=now,
                run_s=now.timestamp() - jobs.c.started_ts,
                total_s=now.timestamp() - jobs.c.created_ts,
                lease_expires_at=None,
            )
        )
        give_up = (
            sa.update(jobs)
            .where(expired, *_leaving(running, JobState.FAILED), jobs.c.attempts >= max_attempts)
            .values(
                state=JobState.FAILED.value,
                error=f"the worker running this job stopped responding {max_attempts} "
                "time(s); giving up",
                finished_at=now,
                run_s=now.timestamp() - jobs.c.started_ts,
                total_s=now.timestamp() - jobs.c.created_ts,
                lease_expires_at=None,
            )
        )
        requeue = (
            sa.update(jobs)
            .where(expired, *_leaving(running, JobState.IN_QUEUE), jobs.c.attempts < max_attempts)
            .values(
                state=JobState.IN_QUEUE.value,
                worker_id=None,
                progress=0.0,
                started_at=None,
                started_ts=None,
                wait_s=None,
                lease_expires_at=None,
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

    # -- webhooks -------------------------------------------------------------------------

    def claim_webhook(self, *, lease_s: float) -> Job | None:
        """Take the oldest due webhook delivery of a finished job, or ``None``; counts one
        attempt. The delivery is leased: until ``lease_s`` passes no one else takes it, and
        after that (its dispatcher died) it is due again, so a restart loses none."""
        now = _now()
        due = [
            jobs.c.webhook_state == WEBHOOK_PENDING,
            jobs.c.state.in_([state.value for state in FINISHED]),
            sa.or_(jobs.c.webhook_next_at.is_(None), jobs.c.webhook_next_at <= now),
        ]
        oldest = _oldest(*due)
        stmt = (
            sa.update(jobs)
            .where(jobs.c.seq == oldest, *due)
            .values(
                webhook_next_at=now + timedelta(seconds=lease_s),
                webhook_attempts=jobs.c.webhook_attempts + 1,
            )
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else _job(row)

    def record_webhook(
        self,
        job_id: str,
        *,
        attempt: int,
        status_code: int | None,
        error: str | None,
        duration_s: float,
        retry_at: datetime | None,
    ) -> bool:
        """Log one delivery attempt and settle the delivery in the same transaction:
        ``delivered`` without an ``error``, else due again at ``retry_at`` (``None``: attempts
        used up, ``failed``). The schedule changes only if ``attempt`` is still the latest
        (a dispatcher whose lease lapsed cannot undo its successor's); returns whether it did."""
        now = _now()
        if error is None:
            values: dict[str, Any] = {"webhook_state": WEBHOOK_DELIVERED, "webhook_next_at": None}
        elif retry_at is None:
            values = {"webhook_state": WEBHOOK_FAILED, "webhook_next_at": None}
        else:
            values = {"webhook_next_at": retry_at}
        settle = (
            sa.update(jobs)
            .where(
                jobs.c.id == job_id,
                jobs.c.webhook_state == WEBHOOK_PENDING,
                jobs.c.webhook_attempts == attempt,
            )
            .values(**values)
        )
        log_row = sa.insert(webhook_attempts).values(
            job_id=job_id,
            attempt=attempt,
            at=now,
            status_code=status_code,
            error=None if error is None else error[:MAX_ERROR_CHARS],
            duration_s=duration_s,
        )
        with self.engine.begin() as conn:
            conn.execute(log_row)
            return conn.execute(settle).rowcount == 1

    def webhook_log(self, job_id: str) -> list[WebhookAttempt]:
        """Every delivery attempt of ``job_id``'s webhook, oldest first."""
        stmt = (
            sa.select(webhook_attempts)
            .where(webhook_attempts.c.job_id == job_id)
            .order_by(webhook_attempts.c.seq)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            WebhookAttempt(
                attempt=int(row.attempt),
                at=row.at,
                status_code=row.status_code,
                error=row.error,
                duration_s=float(row.duration_s),
            )
            for row in rows
        ]

    # -- workers registry ---------------------------------------------------------------

    def register_worker(self, worker_id: str) -> None:
        """Record a worker as alive (call again with :meth:`worker_seen`)."""
        now = _now()
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
            .values(last_seen=_now(), job_id=job_id)
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def unregister_worker(self, worker_id: str) -> None:
        """Forget a worker that stopped cleanly."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(workers).where(workers.c.id == worker_id))

    # -- monitoring and retention -------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Numbers for ``/metrics``: ``queue_depth``, ``states`` (count per state),
        ``workers_alive``, ``workers_busy``, ``oldest_queued_s`` and three histograms, each
        ``{label: {"buckets": cumulative [(le, count)], "sum": s, "count": n}}``:

        - ``durations``: submit to end, per finished state (completed, failed, cancelled);
        - ``run_times``: claim to end on a worker, per state (completed, failed);
        - ``queue_wait``: submit to the latest start of every started job (label ``""``).
        """
        now = _now()
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


def _status_statement(exact_positions: int) -> sa.Select[Any]:
    """:meth:`JobStore.status`'s query, built once per store (building it costs more than
    running it): the columns a poll needs, and for a queued job the jobs ahead (at most
    ``exact_positions``, counted on the ``(state, seq)`` index) and the queue's head."""
    ahead = jobs.alias("ahead")
    queued = jobs.c.state == JobState.IN_QUEUE.value
    window = (
        sa.select(ahead.c.seq)
        .where(ahead.c.state == JobState.IN_QUEUE.value, ahead.c.seq < jobs.c.seq)
        .order_by(ahead.c.seq.desc())
        .limit(exact_positions)
        .correlate(jobs)
        .subquery("queued_ahead")
    )
    count = sa.select(sa.func.count()).select_from(window).scalar_subquery()
    head = (
        sa.select(sa.func.min(ahead.c.seq))
        .where(ahead.c.state == JobState.IN_QUEUE.value)
        .scalar_subquery()
    )
    return sa.select(
        jobs.c.id,
        jobs.c.owner,
        jobs.c.state,
        jobs.c.progress,
        jobs.c.stage,
        jobs.c.seq,
        sa.case((queued, count), else_=None).label("ahead"),
        sa.case((queued, head), else_=None).label("head"),
    ).where(jobs.c.id == sa.bindparam("job_id"))


def _leaving(source: JobState, target: JobState) -> list[sa.ColumnElement[bool]]:
    """The ``WHERE`` of a statement that moves a job ``source -> target``, read off
    :data:`~lamina.jobs.states.TRANSITIONS`: the job is in ``source`` and, when it is
    running, its ``cancel_requested`` flag allows ``target``
    (:data:`~lamina.jobs.states.AFTER_CANCEL_REQUEST`). A move the table has not got is a
    bug, refused before any SQL runs."""
    if not can_transition(source, target):
        raise ValueError(f"no transition {source} -> {target} in the state table")
    guard = [jobs.c.state == source.value]
    if source is JobState.IN_PROGRESS:
        guard.append(jobs.c.cancel_requested.is_(target in AFTER_CANCEL_REQUEST))
    return guard


def _ours(job_id: str, worker_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    """The guard of every worker-side statement: the job is running, on this worker."""
    return (
        jobs.c.id == job_id,
        jobs.c.worker_id == worker_id,
        jobs.c.state == JobState.IN_PROGRESS.value,
    )


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


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Raise ``logger_name`` to WARNING for the duration (restored after)."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


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


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets readers run beside the one writer; a busy timeout queues writers."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def new_worker_id() -> str:
    """``host:pid:random``, unique across the fleet."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _oldest(*where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    """The ``seq`` of the oldest job matching ``where``, locked and skipping locked rows,
    so concurrent claimers each take a different one (PostgreSQL; SQLite has one writer)."""
    return (
        sa.select(jobs.c.seq)
        .where(*where)
        .order_by(jobs.c.seq)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
