"""Issue 5 end to end: 4 ``lamina worker`` processes on PostgreSQL run 200 jobs.

Every job completes exactly once (counted by the engine itself across processes), a worker
SIGKILLed mid-job loses its job to the others once its lease expires, and cancels racing the
claims never lose a job or let a cancelled one run.
"""

from __future__ import annotations

import random
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.support.pg import temporary_database
from tests.support.waiting import wait_until
from tests.support.workers import engine_runs, start_worker, worker_env

from lamina.config import Settings
from lamina.imaging.codec import encode_image
from lamina.jobs.states import JobState
from lamina.jobs.store import JobStore
from lamina.storage import open_storage

JOBS = 200
WORKERS = 4
LEASE_S = 3.0


@pytest.fixture
def pg_store() -> Iterator[JobStore]:
    with temporary_database() as url:
        store = JobStore(url)
        store.migrate()
        yield store
        store.dispose()


def test_200_jobs_4_workers_a_killed_worker_and_cancel_races(
    pg_store: JobStore, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=str(pg_store.url))
    storage = open_storage(settings)
    storage.put("inputs/shared.png", encode_image(np.full((8, 8, 4), 90, np.uint8)), "image/png")

    def submit(seed: int, prompt: str | None = None) -> str:
        params = {"num_layers": 2, "seed": seed, "prompt": prompt}
        job = pg_store.submit(owner="k", model_id="m", params=params, input_key="inputs/shared.png")
        return job.id

    # the first job is long, so a worker is surely mid-job when it is killed
    victim_job = submit(0, prompt="sleep:4")
    ids = [victim_job] + [submit(seed) for seed in range(1, JOBS)]
    seed_of = {job_id: seed for seed, job_id in enumerate(ids)}

    engine_log, log = tmp_path / "engine.log", tmp_path / "workers.log"
    env = worker_env(
        engine_log,
        data_dir=settings.data_dir,
        database_url=pg_store.url.render_as_string(hide_password=False),
        lease_s=LEASE_S,
        max_attempts=3,
    )
    procs = [start_worker(env, log) for _ in range(WORKERS)]
    try:
        wait_until(
            lambda: pg_store.get(victim_job).state is JobState.IN_PROGRESS, 90, "the long job"
        )
        holder = pg_store.get(victim_job).worker_id
        assert holder is not None
        victim_pid = int(holder.split(":")[-2])
        victim = next(p for p in procs if p.pid == victim_pid)
        victim.send_signal(signal.SIGKILL)

        # cancel a random third of the jobs from two threads while the workers claim
        to_cancel = random.Random(5).sample(ids[1:], JOBS // 3)
        cancelled: list[str] = []

        def canceller(order: list[str]) -> None:
            for job_id in order:
                job, outcome = pg_store.cancel(job_id, owner="k")
                if outcome == "cancelled":
                    cancelled.append(job_id)
                else:
                    assert job.state is not JobState.IN_QUEUE

        threads = [
            threading.Thread(target=canceller, args=(to_cancel,)),
            threading.Thread(target=canceller, args=(to_cancel[::-1],)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

        def all_finished() -> bool:
            return pg_store.stats()["states"]["in_queue"] == 0 and (
                pg_store.stats()["states"]["in_progress"] == 0
            )

        wait_until(all_finished, 150, "every job to finish")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = [p.wait(60) for p in procs]
    assert codes.count(-signal.SIGKILL) == 1 and codes.count(0) == WORKERS - 1, (
        codes,
        log.read_text()[-3000:],
    )

    states = {job_id: pg_store.get(job_id) for job_id in ids}
    by_state = Counter(job.state for job in states.values())
    assert set(by_state) <= {JobState.COMPLETED, JobState.CANCELLED}, by_state
    assert {j for j, job in states.items() if job.state is JobState.CANCELLED} == set(cancelled)

    runs = Counter(seed for seed, _ in engine_runs(engine_log))
    for job_id, job in states.items():
        seed = seed_of[job_id]
        if job.state is JobState.CANCELLED:
            assert runs[seed] == 0 and job.started_at is None
        else:
            assert runs[seed] == 1, (seed, runs[seed])  # the killed run never finished
            assert job.result is not None
            assert storage.get(job.result["layers"][0])[:4] == b"\x89PNG"
    killed = states[victim_job]
    assert killed.state is JobState.COMPLETED and killed.attempts == 2
    assert killed.worker_id != holder
    assert all(
        job.attempts == 1
        for j, job in states.items()
        if job.state is JobState.COMPLETED and j != victim_job
    )
