"""Start the real ``lamina serve`` as a subprocess on a free loopback port and drive it over
HTTP, the way a user would. Inputs come from a real loopback HTTP server."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from tests.e2e.gate_engine import GATE_DIR_ENV, PLUGIN

from lamina.client import Client
from lamina.jobs.keys import KeyStore
from lamina.jobs.store import JobStore

REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"completed", "failed", "cancelled"}
KEY_LINE = re.compile(r"API key: (lam_\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running ``lamina serve``: its URL, first API key, data dir and gate folder."""

    url: str
    key: str
    data_dir: Path
    gates: Path
    log: Path
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    clients: list[Client] = field(default_factory=list)

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def client(self, key: str | None = None) -> Client:
        client = Client(self.url, token=key or self.key, timeout=30.0)
        self.clients.append(client)
        return client

    def new_key(self, name: str = "test") -> str:
        """A fresh API key, made in the server's own database (as ``lamina keys`` does)."""
        store = JobStore(f"sqlite:///{self.data_dir / 'lamina.db'}")
        try:
            return KeyStore(store).create(name)[1]
        finally:
            store.dispose()

    def open_gate(self, name: str) -> None:
        (self.gates / name).touch()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the server and its workers at once, as a crash or power cut would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)


def start_server(
    data_dir: Path, *, extra: Sequence[str] = (), env: dict[str, str] | None = None
) -> Server:
    """Start ``lamina serve`` (gate engine, one worker) and wait until ``/healthz`` answers."""
    gates = data_dir / "gates"
    gates.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "lamina.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--engine",
        "gate",
        "--workers",
        "1",
        *extra,
    ]
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")},
        # this checkout's sources first, whatever the venv's editable install points at
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        "LAMINA_ENGINE_PLUGINS": PLUGIN,
        GATE_DIR_ENV: str(gates),
        "LAMINA_LEASE_S": "4",
        # idle workers never poll: every pick-up below is the API waking them on submit
        "LAMINA_WORKER_POLL_S": "600",
        **(env or {}),
    }
    return _launch(data_dir, gates, args, full_env)


def restart(server: Server) -> Server:
    """Start the same server again (same port, data dir and options)."""
    return _launch(server.data_dir, server.gates, server.args, server.env, key=server.key)


def _launch(
    data_dir: Path, gates: Path, args: list[str], env: dict[str, str], key: str | None = None
) -> Server:
    log = data_dir / f"serve-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{args[args.index('--port') + 1]}"
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"lamina serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise RuntimeError(f"lamina serve did not start:\n{log.read_text()}")
        time.sleep(0.1)
    if key is None:
        found = KEY_LINE.search(log.read_text())
        assert found, log.read_text()
        key = found.group(1)
    return Server(url, key, data_dir, gates, log, args, env, process)


# -- inputs --------------------------------------------------------------------------------


def design(size: int = 48, seed: int = 0) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """A small flat design: white background, two coloured rectangles, opaque."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 4), 255, dtype=np.uint8)
    for _ in range(2):
        x0, y0 = rng.integers(2, size // 2, size=2)
        w, h = rng.integers(size // 6, size // 2, size=2)
        img[y0 : y0 + h, x0 : x0 + w, :3] = rng.integers(0, 200, size=3)
    return img


def png_bytes(rgba: np.ndarray[Any, np.dtype[np.uint8]]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    return buf.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header claims ``width x height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


class ImageHost:
    """A loopback HTTP server of test inputs (``files``: path -> (content type, bytes))."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        host = self

        class _H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = host.files.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                kind, data = found
                if kind == "redirect":
                    self.send_response(302)
                    self.send_header("Location", data.decode())
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, path: str, data: bytes, kind: str = "image/png") -> str:
        self.files[path] = (kind, data)
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def image_host() -> Iterator[ImageHost]:
    host = ImageHost()
    yield host
    host.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that may fetch from loopback (``--allow-private-urls``), for the input host."""
    srv = start_server(
        tmp_path_factory.mktemp("serve"),
        extra=["--allow-private-urls"],
        env={"LAMINA_RATE_LIMIT_PER_MINUTE": "600", "LAMINA_MAX_INPUT_BYTES": "300000"},
    )
    yield srv
    srv.stop()


def wait_for(
    srv: Server, request_id: str, states: set[str], key: str | None = None, timeout: float = 60
) -> dict[str, Any]:
    """Poll status until it is one of ``states``; the last status body."""
    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(
            f"{srv.url}/v1/requests/{request_id}/status", headers=srv.auth(key), timeout=10
        ).json()
        if body.get("status") in states:
            return dict(body)
        if body.get("status") in TERMINAL or time.monotonic() > deadline:
            raise AssertionError(f"{request_id} stayed {body}; server log:\n{srv.output()}")
        time.sleep(0.05)
