"""Stateful property test: random interleavings of every store operation keep the model.

A plain-Python model of the queue runs beside the real store (SQLite and PostgreSQL); after
every step each job's state, attempts and queue position must agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lamina.jobs.models import jobs
from lamina.jobs.states import JobState, can_transition
from lamina.jobs.store import JobStore

MAX_ATTEMPTS = 2
WORKERS = ("w1", "w2")


@dataclass
class ModelJob:
    seq: int
    state: JobState = JobState.IN_QUEUE
    worker: str | None = None
    attempts: int = 0
    cancel_requested: bool = False


def make_machine(url: str) -> type[RuleBasedStateMachine]:
    class QueueMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.store = JobStore(url)
            with self.store.engine.begin() as conn:
                conn.execute(sa.delete(jobs))
            self.model: dict[str, ModelJob] = {}

        def teardown(self) -> None:
            self.store.dispose()

        def _move(self, job_id: str, target: JobState) -> None:
            job = self.model[job_id]
            assert can_transition(job.state, target), (job.state, target)
            job.state = target

        def _running(self, worker: str) -> list[str]:
            return [
                i
                for i, j in self.model.items()
                if j.state is JobState.IN_PROGRESS and j.worker == worker
            ]

        @rule()
        def submit(self) -> None:
            job = self.store.submit(owner="k", model_id="m", params={}, input_key="inputs/x")
            self.model[job.id] = ModelJob(seq=job.seq)

        @rule(worker=st.sampled_from(WORKERS))
        def claim(self, worker: str) -> None:
            job = self.store.claim(worker, lease_s=60)
            queued = sorted(
                (j.seq, i) for i, j in self.model.items() if j.state is JobState.IN_QUEUE
            )
            if not queued:
                assert job is None
                return
            assert job is not None and job.id == queued[0][1]
            self._move(job.id, JobState.IN_PROGRESS)
            self.model[job.id].worker = worker
            self.model[job.id].attempts += 1
            assert job.attempts == self.model[job.id].attempts

        @precondition(lambda self: bool(self.model))
        @rule(data=st.data(), running=st.booleans())
        def cancel(self, data: st.DataObject, running: bool) -> None:
            job_id = data.draw(st.sampled_from(sorted(self.model)))
            before = self.model[job_id].state
            _, outcome = self.store.cancel(job_id, owner="k", running=running)
            if before is JobState.IN_QUEUE:
                assert outcome == "cancelled"
                self._move(job_id, JobState.CANCELLED)
            elif before is JobState.IN_PROGRESS and running:
                assert outcome == "cancel_requested"
                self.model[job_id].cancel_requested = True
            else:
                assert outcome == (
                    "cancelled" if before is JobState.CANCELLED else "not_cancellable"
                )

        @rule(
            worker=st.sampled_from(WORKERS),
            action=st.sampled_from(["complete", "fail", "release", "stop"]),
            data=st.data(),
        )
        def finish(self, worker: str, action: str, data: st.DataObject) -> None:
            candidates = sorted(self.model)
            if not candidates:
                return
            job_id = data.draw(st.sampled_from(candidates))
            job = self.model[job_id]
            ours = job.state is JobState.IN_PROGRESS and job.worker == worker
            # once a cancel is requested, stopping is the only way out for the worker
            ours = ours and (action == "stop") == job.cancel_requested
            if action == "stop":
                assert self.store.finish_cancelled(job_id, worker) == ours
                target = JobState.CANCELLED
            elif action == "complete":
                assert self.store.complete(job_id, worker, {"ok": True}) == ours
                target = JobState.COMPLETED
            elif action == "fail":
                assert self.store.fail(job_id, worker, "boom") == ours
                target = JobState.FAILED
            else:
                assert self.store.release(job_id, worker) == ours
                target = JobState.IN_QUEUE
            if ours:
                self._move(job_id, target)
                if action == "release":
                    job.attempts -= 1
                    job.worker = None

        @rule(worker=st.sampled_from(WORKERS))
        def worker_dies(self, worker: str) -> None:
            running = self._running(worker)
            past = datetime.now(UTC) - timedelta(seconds=1)
            with self.store.engine.begin() as conn:
                conn.execute(
                    sa.update(jobs).where(jobs.c.id.in_(running)).values(lease_expires_at=past)
                )
            assert self.store.reap_expired(max_attempts=MAX_ATTEMPTS) == len(running)
            for job_id in running:
                job = self.model[job_id]
                if job.cancel_requested:
                    self._move(job_id, JobState.CANCELLED)
                elif job.attempts >= MAX_ATTEMPTS:
                    self._move(job_id, JobState.FAILED)
                else:
                    self._move(job_id, JobState.IN_QUEUE)
                    job.worker = None

        @invariant()
        def store_matches_model(self) -> None:
            queued = sorted(j.seq for j in self.model.values() if j.state is JobState.IN_QUEUE)
            for job_id, expected in self.model.items():
                real = self.store.get(job_id)
                assert real.state is expected.state
                assert real.attempts == expected.attempts
                assert real.cancel_requested == expected.cancel_requested
                if expected.state is JobState.IN_PROGRESS:
                    assert real.worker_id == expected.worker
                position = queued.index(real.seq) if real.state is JobState.IN_QUEUE else 0
                assert self.store.queue_position(real) == position

    return QueueMachine


def test_store_follows_the_queue_model(db_url: str) -> None:
    machine = make_machine(db_url)
    machine.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    machine.TestCase().runTest()
