"""A server without ``--allow-private-urls``: SSRF attempts are refused at submit, and a
SIGKILL mid-queue loses nothing: after a restart every job ends."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from tests.support.inputs import design, png_bytes
from tests.support.server import Server, restart, start_server, wait_for

SUBMIT = "/v1/models/qwen/qwen-image-layered"


@pytest.fixture(scope="module")
def public_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("public"))
    yield srv
    srv.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/a.png",
        "http://localhost/a.png",
        "http://[::1]/a.png",
        "http://[::ffff:127.0.0.1]/a.png",
        "http://2130706433/a.png",
        "http://0177.0.0.1/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/a.png",
        "http://192.168.0.1/a.png",
        "http://[fd00::1]/a.png",
        "http://0.0.0.0:8000/healthz",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "ftp://example.com/a.png",
        "http://name.invalid/a.png",
    ],
)
def test_ssrf_attempts_are_refused_at_submit(public_server: Server, url: str) -> None:
    answer = httpx.post(
        public_server.url + SUBMIT, json={"image_url": url}, headers=public_server.auth()
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == 400001
    assert "image_url" in answer.json()["error_message"]


def test_sigkill_mid_queue_then_restart_every_job_ends(public_server: Server) -> None:
    srv = public_server
    image = "data:image/png;base64," + base64.b64encode(png_bytes(design(32, seed=9))).decode()
    auth = srv.auth()

    def submit(prompt: str | None) -> str:
        body = {"image_url": image, "num_layers": 2, **({"prompt": prompt} if prompt else {})}
        answer = httpx.post(srv.url + SUBMIT, json=body, headers=auth)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["request_id"])

    running = submit("gate:crash")
    wait_for(srv, running, {"in_progress"})
    queued = [submit(None) for _ in range(3)]
    cancelled = submit(None)
    assert (
        httpx.post(f"{srv.url}/v1/requests/{cancelled}/cancel", headers=auth).json()["outcome"]
        == "cancelled"
    )
    srv.kill()

    srv.open_gate("crash")
    again = restart(srv)
    try:
        # the crashed job's lease (4 s here) runs out and it is run again
        for request_id in (running, *queued):
            assert wait_for(again, request_id, {"completed", "failed"})["status"] == "completed"
        assert wait_for(again, cancelled, {"cancelled"})["status"] == "cancelled"
        result = httpx.get(f"{again.url}/v1/requests/{running}/result", headers=auth).json()
        assert len(result["output"]["images"]) == 2
        assert httpx.get(result["output"]["images"][1]).status_code == 200
        # a start with nothing to migrate prints the one serving line, no alembic chatter
        assert "alembic" not in again.output() and "serving on" in again.output()
    finally:
        again.stop()
