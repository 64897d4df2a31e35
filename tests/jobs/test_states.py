"""The transition table is the one statement of the job life: the store's guards come from it."""

from __future__ import annotations

import pytest

from lamina.jobs import states
from lamina.jobs.states import JobState, can_transition
from lamina.jobs.store import JobStore


def test_a_cancel_request_leaves_a_running_job_one_way_out() -> None:
    running, cancelled = JobState.IN_PROGRESS, JobState.CANCELLED
    assert can_transition(running, cancelled, cancel_requested=True)
    assert not can_transition(running, cancelled, cancel_requested=False)
    for target in (JobState.COMPLETED, JobState.FAILED, JobState.IN_QUEUE):
        assert can_transition(running, target, cancel_requested=False)
        assert not can_transition(running, target, cancel_requested=True)
    for done in states.FINISHED:
        assert not any(can_transition(done, target) for target in JobState)


def test_the_store_cannot_make_a_move_the_table_lacks(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = store.submit(owner="k", model_id="m", params={}, input_key="inputs/x")
    assert store.claim("w", lease_s=30) is not None
    # take "running -> failed" out of the table: failing is refused before any SQL runs
    table = dict(states.TRANSITIONS)
    table[JobState.IN_PROGRESS] = table[JobState.IN_PROGRESS] - {JobState.FAILED}
    monkeypatch.setattr(states, "TRANSITIONS", table)
    with pytest.raises(ValueError, match="no transition in_progress -> failed"):
        store.fail(job.id, "w", "broken")
    assert store.get(job.id).state is JobState.IN_PROGRESS
    monkeypatch.undo()
    assert store.fail(job.id, "w", "broken")
    assert store.get(job.id).state is JobState.FAILED
