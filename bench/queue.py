"""Job queue benchmark: SQLite (WAL) and PostgreSQL side by side, in one run.

Measures, on each backend:

1. queue throughput: 1, 2, 4 and 8 worker processes doing only ``claim`` + ``complete``
   (jobs/s: what the store itself sustains);
2. full worker throughput: the same process counts running the real :class:`Worker` path
   (input read, pipeline, layer encoding, ZIP/PSD/PPTX exports, storage, lease thread) with a
   no-op engine on a 16x16 image; its 1-process median gives the per-job overhead;
3. status latency: ``status`` (one query), and ``get`` + ``queue_position`` (the two calls it
   replaced) of the last queued job with 100, 1,000,
   10,000 and 100,000 jobs queued, beside a baseline position query that counts on the
   unindexed ``created_at`` (what the ``(state, seq)`` index saves).

Run from the repository root (``-m`` keeps ``bench/`` off ``sys.path``, so this file does not
shadow the standard ``queue`` module)::

    .venv/bin/python -m bench.queue --out docs/benchmarks/queue.md
    .venv/bin/python -m bench.queue --status-only    # just table 3

PostgreSQL: a throw-away database on ``--pg`` (default ``postgresql://postgres@127.0.0.1``).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray

from lamina.config import Settings
from lamina.engines.base import ProgressCallback
from lamina.imaging.codec import encode_image
from lamina.jobs.models import jobs
from lamina.jobs.store import JobStore
from lamina.types import DecomposeParams, Layer, LayerStack

PROCESS_COUNTS = (1, 2, 4, 8)
QUEUE_SIZES = (100, 1_000, 10_000, 100_000)


class NoopEngine:
    """Returns the input as the background and empty layers above it: no work at all."""

    name = "noop"

    def warm_up(self) -> None:
        """Nothing to load."""

    def decompose(
        self,
        image: NDArray[np.uint8],
        params: DecomposeParams,
        *,
        progress: ProgressCallback | None = None,
    ) -> LayerStack:
        layers = [Layer(rgba=image.copy(), name="background", kind="background")]
        layers += [
            Layer(rgba=np.zeros_like(image), name=f"empty {i}", kind="empty")
            for i in range(1, params.num_layers)
        ]
        return LayerStack(layers=layers, engine=self.name, params=params)


@contextmanager
def pg_database(server: str) -> Iterator[str]:
    """A throw-away PostgreSQL database on ``server``."""
    import psycopg

    name = f"lamina_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset(store: JobStore) -> None:
    """Empty the jobs table (and its sequence on PostgreSQL)."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(sa.text("TRUNCATE lamina_jobs RESTART IDENTITY"))
        else:
            conn.execute(sa.delete(jobs))


def bulk_submit(store: JobStore, n: int, *, input_key: str = "inputs/bench.png") -> None:
    """Queue ``n`` jobs fast (one multi-row insert per 5,000), as ``submit`` would write them."""
    now = datetime.now(UTC)
    params = {"num_layers": 2, "seed": 0, "output_format": "png"}
    for start in range(0, n, 5_000):
        rows = [
            {
                "id": uuid.uuid4().hex,
                "owner": "bench",
                "model_id": "qwen/qwen-image-layered",
                "state": "in_queue",
                "params": params,
                "input_key": input_key,
                "progress": 0.0,
                "attempts": 0,
                "created_at": now,
            }
            for _ in range(min(5_000, n - start))
        ]
        with store.engine.begin() as conn:
            conn.execute(sa.insert(jobs), rows)


def _queue_only(url: str, barrier: Any, counter: Any) -> None:
    store = JobStore(url)
    name = f"bench-{uuid.uuid4().hex[:6]}"
    barrier.wait()
    done = 0
    while (job := store.claim(name, lease_s=60)) is not None:
        store.complete(job.id, name, {"ok": True})
        done += 1
    with counter.get_lock():
        counter.value += done
    store.dispose()


def _full_worker(url: str, data_dir: str, barrier: Any, counter: Any) -> None:
    from lamina.jobs.worker import Worker
    from lamina.storage import open_storage

    settings = Settings(data_dir=data_dir, database_url=url)
    store = JobStore(url)
    worker = Worker(store, open_storage(settings), NoopEngine, settings)  # type: ignore[arg-type]
    worker.setup()
    stop = threading.Event()
    barrier.wait()
    done = 0
    while (job := store.claim(worker.id, lease_s=60)) is not None:
        worker.process(job, stop)
        done += 1
    with counter.get_lock():
        counter.value += done
    store.dispose()


