"""Chaos: a live ``lamina serve`` (two pool workers, the fast test engine) under crashes,
database outages and hostile inputs, on SQLite and PostgreSQL. Every scenario ends with
every job in one terminal state, no finished run lost, and the server answering.

A run counts as finished when the engine logged it (``LAMINA_TEST_ENGINE_LOG``); a run
killed after it finished but before its outcome was stored is run again (at-least-once),
so a job may run twice only if it was running at the moment of a kill.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
from tests.support.engines import FAST_PLUGIN, GATE_PLUGIN, LOG_ENV
from tests.support.inputs import png_bytes
from tests.support.pg import temporary_database
from tests.support.server import Server, restart, start_server
from tests.support.waiting import wait_until
from tests.support.workers import engine_runs

from lamina.client import Client

pytestmark = pytest.mark.slow
JOBS = 12
TERMINAL = {"completed", "failed", "cancelled"}
SUBMIT = "/v1/models/qwen/qwen-image-layered"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
    else:
        with temporary_database() as url:
            yield url


def _serve(tmp_path: Path, database: str | None, **env: str) -> tuple[Server, Path]:
    engine_log = tmp_path / "engine.log"
    extra = ["--engine", "fast", "--workers", "2"]
    if database is not None:
        extra += ["--database-url", database]
    server = start_server(
        tmp_path / "data",
        extra=extra,
        env={
            "LAMINA_ENGINE_PLUGINS": f"{GATE_PLUGIN},{FAST_PLUGIN}",
            LOG_ENV: str(engine_log),
            "LAMINA_RATE_LIMIT_PER_MINUTE": "0",
            **env,
        },
    )
    return server, engine_log


def _submit_all(server: Server, prompt: str = "sleep:0.4") -> list[str]:
    image = png_bytes(np.full((8, 8, 4), 120, dtype=np.uint8))
    with Client(server.url, token=server.key) as client:
        source = client.upload(image).url
        return [client.submit(source, seed=s, prompt=prompt).request_id for s in range(JOBS)]


def _states(server: Server, ids: list[str]) -> dict[str, str]:
    with Client(server.url, token=server.key) as client:
        return {i: client.status(i).status for i in ids}


def _settle(server: Server, ids: list[str], timeout: float = 120) -> dict[str, str]:
    wait_until(lambda: set(_states(server, ids).values()) <= TERMINAL, timeout, "every job to end")
    return _states(server, ids)


def _running(server: Server, ids: list[str]) -> int:
    return sum(state == "in_progress" for state in _states(server, ids).values())


def _workers(server: Server) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in out.stdout.split()]


def _check_runs(engine_log: Path, killed_while_running: int) -> None:
    runs = Counter(seed for seed, _ in engine_runs(engine_log))
    assert set(runs) == set(range(JOBS)), runs  # every job's run finished
    assert sum(runs.values()) - JOBS <= killed_while_running, runs


def test_sigkill_of_api_and_workers_mid_queue_loses_no_job(
    tmp_path: Path, database: str | None
) -> None:
    server, engine_log = _serve(tmp_path, database)
    try:
        ids = _submit_all(server)
        wait_until(lambda: _running(server, ids) > 0, 30, "a job to run")
        running = _running(server, ids)
        server.kill()  # the API and both workers at once, mid-queue and mid-run
        server = restart(server)
        states = _settle(server, ids)
        assert Counter(states.values()) == {"completed": JOBS}, states
        _check_runs(engine_log, killed_while_running=max(running, 2))
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
    finally:
        server.stop()


def test_sigkill_of_the_workers_alone_requeues_their_jobs(
    tmp_path: Path, database: str | None
) -> None:
    server, engine_log = _serve(tmp_path, database)
    try:
        ids = _submit_all(server)
        wait_until(lambda: _running(server, ids) > 0, 30, "a job to run")
        workers = _workers(server)
        assert len(workers) == 2, workers
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        # the pool starts new workers; the killed ones' leases (4 s) lapse and are reaped
        states = _settle(server, ids)
        assert Counter(states.values()) == {"completed": JOBS}, states
        _check_runs(engine_log, killed_while_running=2)
        assert set(_workers(server)).isdisjoint(workers) and len(_workers(server)) == 2
    finally:
        server.stop()


def test_postgresql_backends_terminated_mid_run(tmp_path: Path) -> None:
    with temporary_database() as url:
        server, engine_log = _serve(tmp_path, url)
        name = url.rsplit("/", 1)[1]
        try:
            ids = _submit_all(server)
            terminated = 0
            with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
                for _ in range(4):  # as a failover or a network cut would, while jobs run
                    time.sleep(0.7)
                    rows = admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (name,),
                    ).fetchall()
                    terminated += len(rows)
            assert terminated > 0
            states = _settle(server, ids)
            assert Counter(states.values()) == {"completed": JOBS}, states
            # a worker whose connection dropped while recording an outcome may run a job again
            _check_runs(engine_log, killed_while_running=JOBS)
            assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
        finally:
            server.stop()


@contextlib.contextmanager
def _trickling_server(every_s: float = 0.5) -> Iterator[str]:
    """A loopback HTTP server that sends one header byte every ``every_s`` seconds."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.recv(4096)
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n" * 1000:
                    if stop.wait(every_s):
                        return
                    conn.sendall(bytes([byte]))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/slow.png"
    finally:
        stop.set()
        listener.close()
        thread.join(5)


def _blank_png(width: int, height: int) -> bytes:
    """An all-white RGB PNG, built row by row (about 116 KB for 40 MP)."""
    raw = zlib.compressobj(9)
    body = io.BytesIO()
    row = b"\0" + b"\xff" * (3 * width)
    for _ in range(height):
        body.write(raw.compress(row))
    body.write(raw.flush())

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", body.getvalue())
        + chunk(b"IEND", b"")
    )


def test_hostile_inputs_end_cleanly_and_the_server_answers(tmp_path: Path) -> None:
    server, _ = _serve(
        tmp_path,
        None,
        LAMINA_FETCH_TIMEOUT_S="2",
        LAMINA_ALLOW_PRIVATE_URLS="true",
        # a budget the blank 40 MP image exceeds: refused before the engine runs
        LAMINA_MAX_JOB_MEMORY="512MiB",
    )
    try:
        workers = _workers(server)
        with (
            _trickling_server() as slow_url,
            httpx.Client(base_url=server.url, headers=server.auth(), timeout=30) as http,
        ):
            started = time.monotonic()
            slow = http.post(SUBMIT, json={"image_url": slow_url}).json()["request_id"]
            with Client(server.url, token=server.key) as client:
                big = client.submit(client.upload(_blank_png(6300, 6300)).url).request_id
            encoded = "data:image/png," + "%00" * 3_000_000
            answer = http.post(SUBMIT, json={"image_url": encoded})
            assert answer.status_code == 400, answer.text
            assert answer.json()["error_code"] == 400001

            states = _settle(server, [slow, big], timeout=60)
            assert states == {slow: "failed", big: "failed"}
            slow_error = http.get(f"/v1/requests/{slow}/result").json()["error"]
            assert "timed out" in slow_error, slow_error
            assert time.monotonic() - started < 30  # the 2 s fetch deadline held
            big_error = http.get(f"/v1/requests/{big}/result").json()["error"]
            assert "LAMINA_MAX_JOB_MEMORY" in big_error or "memory" in big_error, big_error
            assert http.get("/healthz").status_code == 200
        assert _workers(server) == workers  # no worker died on the way
    finally:
        server.stop()
