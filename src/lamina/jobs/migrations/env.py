"""Alembic environment: runs on the connection that :meth:`JobStore.migrate` passes in.

For development (``alembic -c src/lamina/jobs/alembic.ini -x url=...``) it connects itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from lamina.jobs.models import metadata
from lamina.jobs.store import normalize_database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise RuntimeError("pass -x url=<database URL> or a connection in config.attributes")
    with create_engine(normalize_database_url(url)).connect() as conn:
        _run(conn)
        conn.commit()
