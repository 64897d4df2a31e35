"""Throw-away PostgreSQL databases for tests (the server at 127.0.0.1:5432 is always there)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import sqlalchemy as sa

from lamina.jobs.models import metadata
from lamina.jobs.store import JobStore

PG_SERVER = os.environ.get("LAMINA_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


@contextmanager
def temporary_database() -> Iterator[str]:
    """Create ``lamina_test_<random>``, yield its URL, drop it (and its sessions) at the end."""
    name = f"lamina_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_tables(store: JobStore) -> None:
    """Empty every table of ``store``'s PostgreSQL database (sequences restart)."""
    with store.engine.begin() as conn:
        names = ", ".join(table.name for table in metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY"))
