"""Which failures are faults of a dependency that may pass, rather than of the job or a bug.

One answer for both sides: a worker retries a job that met one (later, a bounded number of
times) instead of failing it, and the API answers 503 with ``Retry-After`` instead of 500.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy.exc as sa_exc

from lamina.errors import StorageUnavailable

Dependency = Literal["storage", "database"]
RETRY_AFTER_S = 5
"""What a 503 answer's ``Retry-After`` says."""


def transient_fault(exc: BaseException) -> Dependency | None:
    """``"storage"`` or ``"database"`` when ``exc`` says that dependency is unavailable
    (unreachable, read-only, full, its connections dropped or exhausted), else ``None``."""
    if isinstance(exc, StorageUnavailable):
        return "storage"
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return "database"
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return "database"
    return None
