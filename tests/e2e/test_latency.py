"""A real ``lamina serve`` answers small requests without Nagle's delay: with it, every
answer waited ~40 ms for the client's delayed ACK (the bound socket lacked TCP_NODELAY)."""

from __future__ import annotations

import statistics
import time

import httpx
from tests.support.server import Server


def test_small_answers_do_not_wait_for_a_delayed_ack(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.get("/healthz")
        times = []
        for _ in range(30):
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.02, times
