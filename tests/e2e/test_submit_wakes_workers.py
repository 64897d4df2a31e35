"""``lamina serve`` wakes its idle workers on submit: the API's ``on_submit`` writes to each
pool child's pipe.

The server's worker neither polls (``LAMINA_WORKER_POLL_S=600``) nor runs its reap cycle
(which claims too; every 30 s with a 600 s lease) within the test's patience for each job
(:data:`PICKUP_S`), and each job is queued only after the worker has had time to go back
to sleep: a job that completes in time was picked up because the submit woke the worker.
With the API not calling the pool's ``wake`` this test fails.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from tests.support.inputs import data_uri, design, png_bytes
from tests.support.server import start_server, wait_for
from tests.support.waiting import wait_until

from lamina.jobs.store import JobStore

PICKUP_S = 10.0
SETTLE_S = 1.0
"""A pause before each submit, far longer than an idle worker takes to claim nothing and
go back to sleep, so no claim already under way picks the job up."""


def test_a_submit_wakes_the_idle_worker_of_lamina_serve(tmp_path: Path) -> None:
    server = start_server(tmp_path, env={"LAMINA_LEASE_S": "600"})
    store = JobStore(f"sqlite:///{tmp_path / 'lamina.db'}")
    try:
        wait_until(lambda: store.stats()["workers_alive"] == 1, 60, "the worker")
        image = data_uri(png_bytes(design(32)))
        for seed in range(3):  # each after the worker went back to sleep
            time.sleep(SETTLE_S)
            answer = httpx.post(
                f"{server.url}/v1/models/qwen/qwen-image-layered",
                json={"image_url": image, "num_layers": 2, "seed": seed},
                headers=server.auth(),
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            wait_for(server, answer.json()["request_id"], {"completed"}, timeout=PICKUP_S)
    finally:
        store.dispose()
        server.stop()
