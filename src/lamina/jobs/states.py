"""Job states and the transitions between them (the seed API's status vocabulary).

::

    in_queue --claim--> in_progress --complete--> completed
       |  ^                 |  |  |
       |  +--release/reap---+  |  +--fail / reap (attempts used up)--> failed
       |                       +--stop at a checkpoint / reap, once cancel_requested--+
       +--cancel------------------------------------------------------------> cancelled

A queued job is cancelled at once. A running one (unless ``cancel_running`` is off, the
seed's rule) only gets ``cancel_requested``: its worker stops at the engine's next checkpoint
and records ``cancelled`` itself, so nothing is written after that state; a job whose
worker died goes there when its lease is reaped. Once cancel is requested, completing,
failing and releasing the job are refused.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its life; the values are the wire values of the seed API."""

    IN_QUEUE = "in_queue"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for the three terminal states."""
        return self in FINISHED


FINISHED = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.IN_QUEUE: frozenset({JobState.IN_PROGRESS, JobState.CANCELLED}),
    JobState.IN_PROGRESS: frozenset(
        # in_queue: release or reap; cancelled: stopped on request
        {JobState.COMPLETED, JobState.FAILED, JobState.IN_QUEUE, JobState.CANCELLED}
    ),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}
"""Every allowed ``from -> to``; the store builds each guarded statement's ``WHERE`` from it
(:func:`lamina.jobs.store.base._leaving`), so no statement can leave this graph."""

AFTER_CANCEL_REQUEST: frozenset[JobState] = frozenset({JobState.CANCELLED})
"""Where a running job whose cancel was requested may still go (its worker stops at the next
checkpoint, or its lease is reaped); a running job without one may go anywhere else in
:data:`TRANSITIONS` but there."""


def can_transition(
    source: JobState, target: JobState, *, cancel_requested: bool | None = None
) -> bool:
    """Whether ``source -> target`` is an allowed transition (for a running job whose
    ``cancel_requested`` flag is given, also whether the flag allows it)."""
    if target not in TRANSITIONS[source]:
        return False
    if source is JobState.IN_PROGRESS and cancel_requested is not None:
        return (target in AFTER_CANCEL_REQUEST) == cancel_requested
    return True
