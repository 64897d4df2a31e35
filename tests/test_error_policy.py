"""The one error policy: what users read about a failure, and what only the log keeps."""

from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa

from lamina.errors import (
    EngineError,
    ImageTooLarge,
    LaminaError,
    ObjectNotFound,
    RateLimited,
    StorageUnavailable,
    transient_fault,
    user_message,
)


def test_lamina_errors_read_as_they_are_and_carry_their_answer() -> None:
    assert user_message(EngineError("too elongated")) == "too elongated"
    assert user_message(ObjectNotFound("no stored object 'x'")) == "no stored object 'x'"
    assert (ImageTooLarge("big").status, ImageTooLarge("big").code) == (413, 413001)
    assert LaminaError().message == "LaminaError"
    limited = RateLimited("slow down", retry_after_s=3)
    assert limited.detail == {"retry_after_s": 3} and limited.code == 429001


def test_a_bugs_text_stays_in_the_log_under_a_reference(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="lamina"):
        message = user_message(KeyError("db password=hunter2"), "job j1 failed")
    found = re.fullmatch(
        r"internal error \(ref ([0-9a-f]{12})\); the details are in the server log", message
    )
    assert found is not None, message
    (record,) = [r for r in caplog.records if found[1] in r.getMessage()]
    assert "job j1 failed" in record.getMessage()
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])
    # each failure has its own reference
    assert user_message(KeyError("x")) != message


def test_memory_and_outages_read_as_advice() -> None:
    class OutOfMemoryError(RuntimeError):  # the name torch.cuda uses
        pass

    assert user_message(MemoryError()).startswith("out of memory while processing this image")
    assert user_message(OutOfMemoryError("CUDA out of memory: 80 GiB")).startswith(
        "out of GPU memory"
    )
    dropped = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    assert user_message(dropped) == "the job store (database) was unavailable"
    assert user_message(StorageUnavailable("could not store: read-only")) == (
        "could not store: read-only"
    )


def test_database_faults_are_transient_and_bugs_are_not() -> None:
    dropped = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    assert transient_fault(dropped) == "database"
    assert transient_fault(StorageUnavailable("read-only")) == "storage"
    assert transient_fault(sa.exc.IntegrityError("INSERT", {}, Exception("dup"))) is None
    assert transient_fault(KeyError("x")) is None
