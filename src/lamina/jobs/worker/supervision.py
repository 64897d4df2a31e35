"""Supervision of a running job: it runs in a thread of its own while the worker keeps the
lease, enforces the time limit, honours stop requests within the grace period, and records
the outcome (or holds and requeues a job after a fault that may pass)."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from lamina.engines.base import ProgressCallback
from lamina.errors import transient_fault, user_message
from lamina.jobs.store import Job, JobResult, output_prefix
from lamina.jobs.worker.base import log
from lamina.jobs.worker.execution import ExecutionMixin

STOP_AFTER_TIMEOUT_S = 5.0
"""How long a job past its time limit has to stop (the engine stops at its next progress
report) before its worker gives up on the process."""
EXIT_REPLACE = 3
"""Exit code of a worker process that must be replaced (a timed-out engine runs on in it)."""


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


class SupervisionMixin(ExecutionMixin):
    """Takes a claimed job to its end: completed, failed, cancelled, or back in the queue."""

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
