"""Issue 5: ``lamina serve --workers 0`` on PostgreSQL with a separate ``lamina worker``.

Jobs are submitted over HTTP; the API is SIGKILLed while they run and started again; every
job still completes exactly once and stays visible to the key that made it.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import numpy as np
from tests.support.inputs import png_bytes
from tests.support.pg import temporary_database
from tests.support.server import restart, start_server
from tests.support.waiting import wait_until
from tests.support.workers import engine_runs, start_worker, worker_env

from lamina.client import Client

JOBS = 12


def test_api_restart_loses_no_job(tmp_path: Path) -> None:
    image = png_bytes(np.full((8, 8, 4), 120, dtype=np.uint8))
    with temporary_database() as url:
        data_dir = tmp_path / "api"
        server = start_server(data_dir, extra=["--workers", "0", "--database-url", url])
        engine_log, log = tmp_path / "engine.log", tmp_path / "worker.log"
        env = worker_env(engine_log, database_url=url, data_dir=data_dir, lease_s=4)
        worker = start_worker(env, log)
        try:
            with Client(server.url, token=server.key) as client:
                source = client.upload(image).url
                # the first job sleeps so the API dies while work is in flight
                ids = [client.submit(source, seed=0, prompt="sleep:2").request_id]
                ids += [client.submit(source, seed=s).request_id for s in range(1, JOBS)]
            server.kill()
            server = restart(server)
            with Client(server.url, token=server.key) as client:
                wait_until(
                    lambda: all(client.status(i).status == "completed" for i in ids),
                    90,
                    "every job to complete after the API restart",
                )
                for request_id in ids:
                    result = client.result(request_id)
                    assert (
                        result.output is not None and len(result.output.images) == 4
                    )  # default num_layers
            runs = Counter(seed for seed, _ in engine_runs(engine_log))
            assert runs == Counter(range(JOBS)), runs
        finally:
            server.stop()
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