def throughput(
    store: JobStore, n_jobs: int, processes: int, target: Callable[..., None], *extra: str
) -> float:
    """Jobs per second for ``processes`` workers draining ``n_jobs`` queued jobs."""
    reset(store)
    bulk_submit(store, n_jobs)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    counter = ctx.Value("i", 0)
    url = store.url.render_as_string(hide_password=False)
    procs = [
        ctx.Process(target=target, args=(url, *extra, barrier, counter)) for _ in range(processes)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    if counter.value != n_jobs or any(p.exitcode for p in procs):
        raise RuntimeError(
            f"{counter.value} of {n_jobs} jobs ran; exit codes {[p.exitcode for p in procs]}"
        )
    return n_jobs / elapsed


def status_latency(store: JobStore, size: int, repeats: int) -> tuple[float, ...]:
    """Median ms of ``status`` (one query: state, progress, position), of ``get`` and
    ``queue_position`` (the two calls it replaces), and two baselines for the last queued
    job: a full count on the ``(state, seq)`` index and a count on the unindexed
    ``created_at``."""
    reset(store)
    bulk_submit(store, size)
    with store.engine.connect() as conn:
        last_id = conn.execute(sa.select(jobs.c.id).order_by(jobs.c.seq.desc()).limit(1)).scalar()
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # steady state: what autovacuum leaves (PostgreSQL index-only scans need it)
        conn.execute(
            sa.text("VACUUM ANALYZE lamina_jobs" if store.dialect == "postgresql" else "ANALYZE")
        )
    job = store.get(last_id)
    full_count = (
        sa.select(sa.func.count())
        .select_from(jobs)
        .where(jobs.c.state == "in_queue", jobs.c.seq < job.seq)
    )
    unindexed = (
        sa.select(sa.func.count())
        .select_from(jobs)
        .where(jobs.c.state == "in_queue", jobs.c.created_at < job.created_at)
    )

    def timed(fn: Callable[[], object]) -> float:
        samples = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t) * 1000)
        return statistics.median(samples)

    def scalar(stmt: sa.Select[Any]) -> object:
        with store.engine.connect() as conn:
            return conn.execute(stmt).scalar()

    assert store.queue_position(job) == size - 1  # no holes here: the estimate is exact
    assert store.status(last_id).queue_position == size - 1
    return (
        timed(lambda: store.status(last_id)),
        timed(lambda: store.get(last_id)),
        timed(lambda: store.queue_position(job)),
        timed(lambda: scalar(full_count)),
        timed(lambda: scalar(unindexed)),
    )


def median_of(runs: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--queue-jobs", type=int, default=2000)
    parser.add_argument("--worker-jobs", type=int, default=120)
    parser.add_argument("--runs", type=int, default=3, help="repeats per figure (median)")
    parser.add_argument("--out", type=Path, default=None, help="write a Markdown report here")
    parser.add_argument(
        "--status-only", action="store_true", help="only the status latency table (minutes less)"
    )
    args = parser.parse_args()

    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, pg_database(args.pg) as pg_url:
        stores = {
            "SQLite": JobStore(f"sqlite:///{tmp}/bench.db"),
            "PostgreSQL": JobStore(pg_url),
        }
        for store in stores.values():
            store.migrate()
        data_dir = str(Path(tmp) / "data")
        from lamina.storage import open_storage

        storage = open_storage(Settings(data_dir=data_dir))
        storage.put(
            "inputs/bench.png", encode_image(np.full((16, 16, 4), 128, np.uint8)), "image/png"
        )

        if not args.status_only:
            lines += [
                f"queue only: claim + complete, {args.queue_jobs} jobs; full worker: no-op "
                f"engine, 16x16 image, 2 layers, all exports, {args.worker_jobs} jobs; median "
                f"of {args.runs} runs",
                "",
                "| processes | queue SQLite (jobs/s) | queue PostgreSQL (jobs/s) | PG / SQLite "
                "| worker SQLite (jobs/s) | worker PostgreSQL (jobs/s) |",
                "|---:|---:|---:|---:|---:|---:|",
            ]
        per_job: dict[str, float] = {}
        for n in () if args.status_only else PROCESS_COUNTS:

            def queue_rate(s: JobStore, n: int = n) -> float:
                return throughput(s, args.queue_jobs, n, _queue_only)

            def worker_rate(s: JobStore, n: int = n) -> float:
                return throughput(s, args.worker_jobs, n, _full_worker, data_dir)

            q = {
                name: median_of(args.runs, lambda s=s: queue_rate(s)) for name, s in stores.items()
            }
            w = {
                name: median_of(args.runs, lambda s=s: worker_rate(s)) for name, s in stores.items()
            }
            if n == 1:
                per_job = {name: 1000.0 / rate for name, rate in w.items()}
            lines.append(
                f"| {n} | {q['SQLite']:.0f} | {q['PostgreSQL']:.0f} | "
                f"{q['PostgreSQL'] / q['SQLite']:.2f} | {w['SQLite']:.1f} | "
                f"{w['PostgreSQL']:.1f} |"
            )
            print(lines[-1], flush=True)
        if per_job:
            lines += [
                "",
                f"per-job overhead of the full worker path, 1 process (no-op engine): "
                f"SQLite {per_job['SQLite']:.1f} ms, PostgreSQL {per_job['PostgreSQL']:.1f} ms",
            ]
        lines += [
            "",
            "status latency for the LAST queued job (median of 200 calls, ms): `status` (one "
            "query: state, progress and position), the `get` and `queue_position` (bounded "
            "index count + seq distance) it replaces, and two baselines: a full count on the "
            "(state, seq) index, and a count on unindexed `created_at`",
            "",
            "| queued jobs | status SQLite | get SQLite | position SQLite | full count SQLite "
            "| unindexed SQLite | status PG | get PG | position PG | full count PG "
            "| unindexed PG |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for size in QUEUE_SIZES:
            lat = {name: status_latency(s, size, 200) for name, s in stores.items()}
            sq, pg = lat["SQLite"], lat["PostgreSQL"]
            cells = " | ".join(f"{v:.2f}" for v in (*sq, *pg))
            lines.append(f"| {size:,} | {cells} |")
            print(lines[-1], flush=True)
        for store in stores.values():
            store.dispose()
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out is not None:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
