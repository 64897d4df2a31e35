"""``Client.run`` / ``AsyncClient.run`` with local inputs (path, bytes, PIL image) against a
real ``lamina serve``, and what ``download_to`` writes."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pptx import Presentation
from psd_tools import PSDImage
from tests.support.inputs import design, png_bytes
from tests.support.server import Server

from lamina.client import AsyncClient, ExportUnavailable, ResultResponse, RunResult
from lamina.client._base import download_plan
from lamina.imaging.composite import composite_uint8

LAYERS = ["layer_00.png", "layer_01.png"]


def _reassembles(files: list[Path], image: np.ndarray) -> None:
    layers = [np.asarray(Image.open(p)) for p in files if p.name.startswith("layer_")]
    assert np.abs(composite_uint8(layers).astype(int) - image.astype(int)).max() <= 3


def test_run_uploads_a_path_and_writes_layers_manifest_and_exports(
    server: Server, tmp_path: Path
) -> None:
    image = design(32, seed=21)
    source = tmp_path / "poster.png"
    source.write_bytes(png_bytes(image))
    out = tmp_path / "out"
    done = server.client().run(
        str(source), num_layers=2, download_to=out, exports=["pptx", "psd", "zip", "psd"]
    )
    names = [*LAYERS, "layers.json", "layers.pptx", "layers.psd", "layers.zip"]
    assert [p.name for p in done.files] == names
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    _reassembles(done.files, image)
    manifest = json.loads((out / "layers.json").read_text())
    assert done.result.output is not None and done.result.output.layers is not None
    assert [e["bbox"] for e in manifest["layers"]] == [
        layer.bbox for layer in done.result.output.layers
    ]
    assert len(PSDImage.open(out / "layers.psd")) == 2
    assert len(Presentation(str(out / "layers.pptx")).slides[0].shapes) == 2
    assert (out / "layers.zip").read_bytes()[:2] == b"PK"


def test_run_takes_bytes_and_a_pil_image(server: Server, tmp_path: Path) -> None:
    client = server.client()
    image = design(24, seed=22)
    from_bytes = client.run(png_bytes(image), num_layers=2, download_to=tmp_path / "b")
    assert [p.name for p in from_bytes.files] == [*LAYERS, "layers.json"]
    _reassembles(from_bytes.files, image)
    from_pil = client.run(Image.fromarray(image, "RGBA"), num_layers=2, download_to=tmp_path / "p")
    _reassembles(from_pil.files, image)


def test_async_run_takes_a_path_object(server: Server, tmp_path: Path) -> None:
    image = design(24, seed=23)
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes(image))

    async def go() -> RunResult:
        async with AsyncClient(server.url, token=server.key) as client:
            return await client.run(source, num_layers=2, download_to=tmp_path, exports=["psd"])

    done = asyncio.run(go())
    assert [p.name for p in done.files] == [*LAYERS, "layers.json", "layers.psd"]
    _reassembles(done.files, image)


def test_a_missing_file_fails_before_anything_is_sent(server: Server, tmp_path: Path) -> None:
    client = server.client()
    with pytest.raises(FileNotFoundError, match=r"nope\.png: no such file"):
        client.run(str(tmp_path / "nope.png"))
    with pytest.raises(TypeError, match="cannot send a int"):
        client.run(42)  # type: ignore[arg-type]


def test_a_missing_export_raises_before_writing(tmp_path: Path) -> None:
    result = ResultResponse.model_validate(
        {
            "request_id": "r1",
            "status": "completed",
            "output": {"images": ["http://h/l0.png"], "exports": {"zip": "http://h/z"}},
            "notes": ["no PSD export: too large"],
        }
    )
    with pytest.raises(ExportUnavailable, match="no psd export: no PSD export: too large"):
        download_plan(result, tmp_path / "out", ["zip", "psd"])
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="unknown export 'tiff'"):
        download_plan(result, tmp_path, ["tiff"])
    plan = download_plan(result, tmp_path, ["zip"])
    assert [(url, p.name) for url, p in plan] == [
        ("http://h/l0.png", "layer_00.png"),
        ("http://h/z", "layers.zip"),
    ]


def test_a_pil_image_is_sent_as_png_with_its_alpha() -> None:
    from lamina.client._base import input_source

    rgba = np.zeros((3, 4, 4), dtype=np.uint8)
    rgba[1, 2] = (10, 20, 30, 128)
    source = input_source(Image.fromarray(rgba, "RGBA"))
    assert isinstance(source, tuple) and source[0] == "image.png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(source[1]))), rgba)
    assert input_source("data:image/png;base64,AAAA") == "data:image/png;base64,AAAA"
    assert input_source("HTTPS://example.com/a.png") == "HTTPS://example.com/a.png"
