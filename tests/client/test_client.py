"""The client against the real app served by uvicorn on a loopback port."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import uvicorn
from tests.support.inputs import data_uri, png
from tests.support.service import Env, make_env

from lamina.api.app import create_app
from lamina.client import APIError, AsyncClient, Client, PollTimeout, RequestFailed


class _Uvicorn:
    def __init__(self, env: Env) -> None:
        config = uvicorn.Config(
            create_app(env.settings, service=env.service),
            host="127.0.0.1",
            port=0,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Env]]:
    env = make_env(tmp_path)
    srv = _Uvicorn(env)
    yield srv.url, env
    srv.stop()
    env.store.dispose()


class _Recorder:
    """A loopback server that records headers and answers from a script of responses."""

    def __init__(self, script: list[tuple[int, dict[str, str], bytes]]) -> None:
        self.seen: list[dict[str, str]] = []
        rec = self

        class _H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                rec.seen.append(dict(self.headers))
                status, headers, body = script.pop(0) if len(script) > 1 else script[0]
                self.send_response(status)
                for k, v in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_submit_status_cancel_and_errors(served: tuple[str, Env]) -> None:
    url, env = served
    with Client(url, token=env.secret) as client:
        submitted = client.submit(data_uri(png()), num_layers=2, prompt=None)
        status = client.status(submitted.request_id)
        assert (status.status, status.queue_position) == ("in_queue", 0)
        assert client.cancel(submitted.request_id).outcome == "cancelled"
        with pytest.raises(APIError) as bad:
            client.submit(data_uri(png()), num_layers=99)
        assert (bad.value.status, bad.value.error_code) == (422, 422001)
        assert bad.value.detail[0]["field"] == "num_layers"
        with pytest.raises(APIError) as missing:
            client.result("0" * 32)
        assert missing.value.error_code == 404001
        with pytest.raises(ValueError):
            client.status("../../admin")
    with Client(url, token="lam_wrong") as stranger, pytest.raises(APIError) as denied:
        stranger.models()
    assert denied.value.error_code == 401001


def test_wait_reports_failures_and_timeouts(served: tuple[str, Env]) -> None:
    url, env = served
    with Client(url, token=env.secret) as client:
        failing = client.submit(data_uri(png())).request_id
        job = env.store.claim("w", lease_s=30)
        assert job is not None
        env.store.fail(job.id, "w", "no layers found")
        with pytest.raises(RequestFailed, match="no layers found") as failed:
            client.wait(failing, poll_interval=0.01)
        assert failed.value.result.status == "failed"
        queued = client.submit(data_uri(png())).request_id
        with pytest.raises(PollTimeout) as timeout:
            client.wait(queued, poll_interval=0.01, timeout=0.2)
        assert timeout.value.status == "in_queue"


def test_configuration_from_the_environment(
    served: tuple[str, Env], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, env = served
    monkeypatch.setenv("LAMINA_API_URL", url)
    monkeypatch.setenv("LAMINA_API_TOKEN", env.secret)
    with Client() as client:
        assert client.models().models[0].id == "qwen/qwen-image-layered"
    with pytest.raises(ValueError):
        Client("ftp://example.com")


def test_async_client_upload_and_status(served: tuple[str, Env]) -> None:
    url, env = served

    async def go() -> str:
        async with AsyncClient(url, token=env.secret) as client:
            uploaded = await client.upload(png(), filename="a.png")
            submitted = await client.submit(uploaded.url)
            return str((await client.status(submitted.request_id)).status)

    assert asyncio.run(go()) == "in_queue"


def test_the_token_never_goes_to_output_hosts() -> None:
    other = _Recorder([(200, {"Content-Type": "image/png"}, png())])
    try:
        with Client("http://127.0.0.1:9", token="lam_secret") as client:
            assert client.download(other.url + "/layer_00.png") == png()
        assert "Authorization" not in other.seen[0]
    finally:
        other.close()


def test_idempotent_calls_retry_after_429_and_503() -> None:
    ok = {"request_id": "a" * 32, "status": "in_queue", "queue_position": 3}
    server = _Recorder(
        [
            (429, {"Retry-After": "0"}, b'{"error_code":429001,"error_message":"slow down"}'),
            (503, {}, b"busy"),
            (200, {"Content-Type": "application/json"}, json.dumps(ok).encode()),
        ]
    )
    try:
        with Client(server.url, token="lam_t", retries=2) as client:
            assert client.status("a" * 32).queue_position == 3
        assert len(server.seen) == 3
        assert server.seen[0]["Authorization"] == "Bearer lam_t"
    finally:
        server.close()


def test_both_clients_take_the_same_steps_on_retries_and_transport_errors() -> None:
    """One flow (lamina.client._flows) drives both: the same answers, the same requests."""
    ok = {"request_id": "a" * 32, "status": "in_queue", "queue_position": 3}
    script = [
        (503, {"Retry-After": "0"}, b"busy"),
        (200, {"Content-Type": "application/json"}, json.dumps(ok).encode()),
    ]
    sync_server, async_server = _Recorder(list(script)), _Recorder(list(script))

    async def with_async() -> int | None:
        async with AsyncClient(async_server.url, token="lam_t", retries=1) as client:
            return (await client.status("a" * 32)).queue_position

    try:
        with Client(sync_server.url, token="lam_t", retries=1) as client:
            assert client.status("a" * 32).queue_position == 3
        assert asyncio.run(with_async()) == 3
        assert len(sync_server.seen) == len(async_server.seen) == 2
        # nothing listens on port 9: the connection error surfaces once the retries are spent
        for retries in (0, 1):
            with (
                Client("http://127.0.0.1:9", token="t", retries=retries) as client,
                pytest.raises(httpx.ConnectError),
            ):
                client.status("a" * 32)
    finally:
        sync_server.close()
        async_server.close()
