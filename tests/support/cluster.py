"""A ``lamina serve --workers 0`` plus separate ``lamina worker`` processes (the fast test
engine) on one store, SQLite or PostgreSQL, that the chaos tests can kill and restart.

It is built from the server helpers (:mod:`tests.support.server`) and the worker helpers
(:mod:`tests.support.workers`); only the orchestration of the two lives here."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from tests.support.inputs import data_uri, png_bytes
from tests.support.pg import temporary_database
from tests.support.server import TERMINAL, Server, restart, start_server
from tests.support.waiting import wait_until
from tests.support.workers import engine_runs, start_worker, worker_env

from lamina.jobs.store import Job, JobStore

SUBMIT = "/v1/models/qwen/qwen-image-layered"
LEASE_S = 3.0
IMAGE = data_uri(png_bytes(np.full((16, 16, 4), 120, dtype=np.uint8)))
"""A flat 16 x 16 PNG as a ``data:`` URI: what the chaos tests submit."""


@dataclass
class Cluster:
    """The API, its workers, the store they share and the fast engine's run log."""

    database_url: str
    server: Server
    worker_env: dict[str, str]
    engine_log: Path
    worker_log: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    store: JobStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = JobStore(self.database_url)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers=self.server.auth(), timeout=30)

    def start_workers(self, count: int) -> None:
        self.workers += [start_worker(self.worker_env, self.worker_log) for _ in range(count)]

    def kill_all(self) -> None:
        """SIGKILL the API (and its process group) and every worker at once."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
        self.server.kill()
        for worker in self.workers:
            worker.wait(30)
        self.workers.clear()

    def restart_api(self) -> None:
        self.server = restart(self.server)

    def jobs(self, ids: list[str]) -> list[Job]:
        return [self.store.get(i) for i in ids]

    def submit(self, client: httpx.Client, image_url: str, **body: object) -> str:
        answer = client.post(SUBMIT, json={"image_url": image_url, "num_layers": 2, **body})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["request_id"])

    def wait_terminal(self, ids: list[str], timeout: float = 90) -> dict[str, str]:
        """Poll the API's status route until every job is terminal; request id -> status."""
        seen: dict[str, str] = {}

        def done() -> bool:
            with self.http() as client:
                for i in ids:
                    if seen.get(i) not in TERMINAL:
                        seen[i] = client.get(f"/v1/requests/{i}/status").json()["status"]
            return all(s in TERMINAL for s in seen.values())

        try:
            wait_until(done, timeout, "every job to be terminal")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {seen}\n{self.server.output()[-4000:]}") from None
        return seen

    def runs(self) -> Counter[int]:
        """How many times the engine finished each seed, across every worker process."""
        return Counter(seed for seed, _ in engine_runs(self.engine_log))

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(30)
        self.server.stop()
        self.store.dispose()


@contextmanager
def cluster(
    kind: str, tmp_path: Path, *, workers: int = 2, **settings: object
) -> Iterator[Cluster]:
    """A running cluster on ``kind`` ("sqlite" or "postgresql"); stopped at the end."""
    with _database(kind, tmp_path) as url:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        server = start_server(
            data_dir,
            extra=["--workers", "0", "--database-url", url],
            env={"LAMINA_LEASE_S": str(LEASE_S), "LAMINA_RATE_LIMIT_PER_MINUTE": "6000"},
        )
        env = worker_env(
            tmp_path / "engine.log",
            database_url=url,
            data_dir=data_dir,
            lease_s=LEASE_S,
            worker_poll_s=0.2,
            **settings,
        )
        env["PYTHONPATH"] = server.env["PYTHONPATH"]  # this checkout's sources
        found = Cluster(url, server, env, tmp_path / "engine.log", tmp_path / "workers.log")
        try:
            found.start_workers(workers)
            yield found
        finally:
            found.stop()


@contextmanager
def _database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "postgresql":
        with temporary_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'data' / 'lamina.db'}"
