"""The unmodified ``fal-client`` package from PyPI, its queue URL pointed at a real
``lamina serve``'s ``/fal/`` facade: submit, status with logs, result, cancel, errors."""

from __future__ import annotations

import io

import fal_client
import httpx
import numpy as np
import pytest
from fal_client import client as fal_module
from PIL import Image
from tests.support.inputs import ImageHost, design, png_bytes
from tests.support.server import Server, wait_for

from lamina.imaging.composite import composite_uint8

APP = "fal-ai/qwen-image-layered"


@pytest.fixture
def fal(server: Server, monkeypatch: pytest.MonkeyPatch) -> fal_client.SyncClient:
    """fal's client with its queue URL (the one thing it lets a user point elsewhere) at
    the server."""
    monkeypatch.setattr(fal_module, "QUEUE_URL_FORMAT", server.url + "/fal/")
    return fal_client.SyncClient(key=server.key)


def test_fal_client_runs_a_decomposition_end_to_end(
    fal: fal_client.SyncClient, image_host: ImageHost
) -> None:
    image = design(40, seed=11)
    url = image_host.add("/fal.png", png_bytes(image))
    updates: list[object] = []
    output = fal.subscribe(
        APP,
        arguments={"image_url": url, "num_layers": 3},
        with_logs=True,
        on_queue_update=updates.append,
        interval=0.05,
    )
    assert updates and isinstance(updates[-1], fal_client.Completed)
    assert updates[-1].error is None
    images = output["images"]
    assert [i["file_name"] for i in images] == [f"layer_{n:02d}.png" for n in range(3)]
    assert all(i["content_type"] == "image/png" and i["width"] == 40 for i in images)
    layers = [
        np.asarray(Image.open(io.BytesIO(httpx.get(i["url"], timeout=10).content)).convert("RGBA"))
        for i in images
    ]
    assert np.abs(composite_uint8(layers).astype(int) - image.astype(int)).max() <= 2
    assert output["seed"] == 0


def test_fal_status_logs_cancel_and_errors(
    fal: fal_client.SyncClient, server: Server, image_host: ImageHost
) -> None:
    url = image_host.add("/fal-gate.png", png_bytes(design(16, seed=12)))
    handle = fal.submit(APP, arguments={"image_url": url, "prompt": "gate:fal"})
    wait_for(server, handle.request_id, {"in_progress"})
    messages: list[str] = []
    while "decompose: 50%" not in messages:  # the gate engine holds the job at 50%
        status = handle.status(with_logs=True)
        assert isinstance(status, fal_client.InProgress), (status, messages)
        messages += [log["message"] for log in status.logs or []]
    assert set(messages) <= {"decode: 0%", "decompose: 50%"}, messages
    early = handle.client.get(handle.response_url)  # the output before the end: fal's 400
    assert (early.status_code, early.json()) == (400, {"detail": "Request is still in progress"})
    handle.cancel()
    wait_for(server, handle.request_id, {"cancelled"})
    done = handle.status()
    assert isinstance(done, fal_client.Completed) and done.error_type == "request_cancelled"
    handle.cancel()  # again: still cancelled, as lamina's cancel answers

    failing = fal.submit(APP, arguments={"image_url": url, "prompt": "fail:no layers here"})
    with pytest.raises(fal_client.client.FalClientHTTPError) as failed:
        failing.get()
    assert (failed.value.status_code, failed.value.message) == (400, "no layers here")
    with pytest.raises(fal_client.client.FalClientHTTPError) as finished:
        failing.cancel()
    assert finished.value.status_code == 400
    assert finished.value.response.json() == {"status": "ALREADY_COMPLETED"}

    with pytest.raises(fal_client.client.FalClientHTTPError) as invalid:
        fal.submit(APP, arguments={"image_url": url, "num_layers": 11})
    assert invalid.value.status_code == 422
    with pytest.raises(fal_client.client.FalClientHTTPError) as unknown:
        fal_client.SyncClient(key="lam_nope").submit(APP, arguments={"image_url": url})
    assert unknown.value.status_code == 401
