"""Idle workers are woken on submit (PostgreSQL NOTIFY, the pool's pipes), not found by polling.

Workers here neither poll nor run their reap cycle (which claims too) for longer than the
test's patience for each job (:data:`PICKUP_S`), so a job that completes in time was picked
up by a wake-up: with ``Wakeup.set``, the listener, ``NOTIFY`` or the pool's pipes disabled,
these tests fail. The in-process tests queue each job only once the worker has gone to sleep
on its wake-up (:class:`Naps`), so no claim that was already under way can pick it up.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
import sqlalchemy as sa
from tests.support.engines import FastEngine
from tests.support.pg import empty_tables
from tests.support.waiting import wait_until
from tests.support.workers import worker_env

from lamina.config import Settings
from lamina.imaging.codec import encode_image
from lamina.jobs.runner import POLL_ENV, spawn_worker_processes
from lamina.jobs.states import JobState
from lamina.jobs.store import NOTIFY_CHANNEL, JobStore
from lamina.jobs.wakeup import Wakeup
from lamina.jobs.worker import Worker
from lamina.storage import LocalStorage, open_storage

PNG = encode_image(np.full((8, 8, 4), 120, dtype=np.uint8))
NEVER_S = 600.0
PICKUP_S = 10.0
"""How long a woken worker may take to finish a job: far above the few milliseconds it
takes (bench.api), far below the reap cycle (``heartbeat_s``, at least 20 s here)."""


def test_a_wakeup_is_level_triggered_and_coalesces() -> None:
    wakeup = Wakeup()
    try:
        assert wakeup.wait(0) is False
        for _ in range(100_000):  # more than a pipe holds: never blocks
            wakeup.set()
        assert wakeup.wait(0) is True
        assert wakeup.wait(0) is False  # drained: many sets count as one
    finally:
        wakeup.close()


def test_a_wakeup_watches_other_processes_pipes_until_they_close() -> None:
    read_fd, write_fd = os.pipe()
    wakeup = Wakeup(extra_fds=(read_fd,))
    try:
        os.write(write_fd, b"\0\0")
        assert wakeup.wait(0) is True and wakeup.wait(0) is False
        os.close(write_fd)  # the writer is gone: no endless wake-ups at end of file
        wakeup.wait(0)
        assert wakeup.wait(0.05) is False
        wakeup.set()
        assert wakeup.wait(0) is True
    finally:
        wakeup.close()


@pytest.fixture
def pg_empty(pg_url: str) -> str:
    """The session's PostgreSQL database, emptied."""
    store = JobStore(pg_url)
    empty_tables(store)
    store.dispose()
    return pg_url


def test_postgresql_notifies_in_the_transactions_that_queue_a_job(pg_empty: str) -> None:
    store = JobStore(pg_empty)
    conninfo = store.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")

        def notified() -> int:
            return len(list(listener.notifies(timeout=0.5)))

        job = store.submit(owner="k", model_id="m", params={}, input_url="http://x/a.png")
        assert notified() == 1
        assert store.claim("w", lease_s=30) is not None
        assert notified() == 0  # a claim frees nothing
        assert store.release(job.id, "w")
        assert notified() == 1
        assert not store.release(job.id, "w")
        assert notified() == 0
    store.dispose()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files", b"k" * 32)


def _queue(store: JobStore, storage: LocalStorage, seed: int) -> str:
    storage.put(f"inputs/{seed}.png", PNG, "image/png")
    params = {"num_layers": 2, "seed": seed}
    return store.submit(owner="k", model_id="m", params=params, input_key=f"inputs/{seed}.png").id


def _sleeper(
    store: JobStore, storage: LocalStorage, settings: Settings, wake_fds: tuple[int, ...] = ()
) -> Worker:
    """A worker that neither polls nor runs its reap cycle within a test: only a wake-up
    makes it claim."""
    engine = FastEngine
    return Worker(
        store, storage, engine, settings, poll_s=NEVER_S, heartbeat_s=NEVER_S, wake_fds=wake_fds
    )


class Naps:
    """Counts a worker's sleeps on its wake-up (wraps its ``Wakeup.wait``).

    A worker enters a sleep only after a claim found nothing, so a job queued once the
    count has grown can be claimed only after a wake-up ends that sleep.
    """

    def __init__(self, worker: Worker) -> None:
        self.count = 0
        wait = worker.wakeup.wait

        def counted(timeout: float) -> bool:
            self.count += 1
            return wait(timeout)

        worker.wakeup.wait = counted  # type: ignore[method-assign]

    def asleep(self, after: int) -> int:
        """Wait until the worker has gone to sleep more than ``after`` times; the count."""
        wait_until(lambda: self.count > after, 30, "the worker to sleep on its wake-up")
        return self.count


