"""The job store on SQLite and PostgreSQL: FIFO, positions, guards, leases, durability."""

from __future__ import annotations

import logging
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from tests.support.pg import temporary_database
from tests.support.store import PARAMS, ManualClock, submit

from lamina.config import normalize_database_url
from lamina.errors import JobNotFound
from lamina.jobs.models import jobs, metadata
from lamina.jobs.states import TRANSITIONS, JobState, can_transition
from lamina.jobs.store import JobStore


def test_submit_and_get_round_trip(store: JobStore) -> None:
    job = submit(store)
    assert job.state is JobState.IN_QUEUE
    assert job.attempts == 0 and job.progress == 0.0
    assert job.created_at.tzinfo is not None
    got = store.get(job.id, owner="key_a")
    assert got == job
    assert got.params == PARAMS


def test_get_hides_other_owners_jobs(store: JobStore) -> None:
    job = submit(store, owner="key_a")
    with pytest.raises(JobNotFound):
        store.get(job.id, owner="key_b")
    with pytest.raises(JobNotFound):
        store.get("0" * 32)
    assert store.get(job.id).id == job.id


def test_submit_needs_exactly_one_input(store: JobStore) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        store.submit(owner="k", model_id="m", params={})
    with pytest.raises(ValueError, match="exactly one"):
        store.submit(owner="k", model_id="m", params={}, input_key="a", input_url="b")


def test_claims_are_fifo_and_positions_count_jobs_ahead(store: JobStore) -> None:
    queued = [submit(store) for _ in range(5)]
    assert [store.queue_position(j) for j in queued] == [0, 1, 2, 3, 4]
    store.cancel(queued[1].id, owner="key_a")
    assert store.queue_position(store.get(queued[3].id)) == 2
    first = store.claim("w1", lease_s=30)
    assert first is not None and first.id == queued[0].id
    assert first.state is JobState.IN_PROGRESS and first.attempts == 1
    assert first.worker_id == "w1" and first.lease_expires_at is not None
    assert store.queue_position(first) == 0
    assert store.queue_position(store.get(queued[4].id)) == 2
    claimed = [store.claim("w2", lease_s=30) for _ in range(4)]
    assert [c.id if c else None for c in claimed] == [
        queued[2].id,
        queued[3].id,
        queued[4].id,
        None,
    ]


def test_deep_queue_positions_are_estimated_from_seq_distance(db_url: str) -> None:
    store = JobStore(db_url, exact_positions=3)
    queued = [submit(store) for _ in range(8)]
    assert [store.queue_position(j) for j in queued] == list(range(8))
    store.cancel(queued[4].id, owner="key_a")
    # exact while fewer than 3 are ahead, then the seq distance (counts the cancelled job)
    assert [store.queue_position(j) for j in queued[5:]] == [5, 6, 7]
    store.cancel(queued[1].id, owner="key_a")
    store.cancel(queued[2].id, owner="key_a")
    assert store.queue_position(queued[3]) == 1
    assert store.queue_position(store.get(queued[7].id)) == 7  # 4 really: an upper bound
    # the one-query status counts exactly the same way
    for job in queued:
        fresh = store.get(job.id)
        assert store.status(job.id).queue_position == store.queue_position(fresh)
    store.dispose()
    with pytest.raises(ValueError):
        JobStore(db_url, exact_positions=0)


def test_status_reads_state_progress_and_position_in_one_query(store: JobStore) -> None:
    a, b, c = submit(store), submit(store), submit(store, owner="key_b")
    assert [store.status(j.id).queue_position for j in (a, b, c)] == [0, 1, 2]
    assert store.claim("w", lease_s=30) is not None
    store.heartbeat(a.id, "w", lease_s=30, progress=0.4)
    running = store.status(a.id, owner="key_a")
    assert (running.state, running.progress, running.queue_position) == (
        JobState.IN_PROGRESS,
        0.4,
        0,
    )
    assert store.status(c.id, owner="key_b").queue_position == 1
    store.cancel(b.id, owner="key_a")
    assert store.status(b.id).state is JobState.CANCELLED
    assert store.status(c.id).queue_position == 0
    with pytest.raises(JobNotFound):
        store.status(c.id, owner="key_a")  # another key's job is not found
    with pytest.raises(JobNotFound):
        store.status("f" * 32)
    assert store.local_reads is (store.dialect == "sqlite")


