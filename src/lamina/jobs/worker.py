"""The worker: claim a job, run it with a live lease, store the outputs, record the outcome.

Execution is kept apart from bookkeeping (as in cog): :class:`Worker` runs each job in an
executor thread while the calling thread watches the lease and the stop signal, so a long
engine call never lets the lease lapse, and a stop request either lets the job finish within
``grace_s`` or hands it back to the queue.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from lamina.budget import check_job_memory
from lamina.config import Settings
from lamina.engines.base import Engine, ProgressCallback
from lamina.errors import LaminaError, ObjectNotFound, transient_fault, user_message
from lamina.jobs.retention import purge_expired
from lamina.jobs.store import Job, JobResult, JobStore, new_worker_id, output_prefix
from lamina.jobs.wakeup import Wakeup, listen_for_jobs
from lamina.storage import Storage
from lamina.types import DecomposeParams

log = logging.getLogger(__name__)

EngineFactory = Callable[[], Engine]
POLL_S = 0.5
"""How often an idle worker with no wake-up source looks for a job."""
FALLBACK_POLL_S = 5.0
"""How often an idle worker that is woken on submit looks anyway (a missed wake-up)."""
STORE_RETRY_S = 5.0
"""Pause after a job store error (the database is down or busy)."""
RETRY_BACKOFF_S = 5.0
"""First wait before a job that met a storage or database fault goes back to the queue;
doubled on each further attempt."""
PSD_MAX_PIXEL_LAYERS = 120_000_000
"""Largest PSD a worker makes (width x height x layers): psd-tools needs about 11 bytes per
pixel-layer and 47 s for 40 MP x 10 layers, so past this (about 1.3 GB) the job completes
without its PSD and says so in ``metadata["notes"]``."""
STOP_AFTER_TIMEOUT_S = 5.0
"""How long a job past its time limit has to stop (the engine stops at its next progress
report) before its worker gives up on the process."""
EXIT_REPLACE = 3
"""Exit code of a worker process that must be replaced (a timed-out engine runs on in it)."""
_PARAM_NAMES = frozenset(f.name for f in dataclasses.fields(DecomposeParams))


ENGINE_FROM = 0.1
"""The job's progress when the engine starts: fetching and decoding come before it."""
ENCODE_AT = 0.9
"""The job's progress when encoding and storing the layers and exports begins."""


class _Abandoned(Exception):
    """Raised in the engine's progress callback once the job is no longer ours."""


class _Cancelled(Exception):
    """Raised in the engine's progress callback once a cancel of the job was requested."""


@dataclasses.dataclass
class _Outcome:
    result: JobResult | None = None
    error: str | None = None
    transient: bool = False
    """The error was a storage or database fault that may pass: retry, do not fail."""
    cancelled: bool = False


