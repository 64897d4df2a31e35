"""Storage that fails for a while, against a real ``lamina serve``: the running job is held
and retried (not failed), the API answers 503 with ``Retry-After`` on the same keep-alive
connection, ``/healthz`` names the storage, and all is well once the storage is back."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import httpx
from tests.support.inputs import design, png_bytes
from tests.support.server import start_server, wait_for

from lamina.jobs.store import JobStore

SUBMIT = "/v1/models/qwen/qwen-image-layered"


def _local_port(answer: httpx.Response) -> int:
    return int(answer.extensions["network_stream"].get_extra_info("client_addr")[1])


def test_a_storage_outage_is_503_and_the_running_job_survives_it(tmp_path: Path) -> None:
    server = start_server(tmp_path / "serve")
    image = "data:image/png;base64," + base64.b64encode(png_bytes(design())).decode()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    try:
        with httpx.Client(base_url=server.url, headers=server.auth(), limits=limits) as client:
            submitted = client.post(SUBMIT, json={"image_url": image, "prompt": "gate:g"})
            request_id = submitted.json()["request_id"]
            port = _local_port(submitted)
            wait_for(server, request_id, {"in_progress"})

            files = server.data_dir / "files"
            files.rename(files.with_name("files.aside"))
            files.write_bytes(b"")  # the storage directory is gone (root ignores chmod)
            server.open_gate("g")  # the job now fails to store its layers
            refused = client.post(SUBMIT, json={"image_url": image})
            # /healthz caches its check for a second, so an answer from just before the
            # outage may still be served: ask until it sees it (well inside the 5 s back-off).
            deadline = time.monotonic() + 3.0
            health = client.get("/healthz")
            while health.status_code != 503 and time.monotonic() < deadline:
                time.sleep(0.2)
                health = client.get("/healthz")
            # the engine may take a while on a loaded machine: restore only once the job
            # has met the outage and is held for its retry
            deadline = time.monotonic() + 60.0
            while "back in the queue" not in server.output() and time.monotonic() < deadline:
                time.sleep(0.1)
            held = client.get(f"/v1/requests/{request_id}/status").json()

            assert (refused.status_code, refused.json()["error_code"]) == (503, 503002)
            assert refused.headers["retry-after"] == "5"
            assert health.status_code == 503 and health.json()["storage"].startswith("unavail")
            assert held["status"] == "in_progress"  # held through its back-off, not failed
            assert {_local_port(refused), _local_port(health)} == {port}  # kept alive

            files.unlink()
            files.with_name("files.aside").rename(files)
            done = wait_for(server, request_id, {"completed", "failed"}, timeout=60)
            assert done["status"] == "completed"
            time.sleep(1.1)  # past the cached health check
            assert client.get("/healthz").json()["status"] == "ok"
            assert client.post(SUBMIT, json={"image_url": image}).status_code == 200
    finally:
        server.stop()
    store = JobStore(f"sqlite:///{server.data_dir / 'lamina.db'}")
    try:
        job = store.get(request_id)
        assert (job.attempts, job.error) == (2, None), server.output()[-3000:]
    finally:
        store.dispose()
    assert "OSError" not in server.output() and "Traceback" not in server.output()