def _run(worker: Worker) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def _stop(worker: Worker, stop: threading.Event, thread: threading.Thread) -> None:
    stop.set()
    worker.wake()
    thread.join(30)
    assert not thread.is_alive()
    worker.close()


def test_an_idle_postgresql_worker_is_woken_by_a_submit(
    pg_empty: str, storage: LocalStorage, tmp_path: Path
) -> None:
    store = JobStore(pg_empty)
    worker = _sleeper(store, storage, Settings(data_dir=tmp_path, database_url=pg_empty))
    naps = Naps(worker)
    stop, thread = _run(worker)
    try:
        wait_until(lambda: store.stats()["workers_alive"] == 1, 30, "the worker")
        # the listener wakes the worker once it listens: the second sleep is past that
        slept = 1
        for seed in range(3):  # each time the worker has gone back to sleep
            slept = naps.asleep(after=slept)
            job_id = _queue(store, storage, seed)
            wait_until(
                lambda j=job_id: store.get(j).state is JobState.COMPLETED, PICKUP_S, "a wake-up"
            )
    finally:
        _stop(worker, stop, thread)
        store.dispose()


def test_the_listener_reconnects_after_its_connection_is_killed(
    pg_empty: str, storage: LocalStorage, tmp_path: Path
) -> None:
    store = JobStore(pg_empty)
    worker = _sleeper(store, storage, Settings(data_dir=tmp_path, database_url=pg_empty))
    naps = Naps(worker)
    stop, thread = _run(worker)

    def listeners() -> list[int]:
        with store.engine.begin() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND query LIKE 'LISTEN%' AND state = 'idle'"
                    )
                ).scalars()
            )

    try:
        wait_until(lambda: len(listeners()) == 1, 30, "the listener to listen")
        slept = naps.asleep(after=1)  # past the listener's first wake-up
        (first,) = listeners()
        with store.engine.begin() as conn:  # as a database restart or a network cut would
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        wait_until(lambda: len(set(listeners()) - {first}) == 1, 30, "a new listener")
        naps.asleep(after=slept)  # past the wake-up the listener gives after listening again
        job_id = _queue(store, storage, 7)
        wait_until(lambda: store.get(job_id).state is JobState.COMPLETED, PICKUP_S, "a wake-up")
    finally:
        _stop(worker, stop, thread)
        store.dispose()


def test_an_idle_worker_is_woken_through_its_pipe(storage: LocalStorage, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = JobStore(settings.resolved_database_url)
    store.migrate()
    read_fd, write_fd = os.pipe()
    worker = _sleeper(store, storage, settings, wake_fds=(read_fd,))
    naps = Naps(worker)
    stop, thread = _run(worker)
    try:
        wait_until(lambda: store.stats()["workers_alive"] == 1, 30, "the worker")
        naps.asleep(after=0)
        job_id = _queue(store, storage, 1)
        os.write(write_fd, b"\0")
        wait_until(lambda j=job_id: store.get(j).state is JobState.COMPLETED, PICKUP_S, "a wake-up")
    finally:
        _stop(worker, stop, thread)
        os.close(write_fd)
        store.dispose()


@pytest.fixture
def pool_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name, value in worker_env(tmp_path / "engine.log").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(POLL_ENV, str(NEVER_S))
    monkeypatch.setenv("LAMINA_LEASE_S", "600")  # a reap cycle every 30 s, the longest
    yield Settings(data_dir=tmp_path / "data", engine="fast")


def test_the_serve_pool_wakes_its_sqlite_workers(pool_env: Settings) -> None:
    store = JobStore(pool_env.resolved_database_url)
    store.migrate()
    storage = open_storage(pool_env)
    pool = spawn_worker_processes(pool_env, 2)
    try:
        wait_until(lambda: store.stats()["workers_alive"] == 2, 60, "two idle workers")
        for seed in range(3):
            storage.put(f"inputs/{seed}", PNG, "image/png")
            job_id = store.submit(
                owner="k", model_id="m", params={"seed": seed}, input_key=f"inputs/{seed}"
            ).id
            pool.wake()  # what the API does after each submit
            wait_until(
                lambda j=job_id: store.get(j).state is JobState.COMPLETED, PICKUP_S, "a wake-up"
            )
    finally:
        pool.stop(timeout=30)
        store.dispose()
    assert pool.pids == []
