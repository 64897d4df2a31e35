"""Store support for the API beyond the seed, on SQLite and PostgreSQL: listing by owner,
cancelling running jobs through their worker's checkpoints, webhook deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.store import ManualClock, submit

from lamina.jobs.states import JobState
from lamina.jobs.store import JobStore


def test_list_jobs_pages_newest_first_by_owner_and_state(store: JobStore) -> None:
    mine = [submit(store, owner="key_a") for _ in range(5)]
    submit(store, owner="key_b")
    store.cancel(mine[1].id, owner="key_a")
    page = store.list_jobs(owner="key_a", limit=3)
    assert [j.id for j in page] == [j.id for j in reversed(mine)][:3]
    rest = store.list_jobs(owner="key_a", before_seq=page[-1].seq, limit=3)
    assert [j.id for j in rest] == [mine[1].id, mine[0].id]
    cancelled = store.list_jobs(owner="key_a", state=JobState.CANCELLED)
    assert [(j.id, j.state) for j in cancelled] == [(mine[1].id, JobState.CANCELLED)]
    assert cancelled[0].finished_at is not None
    assert store.list_jobs(owner="key_c") == []


def test_a_running_job_is_cancelled_by_its_worker_at_a_checkpoint(store: JobStore) -> None:
    job = submit(store)
    assert store.claim("w1", lease_s=30) is not None
    assert store.cancel(job.id, owner="key_a")[1] == "not_cancellable"  # the seed's rule
    assert store.checkpoint(job.id, "w1", lease_s=30, progress=0.3, stage="segment") == "running"
    got, outcome = store.cancel(job.id, owner="key_a", running=True)
    assert (got.state, outcome, got.cancel_requested) == (
        JobState.IN_PROGRESS,
        "cancel_requested",
        True,
    )
    assert store.cancel(job.id, owner="key_a", running=True)[1] == "cancel_requested"
    assert store.status(job.id).stage == "segment"
    assert store.checkpoint(job.id, "w2", lease_s=30) == "lost"
    assert store.checkpoint(job.id, "w1", lease_s=30, progress=0.5) == "cancel"
    # completing, failing or requeueing a job whose cancel was requested is refused
    assert not store.complete(job.id, "w1", {"layers": []})
    assert not store.fail(job.id, "w1", "boom")
    assert not store.release(job.id, "w1")
    assert store.finish_cancelled(job.id, "w1")
    done = store.get(job.id)
    assert done.state is JobState.CANCELLED and done.finished_at is not None
    assert done.result is None and done.progress == 0.5
    assert store.cancel(job.id, owner="key_a", running=True)[1] == "cancelled"
    assert not store.finish_cancelled(job.id, "w1")


def test_a_dead_workers_job_with_a_cancel_request_is_cancelled_not_requeued(
    store: JobStore,
) -> None:
    store.clock = clock = ManualClock()
    doomed, other = submit(store), submit(store)
    store.claim("w1", lease_s=30)
    store.claim("w2", lease_s=30)
    store.cancel(doomed.id, owner="key_a", running=True)
    clock.advance(29)
    assert store.reap_expired(max_attempts=3) == 0  # both leases still valid
    clock.advance(2)  # as if both workers had stopped heartbeating
    assert store.reap_expired(max_attempts=3) == 2
    assert store.get(doomed.id).state is JobState.CANCELLED
    assert store.get(other.id).state is JobState.IN_QUEUE
    assert not store.finish_cancelled(doomed.id, "w1")


def test_webhook_deliveries_wait_for_the_end_are_leased_and_settle_once(
    store: JobStore,
) -> None:
    hook = {"url": "https://hooks.example.com/x", "base_url": "http://api"}
    job = store.submit(
        owner="key_a", model_id="m", params={}, input_url="https://example.com/a.png", webhook=hook
    )
    submit(store)  # no webhook: never delivered
    assert store.claim_webhook(lease_s=30) is None  # not finished yet
    store.claim("w1", lease_s=30)
    store.fail(job.id, "w1", "boom")
    first = store.claim_webhook(lease_s=30)
    assert first is not None and (first.id, first.webhook_attempts) == (job.id, 1)
    assert store.claim_webhook(lease_s=30) is None  # leased
    later = datetime.now(UTC) - timedelta(seconds=1)  # due again at once
    assert store.record_webhook(
        job.id, attempt=1, status_code=500, error="HTTP 500", duration_s=0.1, retry_at=later
    )
    second = store.claim_webhook(lease_s=30)
    assert second is not None and second.webhook_attempts == 2
    # a dispatcher whose lease lapsed cannot settle over its successor
    assert not store.record_webhook(
        job.id, attempt=1, status_code=200, error=None, duration_s=0.1, retry_at=None
    )
    assert store.record_webhook(
        job.id, attempt=2, status_code=200, error=None, duration_s=0.1, retry_at=None
    )
    assert store.get(job.id).webhook_state == "delivered"
    assert store.claim_webhook(lease_s=30) is None
    assert [(a.attempt, a.status_code) for a in store.webhook_log(job.id)] == [
        (1, 500),
        (1, 200),  # the late one is logged: it did happen
        (2, 200),
    ]


def test_a_webhook_delivery_is_taken_again_only_once_its_lease_lapses(store: JobStore) -> None:
    store.clock = clock = ManualClock()
    hook = {"url": "https://hooks.example.com/x", "base_url": "http://api"}
    job = store.submit(
        owner="key_a", model_id="m", params={}, input_url="https://example.com/a.png", webhook=hook
    )
    store.claim("w1", lease_s=30)
    store.fail(job.id, "w1", "boom")
    first = store.claim_webhook(lease_s=30)
    assert first is not None and first.webhook_attempts == 1
    clock.advance(29)
    assert store.claim_webhook(lease_s=30) is None  # its dispatcher may still be at it
    clock.advance(2)  # the dispatcher died without recording the attempt
    again = store.claim_webhook(lease_s=30)
    assert again is not None and (again.id, again.webhook_attempts) == (job.id, 2)
