"""Storage made unwritable and restored while jobs are queued and running (SQLite and
PostgreSQL): submits answer 503 with ``Retry-After`` during the outage, running jobs are
held and retried, and after the restore every job completes exactly once.

The tests run as root, which ignores ``chmod``, so the outage is made the way
``tests/e2e/test_faults.py`` makes it: the storage folder is moved aside and a plain file
takes its place, so every read and write under it fails with an ``OSError``."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.cluster import IMAGE, cluster
from tests.support.waiting import wait_until

from lamina.jobs.states import JobState

JOBS = 8


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_storage_outage_and_restore(kind: str, tmp_path: Path) -> None:
    with cluster(kind, tmp_path, workers=2) as cl:
        # both workers up before the outage (one started during it waits for the storage,
        # tests/jobs/test_runner.py; here the outage is to meet running jobs)
        wait_until(lambda: cl.store.stats()["workers_alive"] == 2, 60, "both workers")
        with cl.http() as client:
            ids = [cl.submit(client, IMAGE, seed=s, prompt="sleep:0.5") for s in range(JOBS)]
            wait_until(
                lambda: any(j.state is JobState.IN_PROGRESS for j in cl.jobs(ids)), 60, "a run"
            )
            files = cl.server.data_dir / "files"
            files.rename(files.with_name("files.aside"))
            files.write_bytes(b"")
            try:
                refused = client.post(
                    "/v1/models/qwen/qwen-image-layered", json={"image_url": IMAGE}
                )
                # running jobs try to store their layers, cannot, and are held for a retry
                wait_until(
                    lambda: "back in the queue" in cl.worker_log.read_text(), 30, "a held job"
                )
                during = [j.state for j in cl.jobs(ids)]
            finally:
                files.unlink()
                files.with_name("files.aside").rename(files)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error_code"] == 503002
        assert refused.headers["retry-after"] == "5"
        assert JobState.COMPLETED not in during[-2:] and JobState.FAILED not in during

        final = cl.wait_terminal(ids, timeout=120)
        assert [final[i] for i in ids] == ["completed"] * JOBS, final
        jobs = cl.jobs(ids)
        runs = cl.runs()
        # each attempt ran the engine at most once, and some attempt was hit by the outage
        assert all(1 <= runs[s] <= job.attempts for s, job in enumerate(jobs)), (runs, jobs)
        assert max(job.attempts for job in jobs) >= 2
        assert all(job.error is None for job in jobs)
        assert all(w.poll() is None for w in cl.workers), cl.worker_log.read_text()[-4000:]
        with cl.http() as client:
            wait_until(lambda: client.get("/healthz").status_code == 200, 5, "healthz ok")
            fresh = cl.submit(client, IMAGE, seed=99)
        assert cl.wait_terminal([fresh]) == {fresh: "completed"}