class Worker:
    """Runs jobs from ``store`` one at a time with the engine ``engine_factory`` builds.

    ``heartbeat_s`` is how often the lease is renewed and the worker shows it is alive
    (default: a third of the lease, at most 30 s, well inside the store's ``worker_ttl_s``);
    An idle worker sleeps until woken (:mod:`lamina.jobs.wakeup`: PostgreSQL ``LISTEN``, or
    the pipes ``wake_fds`` that ``lamina serve`` writes to) or ``poll_s`` passes (default
    :data:`FALLBACK_POLL_S` with a wake-up source, else :data:`POLL_S`); whoever sets the
    ``stop`` event given to :meth:`run` should call :meth:`wake` too.
    ``grace_s`` is how long a stop request waits for the running job before releasing it;
    ``psd_max_pixel_layers`` caps the PSD export (see :data:`PSD_MAX_PIXEL_LAYERS`).
    A job that meets a storage or database fault is held ``retry_backoff_s`` (doubling with
    each attempt) and requeued, until ``settings.max_attempts`` attempts fail it.
    """

    def __init__(
        self,
        store: JobStore,
        storage: Storage,
        engine_factory: EngineFactory,
        settings: Settings,
        *,
        worker_id: str | None = None,
        poll_s: float | None = None,
        wake_fds: Sequence[int] = (),
        heartbeat_s: float | None = None,
        grace_s: float = 20.0,
        progress_every_s: float = 1.0,
        purge_every_s: float = 3600.0,
        psd_max_pixel_layers: int = PSD_MAX_PIXEL_LAYERS,
        retry_backoff_s: float = RETRY_BACKOFF_S,
    ) -> None:
        self.store = store
        self.storage = storage
        self.engine_factory = engine_factory
        self.settings = settings
        self.id = worker_id or new_worker_id()
        self.wakeup = Wakeup(extra_fds=wake_fds)
        """Set when a job may be waiting; :meth:`run` sleeps on it between claims."""
        woken = bool(wake_fds) or store.dialect == "postgresql"
        self.poll_s = poll_s if poll_s is not None else (FALLBACK_POLL_S if woken else POLL_S)
        self.heartbeat_s = (
            heartbeat_s if heartbeat_s is not None else min(settings.lease_s / 3, 30.0)
        )
        self.grace_s = grace_s
        self.progress_every_s = progress_every_s
        self.purge_every_s = purge_every_s
        self.psd_max_pixel_layers = psd_max_pixel_layers
        self.retry_backoff_s = retry_backoff_s
        self.engine: Engine | None = None
        self.hurry = threading.Event()
        """Set (e.g. on a second SIGTERM) to release the running job at once."""
        self.spent = False
        """Set when a timed-out engine would not stop: :meth:`run` returns, and the process
        should exit (:data:`EXIT_REPLACE`) to be replaced, taking the engine with it."""

    def setup(self) -> None:
        """Build and warm up the engine before the first claim, so a worker that cannot run
        jobs never takes one."""
        if self.engine is None:
            self.engine = self.engine_factory()
            self.engine.warm_up()

    def wake(self) -> None:
        """Make an idle :meth:`run` look for a job (or at ``stop``) now; signal-safe."""
        self.wakeup.set()

    def close(self) -> None:
        """Release the wake-up pipe (after the last :meth:`run`)."""
        self.wakeup.close()

    def run(self, stop: threading.Event, *, max_jobs: int | None = None) -> int:
        """Claim and run jobs until ``stop`` is set or ``max_jobs`` ran; returns jobs run."""
        self.setup()
        self.store.register_worker(self.id)
        done = 0
        next_reap = next_purge = 0.0
        stop_listening = threading.Event()
        listener = None
        if self.store.dialect == "postgresql":
            listener = listen_for_jobs(self.store.url, self.wakeup, stop_listening)
        try:
            while not stop.is_set() and not self.spent and (max_jobs is None or done < max_jobs):
                now = time.monotonic()
                try:
                    if now >= next_reap:
                        self.store.reap_expired(max_attempts=self.settings.max_attempts)
                        self.store.worker_seen(self.id, job_id=None)
                        next_reap = now + self.heartbeat_s
                    if now >= next_purge:
                        before = datetime.now(UTC) - timedelta(days=self.settings.retention_days)
                        purge_expired(self.store, self.storage, before=before)
                        next_purge = now + self.purge_every_s
                    job = self.store.claim(self.id, lease_s=self.settings.lease_s)
                except Exception:  # the database is down or busy: wait and try again
                    log.exception("worker %s: job store error; retrying", self.id)
                    stop.wait(STORE_RETRY_S)
                    continue
                if job is None and not stop.is_set():
                    # sleep until woken, the fallback poll, or the next heartbeat is due
                    self.wakeup.wait(min(self.poll_s, next_reap - time.monotonic()))
                    continue
                if job is not None:
                    self.process(job, stop)
                    done += 1
        finally:
            stop_listening.set()
            try:
                self.store.unregister_worker(self.id)
            except Exception:
                log.exception("worker %s: could not unregister", self.id)
            if listener is not None:
                listener.join(5.0)
        return done

    def process(self, job: Job, stop: threading.Event) -> None:
        """Run a claimed job to its end: completed, failed, or released back to the queue."""
        log.info("worker %s: job %s (attempt %d)", self.id, job.id, job.attempts)
        self._seen(job.id)  # busy from now on in /metrics
        try:
            self._process(job, stop)
        finally:
            self._seen(None)

    def _seen(self, job_id: str | None) -> None:
        try:
            self.store.worker_seen(self.id, job_id=job_id)
        except Exception:  # monitoring only; the lease heartbeat matters more
            log.exception("worker %s: could not record its job", self.id)

    def _process(self, job: Job, stop: threading.Event) -> None:
        abandoned = threading.Event()
        cancel = threading.Event()
        """Set when a heartbeat saw a cancel request: the next checkpoint stops the run."""
        outcome = _Outcome()
        last: dict[str, Any] = {"progress": 0.0, "stage": None, "sent": time.monotonic()}

        progress = self._checkpoints(job, abandoned, cancel, last)

        def execute() -> None:
            try:
                outcome.result = self.execute(job, progress)
            except _Abandoned:
                pass
            except _Cancelled:
                outcome.cancelled = True
            except BaseException as exc:
                outcome.error = user_message(exc, f"worker {self.id}: job {job.id} failed")
                outcome.transient = transient_fault(exc) is not None
                _free_gpu_memory()

        thread = threading.Thread(target=execute, name=f"job-{job.id}", daemon=True)
        thread.start()
        next_beat = time.monotonic() + self.heartbeat_s
        time_limit = time.monotonic() + self.settings.job_timeout_s
        deadline: float | None = None
        while thread.is_alive():
            thread.join(0.1)
            now = time.monotonic()
            if now >= time_limit and not abandoned.is_set():
                self._time_out(job, thread, abandoned)
                return
            if stop.is_set() and deadline is None:
                deadline = now + self.grace_s
                log.info(
                    "worker %s: stop requested; finishing job %s (up to %.0f s)",
                    self.id,
                    job.id,
                    self.grace_s,
                )
            if self.hurry.is_set() or (deadline is not None and now >= deadline):
                abandoned.set()
                released = _retry(lambda: self.store.release(job.id, self.id), "release")
                if not released:  # refused once a cancel was requested: it ends here
                    released = self._finish_cancelled(job)
                log.warning("worker %s: stopping; job %s released=%s", self.id, job.id, released)
                return
            if now >= next_beat and not abandoned.is_set():
                next_beat = now + self.heartbeat_s
                try:
                    answer = self.store.checkpoint(
                        job.id, self.id, lease_s=self.settings.lease_s, progress=last["progress"]
                    )
                    self.store.worker_seen(self.id, job_id=job.id)
                except Exception:  # keep working; the next beat may get through
                    log.exception("worker %s: heartbeat failed", self.id)
                    continue
                if answer == "cancel":
                    cancel.set()
                elif answer == "lost":  # let the engine run out (the GPU is busy), record nothing
                    log.warning("worker %s: lost the lease of job %s", self.id, job.id)
                    abandoned.set()
        if not abandoned.is_set():
            self._record(job, outcome, stop)

    def _checkpoints(
        self,
        job: Job,
        abandoned: threading.Event,
        cancel: threading.Event,
        last: dict[str, Any],
    ) -> ProgressCallback:
        """The engine's progress callback for ``job``: it raises to stop the run once the job
        is no longer ours (``abandoned``) or a cancel was seen (``cancel``), and keeps
        ``last`` (progress, stage, when the store last heard) for the heartbeat."""

        def progress(fraction: float, stage: str | None = None, /) -> None:
            """Every call is a checkpoint; the store hears of a new stage at once and of
            progress within a stage at most every ``progress_every_s``."""
            if abandoned.is_set():
                raise _Abandoned()
            if cancel.is_set():
                raise _Cancelled()
            new_stage = stage is not None and stage != last["stage"]
            last["progress"] = fraction
            if stage is not None:
                last["stage"] = stage
            now = time.monotonic()
            if new_stage or now - last["sent"] >= self.progress_every_s:
                last["sent"] = now
                try:
                    answer = self.store.checkpoint(
                        job.id,
                        self.id,
                        lease_s=self.settings.lease_s,
                        progress=fraction,
                        stage=stage,
                    )
                except Exception as exc:  # the job goes on; the lease has time to spare
                    if transient_fault(exc) is None:
                        raise
                    log.warning("worker %s: progress not recorded: %s", self.id, exc)
                    return
                if answer == "lost":
                    abandoned.set()
                    raise _Abandoned()
                if answer == "cancel":
                    cancel.set()
                    raise _Cancelled()

        return progress

    def _record(self, job: Job, outcome: _Outcome, stop: threading.Event) -> None:
        """Store how the run of ``job`` ended: completed, failed, back in the queue after a
        fault that may pass, or cancelled (a cancel refuses the other outcomes)."""
        error = outcome.error or "internal error"
        if outcome.result is None and outcome.transient and not outcome.cancelled:
            if job.attempts < self.settings.max_attempts:
                self._retry_later(job, stop, error)
                return
            error = f"{error} (tried {job.attempts} time(s); giving up)"
        recorded = False
        if outcome.result is not None:
            result = outcome.result
            recorded = _retry(lambda: self.store.complete(job.id, self.id, result), "complete")
        elif not outcome.cancelled:
            recorded = _retry(lambda: self.store.fail(job.id, self.id, error), "fail")
        if recorded:
            return
        # completing and failing are refused once a cancel was requested
        if self._finish_cancelled(job):
            if outcome.result is not None:  # stored before the cancel was seen: not kept
                self.storage.delete_prefix(output_prefix(job.id))
        else:
            log.warning("worker %s: job %s was no longer ours at the end", self.id, job.id)

    def _time_out(self, job: Job, thread: threading.Thread, abandoned: threading.Event) -> None:
        """Fail a job past ``job_timeout_s`` and stop its engine, or mark this worker spent."""
        abandoned.set()  # the engine's next progress report raises and unwinds it
        limit = self.settings.job_timeout_s
        error = (
            f"the job ran past the time limit of {limit:g} s (job_timeout_s) and was stopped; "
            "try a smaller image or fewer layers"
        )
        recorded = _retry(lambda: self.store.fail(job.id, self.id, error), "fail")
        if not recorded:  # refused once a cancel was requested: it ends cancelled
            recorded = self._finish_cancelled(job)
        thread.join(STOP_AFTER_TIMEOUT_S)
        if thread.is_alive():
            self.spent = True
        log.warning(
            "worker %s: job %s timed out after %g s (recorded=%s)%s",
            *(self.id, job.id, limit, recorded),
            "; its engine does not stop: this worker exits to be replaced" if self.spent else "",
        )

    def _retry_later(self, job: Job, stop: threading.Event, error: str) -> None:
        """Hold the job through its back-off (lease kept), then requeue it with the attempt
        counted. Holding it, rather than requeuing at once, keeps the other workers from
        spending all its attempts in the same second of an outage."""
        delay = self.retry_backoff_s * 2 ** max(job.attempts - 1, 0)
        log.warning(
            "worker %s: job %s: %s; back in the queue in %.0f s (attempt %d of %d)",
            *(self.id, job.id, error, delay, job.attempts, self.settings.max_attempts),
        )
        until = time.monotonic() + delay
        while (left := until - time.monotonic()) > 0 and not self.hurry.is_set():
            if stop.wait(min(left, self.heartbeat_s)):
                break
            try:
                if not self.store.heartbeat(job.id, self.id, lease_s=self.settings.lease_s):
                    return  # reaped meanwhile: no longer ours to requeue
            except Exception:
                log.exception("worker %s: heartbeat failed", self.id)
        if not _retry(
            lambda: self.store.release(job.id, self.id, count_attempt=True), "requeue"
        ):  # refused once a cancel was requested: it ends here
            self._finish_cancelled(job)

    def _finish_cancelled(self, job: Job) -> bool:
        done = _retry(lambda: self.store.finish_cancelled(job.id, self.id), "cancel")
        if done:
            log.info("worker %s: job %s stopped: cancelled", self.id, job.id)
        return done

    def execute(self, job: Job, progress: ProgressCallback) -> JobResult:
        """Input bytes -> layers -> stored files; returns the job's ``result``.

        ``progress`` hears the whole job's progress and stages: ``decode`` (fetch and
        decode), the engine's own stages (``decompose`` for an engine that names none),
        then ``encode`` (encode and store the layers and exports).
        """
        from lamina.imaging.exports import EXPORT_KINDS
        from lamina.pipeline import build_outputs, decompose_image

        if self.engine is None:
            raise RuntimeError("Worker.setup() was not called")
        progress(0.0, "decode")
        start = time.perf_counter()
        if job.input_key is not None:
            try:
                data = self.storage.get(job.input_key)
            except ObjectNotFound:
                raise LaminaError(
                    "the uploaded input image is no longer stored (deleted after the "
                    "retention period); upload it again"
                ) from None
        elif job.input_url is not None:
            from lamina.fetch import fetch_image

            data = fetch_image(job.input_url, self.settings)
        else:
            raise LaminaError("the job has no input image")
        fetched = time.perf_counter()
        params = DecomposeParams(**{k: v for k, v in job.params.items() if k in _PARAM_NAMES})
        stack = decompose_image(
            data,
            params,
            engine=self.engine,
            max_pixels=self.settings.max_pixels,
            admit=partial(
                check_job_memory,
                num_layers=params.num_layers,
                engine=self.engine,
                limit=self.settings.max_job_memory,
                psd_max_pixel_layers=self.psd_max_pixel_layers,
            ),
            progress=_engine_share(progress),
        )
        progress(ENCODE_AT, "encode")
        decomposed = time.perf_counter()
        prefix = output_prefix(job.id)
        outputs = build_outputs(
            stack, EXPORT_KINDS, best_effort=True, psd_max_pixel_layers=self.psd_max_pixel_layers
        )
        for file in [*outputs.layers, *outputs.exports.values()]:
            self.storage.put(prefix + file.name, file.data, file.media_type)
        timings = {**stack.timings, "fetch": fetched - start}
        timings["store"] = time.perf_counter() - decomposed
        manifest = outputs.manifest(stack, **timings)
        self.storage.put(prefix + manifest.name, manifest.data, manifest.media_type)
        return JobResult(
            layers=[prefix + file.name for file in outputs.layers],
            exports={kind: prefix + file.name for kind, file in outputs.exports.items()},
            manifest=prefix + manifest.name,
            metadata=json.loads(manifest.data),
            engine=stack.engine,
            seed=params.seed,
            timings=timings,
        )


def _engine_share(progress: ProgressCallback) -> ProgressCallback:
    """The engine's 0..1 as the job's :data:`ENGINE_FROM` .. :data:`ENCODE_AT`, each call
    naming the engine's current stage (``decompose`` until the engine names one)."""
    current = ["decompose"]

    def report(fraction: float, stage: str | None = None, /) -> None:
        if stage is not None:
            current[0] = stage
        progress(ENGINE_FROM + (ENCODE_AT - ENGINE_FROM) * fraction, current[0])

    return report


def _retry(record: Callable[[], bool], what: str, *, tries: int = 4) -> bool:
    """Record an outcome through a short database outage (1, 2, 4 s apart); if the store
    stays unreachable the lease lapses and the job is requeued, so nothing is lost."""
    for attempt in range(tries):
        try:
            return record()
        except Exception:
            log.exception("job store error during %s (try %d of %d)", what, attempt + 1, tries)
            if attempt + 1 < tries:
                time.sleep(2.0**attempt)
    return False


def _free_gpu_memory() -> None:
    """After a failure, give cached CUDA memory back so the next job starts clean."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
