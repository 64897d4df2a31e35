"""API overheads, each next to a baseline measured in the same run.

Usage: ``.venv/bin/python -m bench.api [--requests 3000] [--concurrency 16]
[--sizes 100,1000,10000] [--pickups 20] [--pg postgresql://...]``. Starts real ``lamina
serve`` (and ``lamina worker``) processes on loopback ports (own temporary data dirs, a
throw-away PostgreSQL database) and prints Markdown tables:

1. submit -> ``in_progress`` on an idle queue (one classic worker), next to the submit
   round trip alone: a ``lamina serve`` pool worker (woken by the API through a pipe), a
   stand-alone ``lamina worker`` on PostgreSQL (woken by ``NOTIFY``), and, as the baseline,
   a stand-alone ``lamina worker`` on SQLite (nothing wakes it: it polls every 0.5 s);
2. status throughput and latency under a concurrent load generator (bounded in requests
   and time), next to ``/healthz`` (the floor: no auth, no database), on the SQLite store
   (read on the event loop) and on a PostgreSQL store (read in the thread pool);
3. submit, status and ``queue_position`` latency with 100 / 1,000 / 10,000 queued jobs
   (no workers), as ratios to the smallest queue.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
from PIL import Image

from bench.queue import pg_database

REPO = Path(__file__).resolve().parents[1]
SUBMIT = "/v1/models/qwen/qwen-image-layered"


@dataclass
class Served:
    url: str
    key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes] | None = None

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def stop(self) -> None:
        for process in (self.worker, self.process):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env["LAMINA_RATE_LIMIT_PER_MINUTE"] = "0"
    return env


def start(
    data_dir: Path, workers: int, database_url: str | None = None, extra: Sequence[str] = ()
) -> Served:
    """``lamina serve`` with rate limiting off (and ``extra`` flags); waits for ``/healthz``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _env()
    log = data_dir / "serve.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    db = ("--database-url", database_url) if database_url else ()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "lamina.cli", "serve", "--port", str(port), *db),
                *("--data-dir", str(data_dir), "--workers", str(workers), "--engine", "classic"),
                *extra,
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text()) from None
        time.sleep(0.1)
    found = re.search(r"API key: (lam_\S+)", log.read_text())
    if found is None:
        raise RuntimeError(log.read_text())
    return Served(url, found.group(1), data_dir, process)


