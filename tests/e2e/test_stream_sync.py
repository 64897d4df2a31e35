"""Streaming status (Server-Sent Events) and sync mode (``Prefer: wait=N``) against a real
``lamina serve`` whose worker runs in another process: on SQLite (the API polls the store)
and on PostgreSQL (the API hears NOTIFY)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import httpx
import pytest
from tests.support.inputs import ImageHost, design, png_bytes
from tests.support.pg import temporary_database
from tests.support.server import Server, start_server, wait_for

SUBMIT = "/v1/models/qwen/qwen-image-layered"
STAGES = ["decode", "segment", "peel", "lift", "encode"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(
    request: pytest.FixtureRequest, server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    if request.param == "sqlite":
        yield server
        return
    with temporary_database() as url:
        pg = start_server(
            tmp_path_factory.mktemp("serve-pg"),
            extra=["--allow-private-urls", "--database-url", url],
        )
        try:
            yield pg
        finally:
            pg.stop()


def _submit(srv: Server, url: str, headers: dict[str, str] | None = None, **extra: Any) -> Any:
    body = {"image_url": url, "num_layers": 2, **extra}
    return httpx.post(
        srv.url + SUBMIT, json=body, headers={**srv.auth(), **(headers or {})}, timeout=30
    )


def _events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any], float]]:
    """``(event, data, arrival time)`` for each SSE event until the server closes."""
    event, data = "message", ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data += line.removeprefix("data: ")
        elif not line and data:
            yield event, json.loads(data), time.monotonic()
            event, data = "message", ""


def test_status_streams_every_change_until_the_terminal_event(
    srv: Server, image_host: ImageHost
) -> None:
    url = image_host.add("/stream.png", png_bytes(design(512, seed=5)))
    gate = f"stream-{srv.data_dir.name}"
    running = _submit(srv, url, prompt=f"gate:{gate}").json()["request_id"]
    wait_for(srv, running, {"in_progress"})
    queued = _submit(srv, url).json()["request_id"]  # waits behind the gated job
    seen: list[dict[str, Any]] = []
    opened = 0.0
    with httpx.stream(
        "GET",
        f"{srv.url}/v1/requests/{queued}/status",
        params={"stream": "true"},
        headers=srv.auth(),
        timeout=httpx.Timeout(30, read=60),
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for event, data, arrived in _events(response):
            assert event == "status"
            seen.append(data)
            if len(seen) == 1:
                assert data["status"] == "in_queue" and data["queue_position"] == 0
                srv.open_gate(gate)
                opened = arrived
    states = [s["status"] for s in seen]
    assert states[0] == "in_queue" and states[-1] == "completed", states
    assert "in_progress" in states and states.count("completed") == 1
    assert all(a != b for a, b in pairwise(seen))  # one event per change
    # changes closer together than a re-read of the store arrive as one (the newest)
    stages = [STAGES.index(s["stage"]) for s in seen if "stage" in s]
    assert stages and stages == sorted(stages), seen
    progress = [s["progress"] for s in seen if "progress" in s]
    assert progress == sorted(progress)
    assert seen[-1]["request_id"] == queued
    # the gated job finishes and the queued one runs in well under a poll-by-hand's time
    assert time.monotonic() - opened < 30
    result = httpx.get(f"{srv.url}/v1/requests/{queued}/result", headers=srv.auth()).json()
    assert result["status"] == "completed"


def test_a_finished_request_streams_one_event_and_unknown_ids_are_404(
    srv: Server, image_host: ImageHost
) -> None:
    url = image_host.add("/stream-done.png", png_bytes(design(16)))
    request_id = _submit(srv, url).json()["request_id"]
    wait_for(srv, request_id, {"completed"})
    with httpx.stream(
        "GET",
        f"{srv.url}/v1/requests/{request_id}/status?stream=true",
        headers=srv.auth(),
        timeout=30,
    ) as response:
        events = list(_events(response))
    assert [data["status"] for _, data, _ in events] == ["completed"]
    missing = httpx.get(f"{srv.url}/v1/requests/{'0' * 32}/status?stream=true", headers=srv.auth())
    assert (missing.status_code, missing.json()["error_code"]) == (404, 404001)
    if "--database-url" not in srv.args:  # Server.new_key writes the SQLite database
        theirs = httpx.get(
            f"{srv.url}/v1/requests/{request_id}/status?stream=true",
            headers=srv.auth(srv.new_key("stream-other")),
        )
        assert theirs.status_code == 404


def test_sync_mode_answers_the_result_when_done_in_time(srv: Server, image_host: ImageHost) -> None:
    url = image_host.add("/sync.png", png_bytes(design(32, seed=6)))
    lags = []
    for seed in range(3):
        answer = _submit(srv, url, headers={"Prefer": "wait=30"}, seed=seed)
        arrived = datetime.now(UTC)
        assert answer.status_code == 200
        assert answer.headers["preference-applied"] == "wait=30"
        body = answer.json()
        assert body["status"] == "completed", body
        finished = datetime.fromisoformat(body["finished_at"].replace("Z", "+00:00"))
        lags.append((arrived - finished).total_seconds())
    # the API hears of the end at once (NOTIFY) or within its SQLite re-read (0.2 s), not
    # at PostgreSQL's 2 s safety re-read
    assert max(lags) < 0.75, lags
    assert len(body["output"]["images"]) == 2
    request_id = body["request_id"]
    for action in ("status", "result", "cancel"):
        assert body[f"{action}_url"] == f"{srv.url}/v1/requests/{request_id}/{action}"
    assert httpx.get(body["output"]["images"][0], timeout=10).status_code == 200


def test_sync_mode_answers_the_usual_ids_when_not_done_in_time(
    srv: Server, image_host: ImageHost
) -> None:
    url = image_host.add("/sync-late.png", png_bytes(design(16, seed=7)))
    gate = f"sync-{srv.data_dir.name}"
    started = time.monotonic()
    answer = _submit(srv, url, headers={"Prefer": "respond-async, wait=1"}, prompt=f"gate:{gate}")
    waited = time.monotonic() - started
    assert answer.status_code == 200 and 1.0 <= waited < 10, waited
    body = answer.json()
    assert set(body) == {"request_id", "status_url", "result_url", "cancel_url"}
    srv.open_gate(gate)
    assert wait_for(srv, body["request_id"], {"completed"})["status"] == "completed"
    # without the header a submit answers at once, as the seed's does
    plain = _submit(srv, url)
    assert "preference-applied" not in plain.headers
    assert set(plain.json()) == {"request_id", "status_url", "result_url", "cancel_url"}
