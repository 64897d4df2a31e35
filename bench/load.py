"""A load run: 500 jobs from 50 concurrent clients against a live server, on both stores.

Usage: ``.venv/bin/python -m bench.load [--jobs 500] [--clients 50] [--workers 2]
[--pg postgresql://...]``. Starts a real ``lamina serve`` (its worker pool, the classic
engine, a 16x16 image of 2 layers, so the queue and the API, not the engine, are what is
loaded) on SQLite and then on a throw-away PostgreSQL database. Each client submits its
share of the jobs, then polls their status until every one is terminal, asking
``/healthz`` (no auth, no database: the floor) once per round beside it. Prints a Markdown
table: submit and status p50/p99, the ``/healthz`` baseline measured under the same load,
jobs per second from the first submit to the last terminal state, non-2xx and 5xx answers,
and the check that every job ended in one terminal state after exactly one run (the
workers log one ``job <id> (attempt N)`` line per run).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.api import SUBMIT, Served, ms, start, tiny_image_uri
from bench.queue import pg_database

TERMINAL = {"completed", "failed", "cancelled"}
RUN_LINE = re.compile(r"job ([0-9a-f]{32}) \(attempt (\d+)\)")


@dataclass
class Tally:
    submit: list[float] = field(default_factory=list)
    status: list[float] = field(default_factory=list)
    healthz: list[float] = field(default_factory=list)
    answers: Counter[int] = field(default_factory=Counter)
    final: dict[str, str] = field(default_factory=dict)


async def _timed(tally: Tally, into: list[float], request: object) -> httpx.Response:
    start = time.perf_counter()
    response: httpx.Response = await request  # type: ignore[misc]
    into.append(time.perf_counter() - start)
    tally.answers[response.status_code] += 1
    return response


async def _client(srv: Served, jobs: int, image: str, tally: Tally, deadline: float) -> None:
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(
        base_url=srv.url, headers=srv.auth(), limits=limits, timeout=60
    ) as http:
        mine = []
        for _ in range(jobs):
            body = {"image_url": image, "num_layers": 2}
            answer = await _timed(tally, tally.submit, http.post(SUBMIT, json=body))
            if answer.status_code == 200:
                mine.append(answer.json()["request_id"])
        while mine and time.monotonic() < deadline:
            await _timed(tally, tally.healthz, http.get("/healthz"))
            for rid in list(mine):
                answer = await _timed(tally, tally.status, http.get(f"/v1/requests/{rid}/status"))
                state = answer.json().get("status") if answer.status_code == 200 else None
                if state in TERMINAL:
                    tally.final[rid] = state
                    mine.remove(rid)
            await asyncio.sleep(0.2)


def run(srv: Served, jobs: int, clients: int) -> tuple[Tally, float]:
    """Drive ``srv`` with ``clients`` clients of ``jobs / clients`` jobs each (10 min at most)."""
    image = tiny_image_uri()
    tally = Tally()
    share = [jobs // clients + (1 if i < jobs % clients else 0) for i in range(clients)]
    deadline = time.monotonic() + 600

    async def main() -> None:
        await asyncio.gather(*(_client(srv, n, image, tally, deadline) for n in share))

    started = time.perf_counter()
    asyncio.run(main())
    return tally, time.perf_counter() - started


def runs_per_job(srv: Served) -> Counter[str]:
    """How many times a worker started each job, from the server's log."""
    return Counter(m.group(1) for m in RUN_LINE.finditer((srv.data_dir / "serve.log").read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    print(
        f"{args.jobs} jobs, {args.clients} clients, `lamina serve --workers {args.workers}`"
        " (classic engine, 16x16, 2 layers)\n"
    )
    print(
        "| store | submit p50 / p99 (ms) | status p50 / p99 (ms) | `/healthz` p50 / p99 (ms),"
        " same run | jobs/s to all terminal | terminal (completed) | runs per job | non-2xx"
        " (5xx) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with (
        tempfile.TemporaryDirectory(prefix="lamina-bench-load-") as tmp,
        pg_database(args.pg) as pg,
    ):
        for name, database_url in (("SQLite", None), ("PostgreSQL", pg)):
            srv = start(Path(tmp) / name, workers=args.workers, database_url=database_url)
            try:
                tally, seconds = run(srv, args.jobs, args.clients)
            finally:
                srv.stop()
            runs = runs_per_job(srv)
            once = all(runs[rid] == 1 for rid in tally.final) and len(runs) == len(tally.final)
            completed = sum(state == "completed" for state in tally.final.values())
            bad = sum(n for code, n in tally.answers.items() if not 200 <= code < 300)
            errors = sum(n for code, n in tally.answers.items() if code >= 500)
            print(
                f"| {name} | {ms(tally.submit):.1f} / {ms(tally.submit, 0.99):.1f} "
                f"| {ms(tally.status):.1f} / {ms(tally.status, 0.99):.1f} "
                f"| {ms(tally.healthz):.1f} / {ms(tally.healthz, 0.99):.1f} "
                f"| {len(tally.final) / seconds:.1f} | {len(tally.final)} / {args.jobs} "
                f"({completed}) | {'exactly 1' if once else dict(Counter(runs.values()))} "
                f"| {bad} ({errors}) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
