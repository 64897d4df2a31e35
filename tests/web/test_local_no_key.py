"""``--no-key-on-loopback``: keyless requests from this machine are served (the playground
needs no pasted key), anything else still needs a key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect
from tests.support.inputs import design, png_bytes, poster
from tests.support.server import Server, start_server
from tests.support.service import make_env

from lamina.client import APIError, Client


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("local"), extra=["--no-key-on-loopback"])
    yield server
    server.stop()


def test_keyless_requests_from_this_machine_are_served(open_server: Server) -> None:
    assert "requests from this machine need no API key" in open_server.output()
    assert httpx.get(open_server.url + "/v1/models").status_code == 200
    with Client(open_server.url) as client:  # no token at all
        done = client.run(png_bytes(design(24, seed=31)), num_layers=2, poll_interval=0.05)
        assert len(done.images) == 2
    # the keyless caller's requests are its own: a key's caller does not see them
    with Client(open_server.url, token=open_server.key) as keyed, pytest.raises(APIError) as err:
        keyed.status(done.request_id)
    assert err.value.status == 404
    # a wrong key is still refused, and so is anything that came through a proxy
    assert (
        httpx.get(open_server.url + "/v1/models", headers=open_server.auth("lam_x")).status_code
        == 401
    )
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        answer = httpx.get(open_server.url + "/v1/models", headers={header: "203.0.113.9"})
        assert answer.status_code == 401, header


def test_only_loopback_addresses_and_only_when_turned_on(tmp_path: Path) -> None:
    off = make_env(tmp_path / "off")
    on = make_env(tmp_path / "on", loopback_without_key=True)
    try:
        assert off.service.local_caller("127.0.0.1", False) is None
        assert on.service.local_caller("127.0.0.1", False) is not None
        assert on.service.local_caller("::1", False) is not None
        assert on.service.local_caller("127.0.0.1", True) is None  # proxied
        for address in ("192.168.1.5", "10.0.0.1", "testclient", None):
            assert on.service.local_caller(address, False) is None, address
    finally:
        off.store.dispose()
        on.store.dispose()


def test_the_playground_needs_no_key_on_this_machine(
    open_server: Server, browser: Browser, tmp_path: Path
) -> None:
    page = browser.new_page()
    page.goto(open_server.url + "/playground")
    page.evaluate("localStorage.clear()")
    page.fill("#token", "")
    page.set_input_files("#file", str(poster(tmp_path / "poster.png")))
    page.fill("#num_layers", "2")
    page.click("#run")
    expect(page.locator("#status")).to_have_text("completed", timeout=60_000)
    expect(page.locator("#layers li")).to_have_count(2)
    page.close()
