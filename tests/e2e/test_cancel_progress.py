"""Real progress and cancelling running jobs, against a real ``lamina serve``: a running job
reports its stages, a cancel stops it at the engine's next checkpoint with nothing stored,
and ``LAMINA_CANCEL_RUNNING=false`` keeps the seed's "in-progress jobs cannot be cancelled"."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import cv2
import httpx
import pytest
from tests.support.inputs import ImageHost, design, png_bytes
from tests.support.server import Server, start_server, wait_for

SUBMIT = "/v1/models/qwen/qwen-image-layered"
STAGES = ["decode", "segment", "peel", "lift", "encode"]


def _submit(srv: Server, url: str, **extra: object) -> str:
    body = {"image_url": url, "num_layers": 3, **extra}
    answer = httpx.post(srv.url + SUBMIT, json=body, headers=srv.auth(), timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["request_id"])


def _status(srv: Server, request_id: str) -> dict[str, Any]:
    url = f"{srv.url}/v1/requests/{request_id}/status"
    return dict(httpx.get(url, headers=srv.auth(), timeout=10).json())


def _cancel(srv: Server, request_id: str) -> dict[str, Any]:
    url = f"{srv.url}/v1/requests/{request_id}/cancel"
    return dict(httpx.post(url, headers=srv.auth(), timeout=10).json())


def _watch(srv: Server, request_id: str, until: str, timeout: float = 120) -> list[dict[str, Any]]:
    """Every distinct running status until the stage ``until`` (or the end) shows."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = _status(srv, request_id)
        if not seen or body != seen[-1]:
            seen.append(body)
        if body.get("stage") == until or body["status"] in {"completed", "cancelled", "failed"}:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"{request_id}: {seen[-1:]}")


@pytest.fixture(scope="module")
def big_input(image_host: ImageHost) -> str:
    """A 2 MP flat design: each classic stage takes long enough to be seen."""
    image = cv2.resize(design(48, seed=7), (1800, 1200), interpolation=cv2.INTER_NEAREST)
    return image_host.add("/big.png", png_bytes(image))


def test_a_running_job_reports_its_stages_and_stops_in_them_when_cancelled(
    server: Server, big_input: str
) -> None:
    request_id = _submit(server, big_input)
    _watch(server, request_id, "peel")
    peeling = time.monotonic()
    seen = _watch(server, request_id, "completed")
    rest = time.monotonic() - peeling  # the peel and encode stages of a run to the end
    running = [s for s in seen if s["status"] == "in_progress"]
    stages = [s["stage"] for s in running if "stage" in s]  # none until the first checkpoint
    assert "peel" in stages, seen
    order = [STAGES.index(stage) for stage in stages]
    assert order == sorted(order), stages
    progress = [s["progress"] for s in running]
    assert progress == sorted(progress) and all(0 <= p < 1 for p in progress), progress
    assert seen[-1]["status"] == "completed" and "stage" not in seen[-1]

    # cancelled while peeling, the classic engine stops at its next checkpoint (the peel's
    # reconstruction step), long before a run to the end would have finished
    request_id = _submit(server, big_input)
    _watch(server, request_id, "peel")
    answer = _cancel(server, request_id)
    asked = time.monotonic()
    assert answer["outcome"] == "cancel_requested", answer
    assert wait_for(server, request_id, {"cancelled"}, timeout=60)["status"] == "cancelled"
    stopped = time.monotonic() - asked
    assert stopped < 0.8 * rest, (stopped, rest)
    result = httpx.get(
        f"{server.url}/v1/requests/{request_id}/result", headers=server.auth(), timeout=10
    ).json()
    assert result["status"] == "cancelled" and result["output"] is None
    assert result["finished_at"] is not None
    assert not (server.data_dir / "files" / "jobs" / request_id).exists()
    assert _cancel(server, request_id)["outcome"] == "cancelled"


def test_cancelling_a_running_job_stops_it_within_a_second_of_a_checkpoint(
    server: Server, image_host: ImageHost
) -> None:
    # the gate engine checkpoints every 50 ms: the worker hears of the cancel within its
    # progress interval (1 s) and stops there
    gated = _submit(server, image_host.add("/gated.png", png_bytes(design(16))), prompt="gate:x")
    wait_for(server, gated, {"in_progress"})
    answer = _cancel(server, gated)
    asked = time.monotonic()
    assert (answer["status"], answer["outcome"]) == ("in_progress", "cancel_requested")
    # idempotent (or already stopped)
    assert _cancel(server, gated)["outcome"] in {"cancel_requested", "cancelled"}
    assert wait_for(server, gated, {"cancelled"}, timeout=10)["status"] == "cancelled"
    assert time.monotonic() - asked < 2.5

    assert not (server.data_dir / "files" / "jobs" / gated).exists()
    # the worker is free again: the next job runs
    after = _submit(server, image_host.add("/after.png", png_bytes(design(16, seed=2))))
    assert wait_for(server, after, {"completed"})["status"] == "completed"


@pytest.fixture(scope="module")
def seed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("seed-cancel"),
        extra=["--allow-private-urls"],
        env={"LAMINA_CANCEL_RUNNING": "false"},
    )
    yield srv
    srv.stop()


def test_the_setting_keeps_running_jobs_not_cancellable(
    seed_server: Server, image_host: ImageHost
) -> None:
    url = image_host.add("/seed-cancel.png", png_bytes(design(16)))
    running = _submit(seed_server, url, prompt="gate:seed")
    wait_for(seed_server, running, {"in_progress"})
    queued = _submit(seed_server, url)
    assert _cancel(seed_server, running) == {
        "request_id": running,
        "status": "in_progress",
        "outcome": "not_cancellable",
    }
    assert _cancel(seed_server, queued)["outcome"] == "cancelled"
    seed_server.open_gate("seed")
    assert wait_for(seed_server, running, {"completed"})["status"] == "completed"