def add_worker(srv: Served, database_url: str | None = None) -> None:
    """A stand-alone ``lamina worker`` on the server's store (not woken by its API)."""
    db = ("--database-url", database_url) if database_url else ()
    with (srv.data_dir / "worker.log").open("wb") as out:
        srv.worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "lamina.cli", "worker", *db),
                *("--data-dir", str(srv.data_dir), "--engine", "classic"),
            ],
            cwd=REPO,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def tiny_image_uri() -> str:
    rgba = np.full((16, 16, 4), 255, dtype=np.uint8)
    rgba[4:12, 4:12, :3] = (200, 30, 30)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def ms(values: list[float], q: float = 0.5) -> float:
    """The ``q`` quantile of seconds, in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


def pickup(srv: Served, runs: int) -> tuple[list[float], list[float]]:
    """Seconds from sending a submit to seeing ``in_progress``; and the submit round trips."""
    image = tiny_image_uri()
    to_running, round_trips = [], []
    with httpx.Client(base_url=srv.url, headers=srv.auth()) as http:
        for _ in range(runs):
            start = time.perf_counter()
            rid = http.post(SUBMIT, json={"image_url": image, "num_layers": 1}).json()["request_id"]
            round_trips.append(time.perf_counter() - start)
            while True:
                state = http.get(f"/v1/requests/{rid}/status").json()["status"]
                if state != "in_queue":
                    to_running.append(time.perf_counter() - start)
                    break
                time.sleep(0.002)
            while http.get(f"/v1/requests/{rid}/status").json()["status"] not in (
                "completed",
                "failed",
            ):
                time.sleep(0.01)
    return to_running, round_trips


async def load(
    url: str, headers: dict[str, str], total: int, concurrency: int
) -> tuple[float, list[float]]:
    """``total`` GETs of ``url`` over ``concurrency`` keep-alive connections (60 s at most):
    requests per second and each latency.

    A raw-socket HTTP/1.1 client, so that the generator, which shares the two cores with
    the server, costs as little CPU as possible (httpx would cost more than the server).
    """
    parts = urlsplit(url)
    head = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (head + "\r\n").encode()
    latencies: list[float] = []
    remaining = [total]
    deadline = time.monotonic() + 60

    async def one() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while remaining[0] > 0 and time.monotonic() < deadline:
                remaining[0] -= 1
                start = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if b" 200 " not in status_line:
                    raise RuntimeError(f"{url}: {status_line!r}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies


def fill_queue(srv: Served, target: int) -> None:
    """Queue jobs through the store directly up to ``target`` (HTTP would take minutes)."""
    from lamina.jobs.keys import KeyStore
    from lamina.jobs.store import JobStore

    store = JobStore(f"sqlite:///{srv.data_dir / 'lamina.db'}")
    owner = KeyStore(store).list()[0].id
    queued = store.stats()["queue_depth"]
    params = {"num_layers": 1, "image_url": "https://example.com/a.png"}
    for _ in range(target - queued):
        store.submit(owner=owner, model_id="qwen/qwen-image-layered", params=params, input_url="x")
    store.dispose()


def scaling(
    srv: Served, sizes: list[int], samples: int = 50
) -> list[tuple[int, float, float, float]]:
    """Median submit, status-of-the-last-job and status-of-the-first-job latencies (ms) at
    each queue size."""
    rows = []
    image = tiny_image_uri()
    with httpx.Client(base_url=srv.url, headers=srv.auth()) as http:
        for size in sizes:
            fill_queue(srv, size - samples)
            submits, last_status = [], []
            rid = ""
            for _ in range(samples):
                start = time.perf_counter()
                rid = http.post(SUBMIT, json={"image_url": image}).json()["request_id"]
                submits.append(time.perf_counter() - start)
            for _ in range(samples):
                start = time.perf_counter()
                body = http.get(f"/v1/requests/{rid}/status").json()
                last_status.append(time.perf_counter() - start)
            assert body["queue_position"] == size - 1, body
            healthz = []
            for _ in range(samples):
                start = time.perf_counter()
                http.get("/healthz")
                healthz.append(time.perf_counter() - start)
            rows.append((size, ms(submits), ms(last_status), ms(healthz)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", default="4,16", help="connections, comma-separated")
    parser.add_argument("--pickups", type=int, default=20)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with tempfile.TemporaryDirectory(prefix="lamina-bench-api-") as tmp, pg_database(args.pg) as pg:
        setups = (
            ("`lamina serve` pool worker, SQLite (woken through a pipe)", "pool", None),
            ("stand-alone `lamina worker`, PostgreSQL (woken by NOTIFY)", "pg", pg),
            ("stand-alone `lamina worker`, SQLite (polls every 0.5 s: baseline)", "poll", None),
        )
        rows = []
        for label, name, database_url in setups:
            pooled = name == "pool"
            srv = start(Path(tmp) / name, workers=1 if pooled else 0, database_url=database_url)
            try:
                if not pooled:
                    add_worker(srv, database_url)
                time.sleep(3.0)  # let the worker import its engine and go idle
                rows.append((label, *pickup(srv, args.pickups)))
            finally:
                srv.stop()
        print("\n### submit -> in_progress (idle queue, 1 classic worker)\n")
        print("| worker | submit round trip p50 ms | submit -> in_progress p50 ms | p90 ms |")
        print("|---|---:|---:|---:|")
        for label, to_running, round_trips in rows:
            print(
                f"| {label} | {ms(round_trips):.1f} | {ms(to_running):.1f} | "
                f"{ms(to_running, 0.9):.1f} |"
            )

        srv = start(Path(tmp) / "api", workers=0)
        try:
            with pg_database(args.pg) as pg_api:
                pg_srv = start(Path(tmp) / "api-pg", workers=0, database_url=pg_api)
                try:
                    targets = []
                    for label, served in (("", srv), (", PostgreSQL store", pg_srv)):
                        rid = httpx.post(
                            served.url + SUBMIT,
                            json={"image_url": tiny_image_uri()},
                            headers=served.auth(),
                        ).json()["request_id"]
                        targets.append((label, served, rid))
                    print(f"\n### throughput ({args.requests} requests per row)\n")
                    print("| endpoint | connections | req/s | p50 ms | p99 ms |")
                    print("|---|---:|---:|---:|---:|")
                    for conns in (int(c) for c in args.concurrency.split(",")):
                        cases = [("/healthz (floor)", srv.url + "/healthz", {})]
                        cases += [
                            (
                                f"status{label}",
                                f"{served.url}/v1/requests/{rid}/status",
                                served.auth(),
                            )
                            for label, served, rid in targets
                        ]
                        for name, url, headers in cases:
                            rate, lat = asyncio.run(load(url, headers, args.requests, conns))
                            print(
                                f"| {name} | {conns} | {rate:.0f} | {ms(lat):.1f} | "
                                f"{ms(lat, 0.99):.1f} |"
                            )
                finally:
                    pg_srv.stop()
            rows = scaling(srv, sizes)
            print("\n### latency against queue size (median of 50, no workers)\n")
            print(
                "| queued jobs | /healthz ms | submit ms | status (last in queue) ms | "
                "submit ratio | status ratio |"
            )
            print("|---:|---:|---:|---:|---:|---:|")
            base = rows[0]
            for size, sub, stat, health in rows:
                print(
                    f"| {size} | {health:.2f} | {sub:.2f} | {stat:.2f} | "
                    f"{sub / base[1]:.2f} | {stat / base[2]:.2f} |"
                )
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
