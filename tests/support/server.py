"""A real ``lamina serve`` as a subprocess on a free loopback port, driven over HTTP the way a
user would: start, restart, kill, and poll a request's status."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.support import REPO
from tests.support.engines import GATE_DIR_ENV, GATE_PLUGIN

from lamina.client import Client
from lamina.jobs.keys import KeyStore
from lamina.jobs.store import JobStore

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
        "LAMINA_ENGINE_PLUGINS": GATE_PLUGIN,
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
