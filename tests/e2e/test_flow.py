"""The whole life of requests against a real ``lamina serve``: the seed's curl commands,
the Python client, every state, queue positions, cancel and its races."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from tests.support.inputs import ImageHost, design, png_bytes
from tests.support.server import Server, wait_for

from lamina.client import AsyncClient, RequestFailed, RunResult
from lamina.imaging.composite import composite_uint8

MODEL = "qwen/qwen-image-layered"


def curl(*args: str) -> dict[str, object]:
    """Run curl and parse its JSON answer."""
    out = subprocess.run(
        ["curl", "--silent", "--show-error", *args], capture_output=True, check=True, timeout=60
    )
    return dict(json.loads(out.stdout))


def test_the_seed_curl_commands_work_verbatim_but_for_host_and_token(
    server: Server, image_host: ImageHost
) -> None:
    image = design(48, seed=1)
    url = image_host.add("/input-1-1.png", png_bytes(image))
    token = server.key
    submitted = curl(
        "--request", "POST",
        "--url", f"{server.url}/v1/models/qwen/qwen-image-layered",
        "--header", "Content-Type: application/json",
        "--header", f"Authorization: Bearer {token}",
        "--data", '{\n    "image_url": "' + url + '"\n  }',
    )  # fmt: skip
    request_id = str(submitted["request_id"])
    assert submitted["status_url"] == f"{server.url}/v1/requests/{request_id}/status"
    assert submitted["cancel_url"] == f"{server.url}/v1/requests/{request_id}/cancel"
    wait_for(server, request_id, {"completed"})
    status = curl(
        "--request", "GET",
        "--url", f"{server.url}/v1/requests/{request_id}/status",
        "--header", f"Authorization: Bearer {token}",
    )  # fmt: skip
    assert status["status"] == "completed"
    result = curl(
        "--request", "GET",
        "--url", f"{server.url}/v1/requests/{request_id}/result",
        "--header", f"Authorization: Bearer {token}",
    )  # fmt: skip
    assert result["status"] == "completed" and result["error"] is None
    assert result["engine"] == "gate" and result["seed"] == 0
    output = result["output"]
    assert isinstance(output, dict)
    images = output["images"]
    assert len(images) == 4  # the seed's default num_layers
    # signed URLs work without the Authorization header (usable in <img>), back to front
    layers = []
    for i, layer_url in enumerate(images):
        assert f"layer_{i:02d}.png" in layer_url
        got = httpx.get(layer_url, timeout=10)
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
        layers.append(np.asarray(Image.open(io.BytesIO(got.content)).convert("RGBA")))
    rebuilt = composite_uint8(layers)
    assert np.abs(rebuilt.astype(int) - image.astype(int)).max() <= 2
    for layer in output["layers"]:
        assert set(layer) >= {"index", "url", "name", "kind", "bbox", "empty"}
    zipped = httpx.get(output["exports"]["zip"], timeout=10)
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert "layers.json" in names
    assert httpx.get(output["exports"]["psd"], timeout=10).content[:4] == b"8BPS"
    assert httpx.get(output["exports"]["pptx"], timeout=10).content[:2] == b"PK"
    cancel = curl(
        "--request", "POST",
        "--url", f"{server.url}/v1/requests/{request_id}/cancel",
        "--header", f"Authorization: Bearer {token}",
    )  # fmt: skip
    assert cancel == {"request_id": request_id, "status": "completed", "outcome": "not_cancellable"}


def test_every_state_queue_positions_progress_and_cancel(
    server: Server, image_host: ImageHost
) -> None:
    key = server.new_key("states")
    client = server.client(key)
    url = image_host.add("/states.png", png_bytes(design(32, seed=2)))
    running = client.submit(url, prompt="gate:states-a", num_layers=2)
    wait_for(server, running.request_id, {"in_progress"}, key)
    queued = [client.submit(url, num_layers=2, output_format="webp") for _ in range(3)]
    positions = [client.status(q.request_id).queue_position for q in queued]
    assert positions == [0, 1, 2]
    deadline = time.monotonic() + 30  # the worker records progress about once a second
    while (progress := client.status(running.request_id)).progress != 0.5:
        assert progress.status == "in_progress" and time.monotonic() < deadline, progress
        time.sleep(0.1)
    assert client.result(running.request_id).output is None

    cancelled = client.cancel(queued[1].request_id)
    assert (cancelled.status, cancelled.outcome) == ("cancelled", "cancelled")
    assert client.cancel(queued[1].request_id).outcome == "cancelled"  # idempotent
    assert client.status(queued[2].request_id).queue_position == 1

    failing = client.submit(url, prompt="fail:the engine refused this image")
    server.open_gate("states-a")
    for request in (running, queued[0], queued[2]):
        assert client.wait(request.request_id, poll_interval=0.05).status == "completed"
    webp = client.result(queued[0].request_id)
    assert webp.output is not None and webp.output.images[0].split("?")[0].endswith(".webp")
    try:
        client.wait(failing.request_id, poll_interval=0.05)
        raise AssertionError("a failed request must raise")
    except RequestFailed as exc:
        assert exc.result.status == "failed"
        assert exc.result.error == "the engine refused this image"
        assert exc.result.finished_at is not None
    gone = client.result(queued[1].request_id)
    assert gone.status == "cancelled" and gone.output is None


def test_cancel_races_with_the_worker(server: Server, image_host: ImageHost) -> None:
    """Cancels fired while the worker claims: each request ends exactly as its cancel said."""
    key = server.new_key("race")
    client = server.client(key)
    url = image_host.add("/race.png", png_bytes(design(16, seed=3)))
    ids = [client.submit(url, num_layers=1).request_id for _ in range(12)]
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda rid: client.cancel(rid).outcome, ids))
    for request_id, outcome in zip(ids, outcomes, strict=True):
        final = wait_for(server, request_id, {"completed", "cancelled", "failed"}, key)
        expected = "completed" if outcome == "not_cancellable" else "cancelled"
        assert final["status"] == expected, (outcome, final)


def test_the_client_runs_uploads_and_downloads(
    server: Server, image_host: ImageHost, tmp_path: Path
) -> None:
    client = server.client()
    image = design(40, seed=4)
    uploaded = client.upload(png_bytes(image), filename="poster.png")
    assert uploaded.content_type == "image/png"
    done = client.run(uploaded.url, num_layers=3, download_to=tmp_path, poll_interval=0.05)
    names = ["layer_00.png", "layer_01.png", "layer_02.png", "layers.json"]
    assert [p.name for p in done.files] == names
    layers = [np.asarray(Image.open(p).convert("RGBA")) for p in done.files[:3]]
    assert np.abs(composite_uint8(layers).astype(int) - image.astype(int)).max() <= 2
    assert done.result.parameters is not None and done.result.parameters["num_layers"] == 3
    models = client.models().models
    assert [m.id for m in models] == [MODEL] and models[0].engine == "gate"
    assert models[0].input_schema["required"] == ["image_url"]


def test_the_async_client_runs_a_data_uri(server: Server) -> None:
    uri = "data:image/png;base64," + base64.b64encode(png_bytes(design(24, seed=5))).decode()

    async def go() -> tuple[RunResult, bytes]:
        async with AsyncClient(server.url, token=server.key) as client:
            done = await client.run(uri, num_layers=2, seed=7, poll_interval=0.05)
            return done, await client.download(done.images[0])

    done, first = asyncio.run(go())
    assert done.result.seed == 7 and len(done.images) == 2
    assert first[:4] == b"\x89PNG"


def _samples(server: Server) -> dict[tuple[str, str], float]:
    """``{(sample name, state label): value}`` of one ``/metrics`` scrape."""
    text = httpx.get(server.url + "/metrics", headers=server.auth()).text
    return {
        (sample.name, sample.labels.get("state", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels.get("le")
    }


def test_metrics_report_workers_durations_by_state_and_queue_waits(
    server: Server, image_host: ImageHost
) -> None:
    client = server.client()
    url = image_host.add("/metrics.png", png_bytes(design(16, seed=6)))
    before = _samples(server)
    client.run(url, num_layers=1, poll_interval=0.05)
    failed = client.submit(url, prompt="fail:on purpose").request_id
    wait_for(server, failed, {"failed"})
    held = client.submit(url, prompt="gate:metrics").request_id
    wait_for(server, held, {"in_progress"})
    busy = _samples(server)
    assert busy[("lamina_workers_alive", "")] == 1.0
    assert busy[("lamina_workers_busy", "")] == 1.0
    cancelled = client.submit(url).request_id
    assert client.cancel(cancelled).outcome == "cancelled"
    server.open_gate("metrics")
    wait_for(server, held, {"completed"})
    after = _samples(server)

    def grew(name: str, state: str = "") -> float:
        return after[(name, state)] - before.get((name, state), 0.0)

    assert after[("lamina_workers_busy", "")] == 0.0
    for state, jobs in (("completed", 2), ("failed", 1), ("cancelled", 1)):
        assert grew("lamina_job_duration_seconds_count", state) == jobs, state
        assert grew("lamina_job_duration_seconds_sum", state) > 0, state
    assert grew("lamina_job_run_seconds_count", "completed") == 2
    assert grew("lamina_job_run_seconds_count", "failed") == 1
    assert ("lamina_job_run_seconds_count", "cancelled") not in after  # it never ran
    assert grew("lamina_job_queue_wait_seconds_count") == 3
    assert grew("lamina_job_queue_wait_seconds_sum") >= 0
