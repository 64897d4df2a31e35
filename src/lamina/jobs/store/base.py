"""What every part of the store stands on: the engines (SQLite with its pragmas, or
PostgreSQL), schema migration under a cross-process lock, change notifications, and the
SQL guards each statement is built from."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lamina.config import normalize_database_url
from lamina.jobs.models import jobs
from lamina.jobs.states import AFTER_CANCEL_REQUEST, JobState, can_transition

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"
MAX_ERROR_CHARS = 2000
_ADVISORY_LOCK_KEY = 0x6C616D696E61  # "lamina"
_READER_THREADS = 128
NOTIFY_CHANNEL = "lamina_jobs"
"""PostgreSQL ``NOTIFY`` channel: a job became claimable (see :mod:`lamina.jobs.wakeup`)."""
CHANGES_CHANNEL = "lamina_job_changes"
"""PostgreSQL ``NOTIFY`` channel whose payload is the id of a job whose state or progress
changed: status streams and waiting submits listen to it (:mod:`lamina.api.watch`)."""


def utc_now() -> datetime:
    """The store's default clock (tests pass one they can move forward)."""
    return datetime.now(UTC)


class StoreBase:
    """The connection side of :class:`~lamina.jobs.store.JobStore`, which the parts of the
    store (queue, leases, webhooks, workers, monitoring) extend with their statements."""

    def __init__(
        self,
        database_url: str,
        *,
        worker_ttl_s: float = 120.0,
        exact_positions: int = 1000,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if exact_positions < 1:
            raise ValueError("exact_positions must be at least 1")
        self.url = sa.make_url(normalize_database_url(database_url))
        self.worker_ttl_s = worker_ttl_s
        """A worker not seen for this long no longer counts as alive."""
        self.exact_positions = exact_positions
        """Queue positions up to this are counted exactly; deeper ones are estimated."""
        self.clock = clock
        """The time every lease, expiry and duration is reckoned by (timezone-aware UTC)."""
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


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets readers run beside the one writer; a busy timeout queues writers."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


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
