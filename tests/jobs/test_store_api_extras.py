"""Store support for the API beyond the seed, on SQLite and PostgreSQL: listing by owner."""

from __future__ import annotations

from tests.jobs.test_job_store import submit

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
