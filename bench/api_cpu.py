"""CPU time per API request, in process: what an endpoint costs, robust to a loaded machine.

Usage: ``.venv/bin/python -m bench.api_cpu [--status 3000] [--submits 300]``. Builds the app
on a SQLite store in a temporary directory (no workers) and drives it through
``httpx.ASGITransport``, timing with ``time.process_time`` (CPU seconds of this process,
all threads), so other processes competing for the cores do not inflate it as they do the
wall-clock figures of :mod:`bench.api`. Prints one Markdown row; run it on two checkouts to
compare them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.api import SUBMIT, tiny_image_uri


async def _measure(url: str, key: str, app: object, statuses: int, submits: int) -> list[float]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {key}"}
    body = {"image_url": tiny_image_uri(), "num_layers": 2}
    async with httpx.AsyncClient(transport=transport, base_url=url, headers=headers) as client:
        submit_cpu: list[float] = []
        request_id = ""
        for _ in range(submits):
            started = time.process_time()
            answer = await client.post(SUBMIT, json=body)
            submit_cpu.append(time.process_time() - started)
            request_id = answer.json()["request_id"]
        status_cpu: list[float] = []
        for _ in range(statuses):
            started = time.process_time()
            answer = await client.get(f"/v1/requests/{request_id}/status")
            status_cpu.append(time.process_time() - started)
            assert answer.status_code == 200, answer.text
        healthz_cpu: list[float] = []
        for _ in range(statuses):
            started = time.process_time()
            await client.get("/healthz")
            healthz_cpu.append(time.process_time() - started)
    return [statistics.median(v) * 1000 for v in (submit_cpu, status_cpu, healthz_cpu)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--status", type=int, default=3000)
    parser.add_argument("--submits", type=int, default=300)
    args = parser.parse_args()

    from lamina.api.app import create_app
    from lamina.api.service import ApiService
    from lamina.config import Settings
    from lamina.jobs.keys import KeyStore
    from lamina.jobs.store import JobStore
    from lamina.storage import open_storage

    with tempfile.TemporaryDirectory(prefix="lamina-bench-cpu-") as tmp:
        settings = Settings(data_dir=Path(tmp), rate_limit_per_minute=0)
        store = JobStore(settings.resolved_database_url)
        store.migrate()
        keys = KeyStore(store)
        key = keys.create("bench")[1]
        service = ApiService(settings, store=store, keys=keys, storage=open_storage(settings))
        app = create_app(settings, service=service)
        submit, status, healthz = asyncio.run(
            _measure("http://bench.test", key, app, args.status, args.submits)
        )
        store.dispose()
    print("| submit CPU ms p50 | status CPU ms p50 | /healthz CPU ms p50 |")
    print("|---:|---:|---:|")
    print(f"| {submit:.3f} | {status:.3f} | {healthz:.3f} |")


if __name__ == "__main__":
    main()
