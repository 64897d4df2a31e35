"""decompose_image and write_outputs, driven by small honest engines (tests.support.engines)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from tests.support.engines import BandEngine, BrokenEngine, WrappingEngine

from lamina.engines.base import Engine, get_engine, register_engine
from lamina.errors import EngineError, ImageTooLarge, InvalidImage
from lamina.imaging.codec import decode_image
from lamina.imaging.composite import composite_uint8
from lamina.pipeline import build_outputs, decompose_image, layer_filename, write_outputs
from lamina.types import DecomposeParams, Layer, LayerStack

register_engine("bands", "tests.support.engines:BandEngine")


def _gradient(width: int = 48, height: int = 32, *, alpha: bool = False) -> NDArray[np.uint8]:
    x = np.linspace(0, 255, width, dtype=np.float64)
    y = np.linspace(0, 255, height, dtype=np.float64)
    rgba = np.empty((height, width, 4), dtype=np.uint8)
    rgba[..., 0] = x[None, :]
    rgba[..., 1] = y[:, None]
    rgba[..., 2] = 128
    rgba[..., 3] = (x[None, :] // 2 + 127).astype(np.uint8) if alpha else 255
    return rgba


def _png(rgba: NDArray[np.uint8]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    return buf.getvalue()


def test_registered_test_engine_implements_the_protocol() -> None:
    engine = get_engine("bands")
    assert isinstance(engine, Engine)
    assert engine.name == "bands"


def test_decompose_bytes_round_trips_and_records_timings() -> None:
    rgba = _gradient(alpha=True)
    params = DecomposeParams(num_layers=3)
    seen: list[float] = []
    stack = decompose_image(_png(rgba), params, engine=BandEngine(), progress=seen.append)
    assert len(stack.layers) == 3
    assert stack.size == (48, 32)
    assert np.array_equal(composite_uint8([layer.rgba for layer in stack.layers]), rgba)
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert set(stack.timings) == {"split", "decode", "engine", "total"}
    assert stack.timings["total"] >= stack.timings["engine"] >= 0.0


def test_decompose_accepts_decoded_image_and_fills_bbox_and_empty() -> None:
    rgba = np.zeros((20, 30, 4), dtype=np.uint8)
    rgba[...] = (10, 10, 10, 255)  # dark background: band 0
    rgba[5:9, 12:20] = (250, 250, 250, 255)  # bright patch: band 2
    decoded = decode_image(_png(rgba))
    stack = decompose_image(decoded, DecomposeParams(num_layers=3), engine=BandEngine())
    assert [layer.bbox for layer in stack.layers] == [(0, 0, 30, 20), None, (12, 5, 20, 9)]
    assert [layer.empty for layer in stack.layers] == [False, True, False]


def test_decoded_image_over_the_pixel_limit_is_refused() -> None:
    decoded = decode_image(_png(_gradient(40, 40)))
    with pytest.raises(ImageTooLarge, match="1600 pixels"):
        decompose_image(decoded, DecomposeParams(), engine=BandEngine(), max_pixels=1000)


def test_bad_bytes_raise_invalid_image_before_the_engine_runs() -> None:
    def never(image: NDArray[np.uint8], params: DecomposeParams) -> LayerStack:
        raise AssertionError("engine must not run on undecodable input")

    with pytest.raises(InvalidImage):
        decompose_image(b"not an image", DecomposeParams(), engine=BrokenEngine(never))


def _layers(n: int, shape: tuple[int, ...], dtype: type = np.uint8) -> list[Layer]:
    return [
        Layer(rgba=np.zeros(shape, dtype=dtype), name=f"l{i}", kind="element") for i in range(n)
    ]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda img, p: "layers", "returned str, not a LayerStack"),
        (lambda img, p: LayerStack(_layers(2, (16, 24, 4)), "broken", p), "returned 2 layers; 4"),
        (lambda img, p: LayerStack(_layers(4, (16, 23, 4)), "broken", p), "shape"),
        (lambda img, p: LayerStack(_layers(4, (16, 24, 3)), "broken", p), "shape"),
        (
            lambda img, p: LayerStack(_layers(4, (16, 24, 4), np.float32), "broken", p),
            "not a uint8 array",
        ),
        (
            lambda img, p: LayerStack([*_layers(3, (16, 24, 4)), "x"], "broken", p),  # type: ignore[list-item]
            "layer 3 is str",
        ),
    ],
)
def test_contract_violations_become_engine_errors(answer: object, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        decompose_image(
            _png(_gradient(24, 16)), DecomposeParams(num_layers=4), engine=BrokenEngine(answer)
        )


def test_an_engine_bug_passes_through_unwrapped_and_input_is_read_only() -> None:
    def mutate(image: NDArray[np.uint8], params: DecomposeParams) -> LayerStack:
        image[0, 0] = 0
        raise AssertionError("unreachable: the input is read-only")

    # the bug's own exception, for user_message to hide and the log to keep
    with pytest.raises(ValueError, match="read-only"):
        decompose_image(_png(_gradient()), DecomposeParams(), engine=BrokenEngine(mutate))


def test_engine_errors_pass_through_unchanged() -> None:
    def refuse(image: NDArray[np.uint8], params: DecomposeParams) -> LayerStack:
        raise EngineError("nothing to separate")

    with pytest.raises(EngineError, match=r"^nothing to separate$"):
        decompose_image(_png(_gradient()), DecomposeParams(), engine=BrokenEngine(refuse))


def test_layer_filename_sorts_back_to_front() -> None:
    names = [layer_filename(i, "png") for i in range(10)]
    assert names[0] == "layer_00.png" and names[9] == "layer_09.png"
    assert sorted(names) == names
    assert layer_filename(3, "webp") == "layer_03.webp"
    with pytest.raises(ValueError):
        layer_filename(0, "jpg")
    with pytest.raises(ValueError):
        layer_filename(100, "png")


def test_write_outputs_writes_exactly_the_files_and_a_full_manifest(tmp_path: Path) -> None:
    rgba = _gradient(alpha=True)
    params = DecomposeParams(num_layers=3, seed=7, output_format="webp")
    stack = decompose_image(_png(rgba), params, engine=BandEngine())
    written = write_outputs(stack, tmp_path / "out", exports=["zip", "psd", "pptx"])
    expected = [
        "layer_00.webp",
        "layer_01.webp",
        "layer_02.webp",
        "layers.json",
        "layers.zip",
        "layers.psd",
        "layers.pptx",
    ]
    assert [p.name for p in written] == expected
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(expected)

    layers = [decode_image(p.read_bytes()) for p in written[:3]]
    assert all(d.format == "WEBP" for d in layers)
    assert np.array_equal(composite_uint8([d.rgba for d in layers]), rgba)

    body = json.loads((tmp_path / "out" / "layers.json").read_text())
    assert body["width"] == 48 and body["height"] == 32
    assert body["engine"] == "bands"
    assert body["parameters"]["seed"] == 7
    assert body["parameters"]["output_format"] == "webp"
    assert set(body["timings"]) >= {"decode", "engine", "total"}
    assert [entry["file"] for entry in body["layers"]] == expected[:3]
    assert [entry["name"] for entry in body["layers"]] == ["band 0", "band 1", "band 2"]
    assert [entry["index"] for entry in body["layers"]] == [0, 1, 2]
    assert all(len(entry["bbox"]) == 4 for entry in body["layers"])
    assert body["exports"] == {"zip": "layers.zip", "psd": "layers.psd", "pptx": "layers.pptx"}


def test_write_outputs_replaces_a_previous_run_but_keeps_foreign_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    first = decompose_image(_png(_gradient()), DecomposeParams(num_layers=5), engine=BandEngine())
    write_outputs(first, out, exports=["zip"])
    second = decompose_image(_png(_gradient()), DecomposeParams(num_layers=2), engine=BandEngine())
    write_outputs(second, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "layer_00.png",
        "layer_01.png",
        "layers.json",
        "notes.txt",
    ]
    assert (out / "notes.txt").read_text() == "mine"


def test_write_outputs_rejects_an_unknown_export_before_writing(tmp_path: Path) -> None:
    stack = decompose_image(_png(_gradient()), DecomposeParams(num_layers=2), engine=BandEngine())
    with pytest.raises(ValueError, match="unknown export 'tiff'"):
        write_outputs(stack, tmp_path / "out", exports=["tiff"])  # type: ignore[list-item]
    assert not (tmp_path / "out").exists()


def test_a_failing_export_leaves_the_folder_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    rgba = np.full((2, 30_001, 4), 200, dtype=np.uint8)
    stack = decompose_image(_png(rgba), DecomposeParams(num_layers=1), engine=BandEngine())
    with pytest.raises(ImageTooLarge, match="PSD export"):
        write_outputs(stack, out, exports=["zip", "psd"])
    assert not out.exists()


class _Stop(Exception):
    """What a job worker raises from its progress callback to stop a cancelled job."""


def test_an_exception_from_progress_reaches_the_caller_unchanged() -> None:
    def stop(fraction: float) -> None:
        raise _Stop()

    with pytest.raises(_Stop):
        decompose_image(_png(_gradient()), DecomposeParams(), engine=BandEngine(), progress=stop)


def test_an_exception_from_progress_survives_an_engine_that_wraps_it() -> None:
    def stop(fraction: float) -> None:
        raise _Stop()

    with pytest.raises(_Stop) as info:
        decompose_image(
            _png(_gradient()), DecomposeParams(), engine=WrappingEngine(), progress=stop
        )
    assert isinstance(info.value.__cause__, EngineError)


def test_one_builder_two_rules_for_an_export_that_cannot_be_made() -> None:
    stack = decompose_image(_png(_gradient()), DecomposeParams(num_layers=2), engine=BandEngine())
    # a worker makes every export it can and says why one is missing
    outputs = build_outputs(
        stack, ["zip", "psd", "pptx"], best_effort=True, psd_max_pixel_layers=100
    )
    assert list(outputs.exports) == ["zip", "pptx"]
    assert outputs.notes == [
        "no PSD export: 48x32 px x 2 layers is over this server's PSD budget of 100 pixel-layers"
    ]
    body = json.loads(outputs.manifest(stack, store=0.5).data)
    assert body["exports"] == {"zip": "layers.zip", "pptx": "layers.pptx"}
    assert body["notes"][-1] == outputs.notes[0] and body["timings"]["store"] == 0.5
    # the CLI asked for the PSD by name: it fails instead
    with pytest.raises(ImageTooLarge, match="PSD budget"):
        build_outputs(stack, ["psd"], psd_max_pixel_layers=100)
