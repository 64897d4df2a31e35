"""PostgreSQL backends terminated mid-run: every session of the test database (the API's,
the workers', their LISTEN connections) is killed with ``pg_terminate_backend`` several times
while jobs run; every job still completes exactly once and the API keeps answering."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from tests.support.cluster import IMAGE, cluster
from tests.support.pg import PG_SERVER
from tests.support.waiting import wait_until

from lamina.jobs.states import JobState

JOBS = 16
ROUNDS = 4


def _terminate_all(database_url: str) -> int:
    """Kill every other backend on this test database; how many there were."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def test_postgresql_backends_terminated_mid_run(tmp_path: Path) -> None:
    with cluster("postgresql", tmp_path, workers=2) as cl:
        with cl.http() as client:
            ids = [cl.submit(client, IMAGE, seed=s, prompt="sleep:0.6") for s in range(JOBS)]
        wait_until(
            lambda: any(j.state is JobState.IN_PROGRESS for j in cl.jobs(ids)), 60, "a job running"
        )
        killed = []
        for _ in range(ROUNDS):
            killed.append(_terminate_all(cl.database_url))
            cl.store.dispose()  # the test's own pooled connections were killed too
            time.sleep(1.0)
        assert min(killed) >= 3, killed  # the API's and both workers' sessions at least
        states = [j.state for j in cl.jobs(ids)]
        assert JobState.IN_QUEUE in states or JobState.IN_PROGRESS in states  # still mid-run

        final = cl.wait_terminal(ids)
        assert [final[i] for i in ids] == ["completed"] * JOBS, final
        assert cl.runs() == {seed: 1 for seed in range(JOBS)}
        assert all(w.poll() is None for w in cl.workers)  # no worker died of it
        with cl.http() as client:
            assert client.get("/healthz").status_code == 200
            fresh = cl.submit(client, IMAGE, seed=99)
        assert cl.wait_terminal([fresh]) == {fresh: "completed"}
