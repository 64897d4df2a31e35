"""``lamina serve --engine qwen --model DIR``: one request through the real server and worker."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from lamina.client import Client
from lamina.types import LayerStack

KEY_LINE = re.compile(r"API key: (lam_\S+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def qwen_server(tiny_model: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``(url, api key)`` of a running ``lamina serve`` with one qwen worker on CPU."""
    port = _free_port()
    log = tmp_path / "serve.log"
    args = [sys.executable, "-m", "lamina.cli", "serve", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--data-dir", str(tmp_path / "data"), "--workers", "1"]
    args += ["--engine", "qwen", "--model", str(tiny_model), "--device", "cpu"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env["HF_HUB_OFFLINE"] = "1"
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        found = KEY_LINE.search(log.read_text())
        assert found, log.read_text()
        yield url, found.group(1)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)


def test_a_request_through_the_server_gives_the_engines_layers(
    qwen_server: tuple[str, str],
    design: NDArray[np.uint8],
    reference_stack: LayerStack,
    tmp_path: Path,
) -> None:
    url, key = qwen_server
    buf = io.BytesIO()
    Image.fromarray(design, "RGBA").save(buf, format="PNG")
    with Client(url, token=key, timeout=30.0) as client:
        uploaded = client.upload(buf.getvalue(), filename="design.png")
        done = client.run(
            uploaded.url,
            num_layers=reference_stack.params.num_layers,
            num_inference_steps=reference_stack.params.num_inference_steps,
            seed=reference_stack.params.seed,
            prompt=reference_stack.params.prompt,
            download_to=tmp_path / "layers",
            poll_interval=0.2,
            timeout=240,
        )
    assert [p.name for p in done.files] == ["layer_00.png", "layer_01.png", "layers.json"]
    for path, layer in zip(done.files[:2], reference_stack.layers, strict=True):
        with Image.open(path) as written:
            assert written.mode == "RGBA"
            assert written.size == (96, 64)
            np.testing.assert_array_equal(np.asarray(written), layer.rgba)
