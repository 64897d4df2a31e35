"""Worker processes: ``lamina worker`` (one process, or one per GPU) and the pool that
``lamina serve --workers N`` runs beside the API.

Children are ``python -m lamina.cli worker`` processes configured through ``LAMINA_*``
environment variables, supervised by a thread that restarts a child that dies (with
back-off) and stops them all with SIGTERM (then SIGKILL after a timeout).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

from lamina.config import Settings
from lamina.errors import WorkerConfigError, transient_fault
from lamina.jobs.wakeup import WAKE_FD_ENV

if TYPE_CHECKING:
    from lamina.engines.base import Engine
    from lamina.jobs.worker import Worker

log = logging.getLogger(__name__)

ENGINE_PLUGINS_ENV = "LAMINA_ENGINE_PLUGINS"
"""``name=module:factory,...``: extra engines a worker registers before building its engine."""
PARENT_PID_ENV = "LAMINA_WORKER_PARENT_PID"
"""Set for pool children: a child whose parent is gone stops (finishing or releasing its job)."""
POLL_ENV = "LAMINA_WORKER_POLL_S"
"""Seconds between an idle worker's job store polls (default: see :class:`Worker`)."""


def register_engine_plugins(spec: str | None) -> None:
    """Register the engines named in :data:`ENGINE_PLUGINS_ENV`."""
    from lamina.engines.base import register_engine

    for item in (spec or "").split(","):
        if not item.strip():
            continue
        name, sep, target = item.strip().partition("=")
        if not sep or ":" not in target:
            raise WorkerConfigError(f"bad {ENGINE_PLUGINS_ENV} entry {item!r}")
        register_engine(name, target)


