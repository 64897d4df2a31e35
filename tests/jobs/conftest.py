"""Job store fixtures: every test runs against SQLite (a temporary file) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.pg import empty_tables, temporary_database

from lamina.jobs.store import JobStore


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the session; tests empty it with ``empty_tables``."""
    with temporary_database() as url:
        store = JobStore(url)
        store.migrate()
        store.dispose()
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty job database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
        store = JobStore(url)
        store.migrate()
    else:
        url = request.getfixturevalue("pg_url")
        store = JobStore(url)
        empty_tables(store)
    store.dispose()
    yield url


@pytest.fixture
def store(db_url: str) -> Iterator[JobStore]:
    """A :class:`JobStore` on ``db_url``."""
    s = JobStore(db_url)
    yield s
    s.dispose()
