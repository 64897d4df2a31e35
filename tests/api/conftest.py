"""The API service fixture (the service itself: :mod:`tests.support.service`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.service import Env, make_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    made = make_env(tmp_path, max_input_bytes=10_000, rate_limit_per_minute=5)
    yield made
    made.store.dispose()
