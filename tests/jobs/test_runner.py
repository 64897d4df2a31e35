"""Worker processes: the ``lamina worker`` command, SIGTERM handling, GPU fan-out, the pool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.exc import OperationalError
from tests.support.waiting import wait_until
from tests.support.workers import engine_runs, start_worker, worker_env

from lamina.cli import main
from lamina.config import Settings
from lamina.imaging.codec import encode_image
from lamina.jobs.runner import (
    WorkerConfigError,
    register_engine_plugins,
    resolve_gpus,
    settings_env,
    spawn_worker_processes,
)
from lamina.jobs.states import JobState
from lamina.jobs.store import JobStore
from lamina.storage import open_storage

PNG = encode_image(np.full((8, 8, 4), 200, dtype=np.uint8))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path) -> Iterator[JobStore]:
    s = JobStore(Settings(data_dir=data_dir).resolved_database_url)
    s.migrate()
    yield s
    s.dispose()


def submit(store: JobStore, data_dir: Path, seed: int, prompt: str | None = None) -> str:
    storage = open_storage(Settings(data_dir=data_dir))
    storage.put(f"inputs/{seed}", PNG, "image/png")
    params = {"num_layers": 2, "seed": seed, "prompt": prompt}
    return store.submit(owner="k", model_id="m", params=params, input_key=f"inputs/{seed}").id


def test_resolve_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_gpus("0,1") == ["0", "1"]
    assert resolve_gpus(" 3 ") == ["3"]
    for bad in ("a", "0,,1", "-1", "0,0", ""):
        with pytest.raises(WorkerConfigError):
            resolve_gpus(bad)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert resolve_gpus("all") == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(WorkerConfigError, match="no NVIDIA GPU"):
        resolve_gpus("all")


def test_gpus_all_without_a_gpu_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert main(["worker", "--gpus", "all", "--data-dir", str(data_dir)]) == 2
    assert "no NVIDIA GPU" in capsys.readouterr().err


def test_engine_plugins_are_checked() -> None:
    with pytest.raises(WorkerConfigError):
        register_engine_plugins("nonsense")
    register_engine_plugins(" ,")


def test_settings_env_carries_settings_to_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        data_dir=tmp_path / "rel",
        lease_s=7.5,
        engine="classic",
        resolution=1024,
        cpu_offload="model",
        allow_private_urls=True,
        database_url="postgresql://u@h/db",
    )
    env = settings_env(settings, {"LAMINA_MODEL": "stale", "PATH": "/bin"})
    assert env["PATH"] == "/bin"
    assert "LAMINA_MODEL" not in env
    assert Path(env["LAMINA_DATA_DIR"]).is_absolute()
    for name in list(os.environ):
        if name.startswith("LAMINA_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("LAMINA_"):
            monkeypatch.setenv(name, value)
    child = Settings()  # what a child process rebuilds from its environment
    assert child.model_dump() == {**settings.model_dump(), "data_dir": settings.data_dir.resolve()}


def test_sigterm_lets_the_job_finish_and_a_second_one_releases_it(
    tmp_path: Path, data_dir: Path, store: JobStore
) -> None:
    engine_log, log = tmp_path / "engine.log", tmp_path / "worker.log"
    env = worker_env(engine_log, data_dir=data_dir)
    short = submit(store, data_dir, 1, prompt="sleep:1.5")
    proc = start_worker(env, log)
    try:
        wait_until(lambda: store.get(short).state is JobState.IN_PROGRESS, 60, "the claim")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
        assert store.get(short).state is JobState.COMPLETED

        long = submit(store, data_dir, 2, prompt="sleep:60")
        proc = start_worker(env, log)
        wait_until(lambda: store.get(long).state is JobState.IN_PROGRESS, 60, "the claim")
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: log.read_text().count("stop requested") == 2, 30, "the 1st SIGTERM")
        proc.send_signal(signal.SIGTERM)  # a second one: release the job now
        assert proc.wait(30) == 0, log.read_text()
        job = store.get(long)
        assert job.state is JobState.IN_QUEUE and job.attempts == 0
        assert store.stats()["workers_alive"] == 0
    finally:
        proc.kill()
        proc.wait()


def test_a_worker_whose_engine_outlives_the_time_limit_exits_to_be_replaced(
    tmp_path: Path, data_dir: Path, store: JobStore
) -> None:
    engine_log, log = tmp_path / "engine.log", tmp_path / "worker.log"
    env = worker_env(engine_log, data_dir=data_dir, job_timeout_s=1)
    stuck = submit(store, data_dir, 1, prompt="hang:60")
    proc = start_worker(env, log)
    try:
        assert proc.wait(60) == 3, log.read_text()  # 1 s limit + 5 s to stop, not 60 s
        job = store.get(stuck)
        assert job.state is JobState.FAILED and "time limit of 1 s" in str(job.error)
        assert "exits to be replaced" in log.read_text()
    finally:
        proc.kill()
        proc.wait()


def test_one_worker_process_per_gpu(tmp_path: Path, data_dir: Path, store: JobStore) -> None:
    engine_log = tmp_path / "engine.log"
    ids = [submit(store, data_dir, seed, prompt="sleep:0.3") for seed in range(4)]
    env = worker_env(engine_log, data_dir=data_dir)
    result = subprocess.run(
        [sys.executable, "-m", "lamina.cli", "worker", "--gpus", "0,1", "--max-jobs", "2"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert all(store.get(i).state is JobState.COMPLETED for i in ids)
    devices = Counter(dev for _, dev in engine_runs(engine_log))
    assert devices == {"0": 2, "1": 2}


def test_pool_restarts_a_dead_worker_and_stops_cleanly(
    tmp_path: Path, data_dir: Path, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine_log = tmp_path / "engine.log"
    for name, value in worker_env(engine_log).items():
        monkeypatch.setenv(name, value)
    settings = Settings(data_dir=data_dir, engine="fast")
    pool = spawn_worker_processes(settings, 2)
    try:
        ids = [submit(store, data_dir, seed) for seed in range(6)]
        wait_until(lambda: all(store.get(i).state is JobState.COMPLETED for i in ids), 90, "6 jobs")
        victim = pool.pids[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(pool.pids) == 2 and victim not in pool.pids, 30, "a restart")
        more = submit(store, data_dir, 99)
        wait_until(lambda: store.get(more).state is JobState.COMPLETED, 60, "a job after it")
    finally:
        pool.stop(timeout=30)
    assert pool.pids == []
    # a clean exit, or SIGTERM's default action on a child still starting (it held no job)
    codes = [c.process.returncode for c in pool.children if c.process is not None]
    assert len(codes) == 2 and set(codes) <= {0, -signal.SIGTERM}, codes


def test_a_worker_started_during_an_outage_waits_for_the_database_and_storage(
    tmp_path: Path,
) -> None:
    """Started while its SQLite folder and its storage folder are plain files, the worker
    says so and waits; once both are usable it runs jobs (it used to exit with a traceback,
    and a pool restarting a child during a storage outage lost that worker)."""
    engine_log, log = tmp_path / "engine.log", tmp_path / "worker.log"
    data_dir, db_dir = tmp_path / "data", tmp_path / "db"
    data_dir.mkdir()
    (data_dir / "files").write_bytes(b"")
    db_dir.write_bytes(b"")
    url = f"sqlite:///{db_dir / 'lamina.db'}"
    proc = start_worker(worker_env(engine_log, data_dir=data_dir, database_url=url), log)
    try:
        wait_until(lambda: "database is unavailable" in log.read_text(), 60, "the warning")
        assert proc.poll() is None, log.read_text()
        db_dir.unlink()
        db_dir.mkdir()
        (data_dir / "files").unlink()
        store = JobStore(url)

        def started() -> bool:
            try:
                return bool(store.stats()["workers_alive"] == 1)
            except OperationalError:  # not migrated yet
                return False

        wait_until(started, 30, "the worker's start")
        job = submit(store, data_dir, 1)
        wait_until(lambda: store.get(job).state is JobState.COMPLETED, 60, "the job")
        store.dispose()
        assert "Traceback" not in log.read_text()
    finally:
        proc.kill()
        proc.wait()
