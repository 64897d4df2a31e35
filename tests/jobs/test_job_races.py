"""Concurrency: claims and cancels from many threads never double-win or lose a job."""

from __future__ import annotations

import threading
from collections import Counter

from lamina.jobs.states import JobState
from lamina.jobs.store import JobStore


def _submit_many(store: JobStore, n: int) -> list[str]:
    return [
        store.submit(owner="k", model_id="m", params={}, input_key=f"inputs/{i}").id
        for i in range(n)
    ]


def test_concurrent_claimers_never_share_a_job(store: JobStore) -> None:
    ids = _submit_many(store, 60)
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while (job := store.claim(name, lease_s=30)) is not None:
            with lock:
                claimed.append(job.id)
            assert store.complete(job.id, name, {"by": name})

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(ids)
    assert Counter(claimed).most_common(1)[0][1] == 1
    assert store.stats()["states"]["completed"] == 60


def test_cancel_and_claim_never_both_win(store: JobStore) -> None:
    ids = _submit_many(store, 40)
    claimed: list[str] = []
    cancelled: list[str] = []
    start = threading.Barrier(4)

    def claimer(name: str) -> None:
        start.wait()
        while (job := store.claim(name, lease_s=30)) is not None:
            claimed.append(job.id)

    def canceller(order: list[str]) -> None:
        start.wait()
        for job_id in order:
            job, outcome = store.cancel(job_id, owner="k")
            if outcome == "cancelled":
                cancelled.append(job_id)
            else:
                assert job.state is JobState.IN_PROGRESS

    threads = [
        threading.Thread(target=claimer, args=("w1",)),
        threading.Thread(target=claimer, args=("w2",)),
        threading.Thread(target=canceller, args=(ids,)),
        threading.Thread(target=canceller, args=(list(reversed(ids)),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not set(claimed) & set(cancelled)
    assert sorted(claimed + list(set(cancelled))) == sorted(ids)
    assert len(claimed) == len(set(claimed))
    for job_id in ids:
        state = store.get(job_id).state
        assert state is (JobState.IN_PROGRESS if job_id in claimed else JobState.CANCELLED)
