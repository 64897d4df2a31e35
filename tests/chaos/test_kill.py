"""SIGKILL of the API and of every worker at once, mid-queue (jobs queued and two running),
on SQLite and PostgreSQL: after a restart every job ends in its one expected terminal state,
the engine finished each completed job exactly once, and the server still takes work."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.cluster import IMAGE, cluster
from tests.support.waiting import wait_until

from lamina.jobs.states import JobState

JOBS = 12
WORKERS = 2


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sigkill_api_and_workers_mid_queue(kind: str, tmp_path: Path) -> None:
    with cluster(kind, tmp_path, workers=WORKERS) as cl:
        with cl.http() as client:
            ids = [cl.submit(client, IMAGE, seed=s, prompt="sleep:1") for s in range(JOBS)]
            failing = cl.submit(client, IMAGE, seed=100, prompt="fail")
            cancelled = cl.submit(client, IMAGE, seed=101, prompt="sleep:1")
            assert client.post(f"/v1/requests/{cancelled}/cancel").status_code == 200
        everything = [*ids, failing, cancelled]

        def mid_run() -> bool:
            # both workers inside the engine's sleep, well away from its end, so a killed
            # run can never have been logged as finished yet
            running = [j for j in cl.jobs(everything) if j.state is JobState.IN_PROGRESS]
            return len(running) == WORKERS and all(0.1 < j.progress < 0.7 for j in running)

        wait_until(mid_run, 60, "two jobs mid-run")
        cl.kill_all()
        states = [j.state for j in cl.jobs(everything)]
        assert states.count(JobState.IN_PROGRESS) == WORKERS
        assert states.count(JobState.IN_QUEUE) >= 4, states  # killed mid-queue

        cl.restart_api()
        cl.start_workers(WORKERS)
        final = cl.wait_terminal(everything)

        assert [final[i] for i in ids] == ["completed"] * JOBS
        assert (final[failing], final[cancelled]) == ("failed", "cancelled")
        assert cl.runs() == {seed: 1 for seed in range(JOBS)}  # none lost, none twice
        attempts = sorted(j.attempts for j in cl.jobs(ids))
        assert attempts.count(2) == WORKERS and set(attempts) <= {1, 2}, attempts
        # the server answers and still runs new work
        with cl.http() as client:
            assert client.get("/healthz").status_code == 200
            fresh = cl.submit(client, IMAGE, seed=200)
        assert cl.wait_terminal([fresh]) == {fresh: "completed"}
        assert "Traceback" not in cl.server.output()