def run_worker_process(settings: Settings, *, max_jobs: int | None = None) -> int:
    """One worker in this process until SIGTERM/SIGINT (again: release the job at once)."""
    from lamina.engines.base import engine_from_settings
    from lamina.jobs.store import JobStore
    from lamina.jobs.worker import EXIT_REPLACE, Worker
    from lamina.storage import open_storage

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("lamina").setLevel(logging.INFO)
    register_engine_plugins(os.environ.get(ENGINE_PLUGINS_ENV))
    store = JobStore(settings.resolved_database_url)
    _when_reachable(store.migrate)
    storage = open_storage(settings)

    def build_engine() -> Engine:
        return engine_from_settings(settings)

    wake_fd = os.environ.get(WAKE_FD_ENV)
    poll = os.environ.get(POLL_ENV)
    worker = Worker(
        store,
        storage,
        build_engine,
        settings,
        grace_s=settings.shutdown_grace_s,
        wake_fds=(int(wake_fd),) if wake_fd else (),
        poll_s=float(poll) if poll else None,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            worker.hurry.set()
        stop.set()
        worker.wake()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parent = os.environ.get(PARENT_PID_ENV)
    if parent:
        threading.Thread(
            target=_watch_parent,
            args=(int(parent), stop, worker),
            name="parent-watch",
            daemon=True,
        ).start()
    try:
        worker.run(stop, max_jobs=max_jobs)
    finally:
        worker.close()
        store.dispose()
    return EXIT_REPLACE if worker.spent else 0


def _when_reachable(connect: Callable[[], object]) -> None:
    """Call ``connect`` (the job store's migration) until the database answers: a worker
    started during an outage waits for it, as a running worker does, instead of dying."""
    from lamina.jobs.worker import STORE_RETRY_S

    while True:
        try:
            connect()
            return
        except Exception as exc:
            # an OSError here is SQLite's folder or lock file, unusable for now
            fault = transient_fault(exc) or ("database" if isinstance(exc, OSError) else None)
            if fault is None:
                raise
            log.warning(
                "worker: the %s is unavailable (%s); trying again in %.0f s",
                *(fault, _first_line(getattr(exc, "orig", None) or exc), STORE_RETRY_S),
            )
            time.sleep(STORE_RETRY_S)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _watch_parent(parent_pid: int, stop: threading.Event, worker: Worker) -> None:
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            log.warning("worker: parent process %d is gone; stopping", parent_pid)
            stop.set()
            worker.wake()


def resolve_gpus(spec: str) -> list[str]:
    """``all`` or ``0,1,...`` -> the GPU indices to give one worker each."""
    spec = spec.strip()
    if spec == "all":
        gpus = visible_gpus()
        if not gpus:
            raise WorkerConfigError("--gpus all: no NVIDIA GPU is visible on this machine")
        return gpus
    items = [item.strip() for item in spec.split(",")]
    if not items or not all(item.isdigit() for item in items):
        raise WorkerConfigError(f"--gpus must be 'all' or indices like 0,1 (got {spec!r})")
    if len(set(items)) != len(items):
        raise WorkerConfigError(f"--gpus lists a GPU twice: {spec!r}")
    return items


def visible_gpus() -> list[str]:
    """GPU indices this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else nvidia-smi."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [item.strip() for item in visible.split(",") if item.strip() and item != "-1"]
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip().isdigit()]


def settings_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this environment) with ``LAMINA_*`` replaced by ``settings``."""
    env = dict(os.environ if base is None else base)
    for name, value in settings.model_dump().items():
        key = f"LAMINA_{name.upper()}"
        env.pop(key, None)
        if value is not None:
            env[key] = str(value.resolve()) if name == "data_dir" else str(value)
    return env


@dataclass
class _Child:
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    wake_fd: int | None = None
    """Write end of the pipe whose read end the child waits on."""
    restarts: int = 0
    next_start: float = 0.0
    finished: bool = False


@dataclass
class WorkerPool:
    """Worker subprocesses kept alive by a supervisor thread; :meth:`stop` ends them all."""

    settings: Settings
    child_envs: list[dict[str, str]]
    max_jobs: int | None = None
    max_backoff_s: float = 30.0
    wake_pipes: bool = False
    """Give each child a pipe that :meth:`wake` writes to (``lamina serve``: the API is in
    this process). Without, children rely on PostgreSQL ``NOTIFY`` or polling."""
    children: list[_Child] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> WorkerPool:
        """Start every child and the supervisor."""
        base = settings_env(self.settings)
        base[PARENT_PID_ENV] = str(os.getpid())
        base.pop(WAKE_FD_ENV, None)  # only a pipe of this pool, never an inherited number
        self.children = [_Child(env={**base, **extra}) for extra in self.child_envs]
        with self._lock:
            for child in self.children:
                self._spawn(child)
        self._thread = threading.Thread(target=self._supervise, name="worker-pool", daemon=True)
        self._thread.start()
        return self

    def _spawn(self, child: _Child) -> None:
        command = [sys.executable, "-m", "lamina.cli", "worker"]
        if self.max_jobs is not None:
            command += ["--max-jobs", str(self.max_jobs)]
        if not self.wake_pipes:
            child.process = subprocess.Popen(command, env=child.env)
            log.info("worker pool: started worker pid %d", child.process.pid)
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        try:
            child.process = subprocess.Popen(
                command, env={**child.env, WAKE_FD_ENV: str(read_fd)}, pass_fds=(read_fd,)
            )
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        if child.wake_fd is not None:
            os.close(child.wake_fd)
        child.wake_fd = write_fd
        log.info("worker pool: started worker pid %d", child.process.pid)

    def wake(self) -> None:
        """Wake every idle child to claim a job now (one non-blocking write each).

        ``lamina serve`` calls this after each submit; a child that is busy, starting or
        dead is not delayed by it (a full pipe already holds a wake-up).
        """
        with self._lock:
            for child in self.children:
                if child.wake_fd is None:
                    continue
                with contextlib.suppress(BlockingIOError, BrokenPipeError):
                    os.write(child.wake_fd, b"\0")

    def _supervise(self) -> None:
        while not self._stopping.wait(0.5):
            with self._lock:
                if self._stopping.is_set():
                    return
                for child in self.children:
                    self._check(child)

    def _check(self, child: _Child) -> None:
        process = child.process
        if child.finished or process is None:
            return
        code = process.poll()
        if code is None:
            return
        if code == 0 and self.max_jobs is not None:
            child.finished = True
            return
        now = time.monotonic()
        if child.next_start == 0.0:
            delay = min(self.max_backoff_s, 2.0**child.restarts)
            child.next_start = now + delay
            log.warning(
                "worker pool: worker pid %d exited with %d; restarting in %.0f s",
                process.pid,
                code,
                delay,
            )
        if now >= child.next_start:
            child.restarts += 1
            child.next_start = 0.0
            self._spawn(child)

    @property
    def pids(self) -> list[int]:
        """Process ids of the children now running."""
        with self._lock:
            return [c.process.pid for c in self.children if c.process and c.process.poll() is None]

    @property
    def finished(self) -> bool:
        """True once every child ran its ``max_jobs`` and exited cleanly."""
        with self._lock:
            return bool(self.children) and all(c.finished for c in self.children)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every child (each finishes or releases its job), SIGKILL after ``timeout``."""
        with self._lock:
            self._stopping.set()
        for child in self.children:
            if child.process and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pool: killing worker pid %d", child.process.pid)
                child.process.kill()
                child.process.wait()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for child in self.children:
                if child.wake_fd is not None:
                    os.close(child.wake_fd)
                    child.wake_fd = None


def spawn_worker_processes(
    settings: Settings, n: int, *, max_jobs: int | None = None
) -> WorkerPool:
    """Start ``n`` supervised worker processes (``lamina serve --workers n``) that
    :meth:`WorkerPool.wake` wakes."""
    return WorkerPool(settings, [{} for _ in range(n)], max_jobs=max_jobs, wake_pipes=True).start()


def run_workers(settings: Settings, gpus: str | None = None, max_jobs: int | None = None) -> int:
    """``lamina worker``: one worker here, or with ``gpus`` one child process per GPU."""
    if max_jobs is not None and max_jobs < 1:
        raise WorkerConfigError("--max-jobs must be at least 1")
    if gpus is None:
        return run_worker_process(settings, max_jobs=max_jobs)
    devices = resolve_gpus(gpus)
    pool = WorkerPool(settings, [{"CUDA_VISIBLE_DEVICES": d} for d in devices], max_jobs=max_jobs)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    pool.start()
    while not stop.wait(0.5) and not pool.finished:
        pass
    pool.stop(timeout=60.0)
    return 0
