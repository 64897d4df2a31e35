"""The e2e fixtures: a session-wide loopback host of test inputs and a module-wide
``lamina serve`` allowed to fetch from it (helpers: :mod:`tests.support.server`,
:mod:`tests.support.inputs`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.inputs import ImageHost
from tests.support.server import Server, start_server


@pytest.fixture(scope="session")
def image_host() -> Iterator[ImageHost]:
    host = ImageHost()
    yield host
    host.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that may fetch from loopback (``--allow-private-urls``), for the input host."""
    srv = start_server(
        tmp_path_factory.mktemp("serve"),
        extra=["--allow-private-urls"],
        env={"LAMINA_RATE_LIMIT_PER_MINUTE": "600", "LAMINA_MAX_INPUT_BYTES": "300000"},
    )
    yield srv
    srv.stop()