def test_status_from_many_threads_at_once(store: JobStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    jobs_ = [submit(store) for _ in range(5)]

    def poll(i: int) -> int:
        return sum(store.status(jobs_[i % 5].id).queue_position for _ in range(20))

    with ThreadPoolExecutor(max_workers=48) as pool:
        totals = list(pool.map(poll, range(48)))
    assert totals == [20 * (i % 5) for i in range(48)]


def test_cancel_only_wins_while_queued(store: JobStore) -> None:
    a, b = submit(store), submit(store)
    job, outcome = store.cancel(a.id, owner="key_a")
    assert outcome == "cancelled" and job.state is JobState.CANCELLED
    assert job.finished_at is not None
    assert store.cancel(a.id, owner="key_a")[1] == "cancelled"  # idempotent
    assert store.claim("w", lease_s=30).id == b.id  # the cancelled job is never claimed
    job, outcome = store.cancel(b.id, owner="key_a")
    assert outcome == "not_cancellable" and job.state is JobState.IN_PROGRESS
    with pytest.raises(JobNotFound):
        store.cancel(b.id, owner="key_other")
    assert store.complete(b.id, "w", {"layers": []})
    assert store.cancel(b.id, owner="key_a")[1] == "not_cancellable"


def test_only_the_lease_holder_changes_a_running_job(store: JobStore) -> None:
    job = submit(store)
    assert store.claim("w1", lease_s=30) is not None
    assert not store.heartbeat(job.id, "w2", lease_s=30)
    assert not store.complete(job.id, "w2", {})
    assert not store.fail(job.id, "w2", "nope")
    assert not store.release(job.id, "w2")
    assert store.heartbeat(job.id, "w1", lease_s=30, progress=0.25)
    assert store.get(job.id).progress == 0.25
    assert store.complete(job.id, "w1", {"layers": ["jobs/x/layer_00.png"]})
    done = store.get(job.id)
    assert done.state is JobState.COMPLETED and done.progress == 1.0
    assert done.result == {"layers": ["jobs/x/layer_00.png"]}
    assert done.finished_at is not None and done.started_at is not None
    # a finished job is final: no second completion, failure or heartbeat
    assert not store.complete(job.id, "w1", {})
    assert not store.fail(job.id, "w1", "late")
    assert not store.heartbeat(job.id, "w1", lease_s=30)


def test_fail_keeps_a_readable_error(store: JobStore) -> None:
    job = submit(store)
    store.claim("w", lease_s=30)
    assert store.fail(job.id, "w", "the image is corrupt or truncated: " + "x" * 5000)
    failed = store.get(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and failed.error.startswith("the image is corrupt")
    assert len(failed.error) <= 2000


def test_release_requeues_in_place_without_using_an_attempt(store: JobStore) -> None:
    first, second = submit(store), submit(store)
    assert store.claim("w1", lease_s=30).id == first.id
    assert store.release(first.id, "w1")
    released = store.get(first.id)
    assert released.state is JobState.IN_QUEUE and released.attempts == 0
    assert released.worker_id is None and released.started_at is None
    assert store.queue_position(released) == 0
    assert store.claim("w2", lease_s=30).id == first.id  # back at its place: ahead of second
    assert store.queue_position(store.get(second.id)) == 0


def test_expired_leases_are_requeued_then_failed_after_max_attempts(store: JobStore) -> None:
    store.clock = clock = ManualClock()
    job = submit(store)
    for attempt in (1, 2):
        claimed = store.claim(f"w{attempt}", lease_s=30)
        assert claimed is not None and claimed.attempts == attempt
        clock.advance(29)
        assert store.reap_expired(max_attempts=2) == 0  # lease still valid
        clock.advance(2)
        assert store.reap_expired(max_attempts=2) == 1
    failed = store.get(job.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None and "stopped responding" in failed.error
    assert store.reap_expired(max_attempts=2) == 0
    # the first worker, back from the dead, cannot record anything
    assert not store.complete(job.id, "w1", {})


def test_a_reaped_job_is_requeued_and_the_old_worker_loses_it(store: JobStore) -> None:
    store.clock = clock = ManualClock()
    job = submit(store)
    store.claim("old", lease_s=30)
    clock.advance(29)
    assert store.reap_expired(max_attempts=3) == 0  # the lease still holds
    clock.advance(2)
    assert store.reap_expired(max_attempts=3) == 1
    requeued = store.get(job.id)
    assert requeued.state is JobState.IN_QUEUE and requeued.worker_id is None
    again = store.claim("new", lease_s=30)
    assert again is not None and again.id == job.id and again.attempts == 2
    assert not store.heartbeat(job.id, "old", lease_s=30)
    assert not store.complete(job.id, "old", {})
    assert store.complete(job.id, "new", {})


def test_heartbeat_extends_the_lease(store: JobStore) -> None:
    store.clock = clock = ManualClock()
    job = submit(store)
    claimed = store.claim("w", lease_s=30)
    assert claimed is not None and claimed.lease_expires_at is not None
    clock.advance(20)
    assert store.heartbeat(job.id, "w", lease_s=30)
    clock.advance(20)  # past the claim's lease, inside the heartbeat's
    assert store.reap_expired(max_attempts=3) == 0
    lease = store.get(job.id).lease_expires_at
    assert lease is not None and abs(lease - (clock() + timedelta(seconds=10))) < timedelta(
        milliseconds=1
    )
    clock.advance(11)
    assert store.reap_expired(max_attempts=3) == 1


def test_stats_report_depth_states_workers_and_durations(store: JobStore) -> None:
    a, b, c = submit(store), submit(store), submit(store)
    store.register_worker("w1")
    store.register_worker("w2")
    store.unregister_worker("w2")
    store.claim("w1", lease_s=30)
    store.complete(a.id, "w1", {})
    store.claim("w1", lease_s=30)
    store.fail(b.id, "w1", "bad")
    stats = store.stats()
    assert stats["queue_depth"] == 1
    assert stats["states"] == {
        "in_queue": 1,
        "in_progress": 0,
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert stats["workers_alive"] == 1 and stats["workers_busy"] == 0
    durations = stats["durations"]
    assert {state: h["count"] for state, h in durations.items()} == {
        "completed": 1,
        "failed": 1,
        "cancelled": 0,
    }
    counts = [n for _, n in durations["completed"]["buckets"]]
    assert counts == sorted(counts) and counts[-1] == 1
    assert {state: h["count"] for state, h in stats["run_times"].items()} == {
        "completed": 1,
        "failed": 1,
    }
    assert stats["run_times"]["failed"]["sum"] >= 0
    assert stats["queue_wait"][""]["count"] == 2  # a and b started; c waits
    assert stats["oldest_queued_s"] >= 0
    assert store.get(c.id).state is JobState.IN_QUEUE
    store.cancel(c.id, owner="key_a")
    store.worker_seen("w1", job_id=b.id)
    stats = store.stats()
    assert stats["durations"]["cancelled"]["count"] == 1
    assert stats["durations"]["cancelled"]["sum"] >= 0
    assert stats["workers_busy"] == 1


def test_queue_wait_is_from_submit_to_the_latest_start(store: JobStore) -> None:
    store.clock = clock = ManualClock()
    job = submit(store)
    clock.advance(30)
    store.claim("w", lease_s=30)
    waits = store.stats()["queue_wait"][""]
    assert waits["count"] == 1 and abs(waits["sum"] - 30.0) < 0.01
    assert dict(waits["buckets"])[10.0] == 0 and dict(waits["buckets"])[60.0] == 1
    store.release(job.id, "w")  # back in the queue: not started any more
    assert store.stats()["queue_wait"][""]["count"] == 0


def test_purge_deletes_only_finished_jobs_older_than_the_cutoff(store: JobStore) -> None:
    old_done, queued, running = submit(store), submit(store), submit(store)
    store.claim("w", lease_s=30)
    store.complete(old_done.id, "w", {})
    store.claim("w", lease_s=30)  # queued -> running
    assert store.purge_before(datetime.now(UTC) - timedelta(hours=1)) == []
    purged = store.purge_before(datetime.now(UTC) + timedelta(seconds=1))
    assert [j.id for j in purged] == [old_done.id]
    with pytest.raises(JobNotFound):
        store.get(old_done.id)
    assert store.get(queued.id).state is JobState.IN_PROGRESS
    assert store.get(running.id).state is JobState.IN_QUEUE


def test_jobs_survive_a_restart_and_an_orphaned_job_is_requeued(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'durable.db'}"
    clock = ManualClock()
    first = JobStore(url, clock=clock)
    first.migrate()
    running, waiting = submit(first), submit(first)
    assert first.claim("dead-worker", lease_s=30).id == running.id
    first.dispose()  # the process "dies" with a job in progress
    clock.advance(29)
    second = JobStore(url, clock=clock)
    second.migrate()
    assert second.get(waiting.id).state is JobState.IN_QUEUE
    assert second.reap_expired(max_attempts=3) == 0  # its lease still holds
    clock.advance(2)
    assert second.reap_expired(max_attempts=3) == 1
    assert [second.claim("w", lease_s=30).id for _ in range(2)] == [running.id, waiting.id]
    second.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    s = JobStore(f"sqlite:///{tmp_path / 'wal.db'}")
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    s.dispose()


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        JobStore("sqlite://")


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_migrations_match_the_models(store: JobStore) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrations_downgrade_and_upgrade_again(store: JobStore) -> None:
    from alembic import command
    from alembic.config import Config

    from lamina.jobs.store import MIGRATIONS_DIR

    submit(store)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(sa.inspect(store.engine).get_table_names()) <= {"alembic_version"}
    store.migrate()
    assert store.stats()["queue_depth"] == 0
    submit(store)


def _migrate(url: str) -> None:
    s = JobStore(url)
    s.migrate()
    s.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_migrations_from_several_processes(kind: str, tmp_path: Path) -> None:
    def run(url: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_migrate, args=(url,)) for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0, 0]
        s = JobStore(url)
        submit(s)
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        s.dispose()

    if kind == "sqlite":
        run(f"sqlite:///{tmp_path / 'fresh.db'}")
    else:
        with temporary_database() as url:
            run(url)


def test_transition_table_is_closed() -> None:
    for source, targets in TRANSITIONS.items():
        for target in JobState:
            assert can_transition(source, target) == (target in targets)
    assert all(not TRANSITIONS[s] for s in JobState if s.finished)
    assert not JobState.IN_QUEUE.finished


def test_alembic_logs_only_when_a_migration_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    s = JobStore(f"sqlite:///{tmp_path / 'quiet.db'}")
    assert s.migrate() is True
    assert any("Running upgrade" in r.getMessage() for r in caplog.records)
    assert not any(r.name.startswith("alembic.runtime.plugins") for r in caplog.records)
    caplog.clear()
    assert s.migrate() is False  # already at head: nothing runs, nothing is logged
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []
    assert logging.getLogger("alembic").level == logging.NOTSET  # levels are restored
    s.dispose()


def test_migration_0002_backfills_latency_columns(store: JobStore) -> None:
    from alembic import command
    from alembic.config import Config

    from lamina.jobs.store import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    created = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    row = {
        "id": "a" * 32,
        "owner": "k",
        "model_id": "m",
        "state": "completed",
        "params": {},
        "input_url": "x",
        "progress": 1.0,
        "attempts": 1,
        "created_at": created,
        "started_at": created + timedelta(seconds=2.5),
        "finished_at": created + timedelta(seconds=10),
    }
    old_columns = sa.table("lamina_jobs", *(sa.column(name, jobs.c[name].type) for name in row))
    with store.engine.begin() as conn:
        conn.execute(sa.insert(old_columns).values(**row))
    assert store.migrate() is True
    with store.engine.connect() as conn:
        got = conn.execute(sa.select(jobs.c.created_ts, jobs.c.wait_s, jobs.c.total_s)).one()
    assert got.created_ts == pytest.approx(created.timestamp(), abs=1e-3)
    assert got.wait_s == pytest.approx(2.5, abs=1e-3)
    assert got.total_s == pytest.approx(10.0, abs=1e-3)
