"""ZIP, PSD and PPTX exports, each read back with the library a user's tools rely on."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from pptx import Presentation
from psd_tools import PSDImage

from lamina.errors import ImageTooLarge
from lamina.imaging.codec import decode_image, encode_image
from lamina.imaging.composite import composite_uint8
from lamina.imaging.exports import (
    EXPORT_KINDS,
    export_bytes,
    export_names,
    manifest,
    slide_geometry,
    to_pptx,
    to_psd,
    to_zip,
)
from lamina.types import DecomposeParams, Layer, LayerStack, alpha_bbox

INCH = 914_400


def _stack(width: int = 40, height: int = 30, fmt: str = "png") -> LayerStack:
    """Opaque background, a half-transparent square, an empty layer and an opaque bar on top."""
    rng = np.random.default_rng(3)
    background = np.empty((height, width, 4), dtype=np.uint8)
    background[..., :3] = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    background[..., 3] = 255
    square = np.zeros_like(background)
    square[5:15, 8:20] = (0, 200, 50, 128)
    empty = np.zeros_like(background)
    bar = np.zeros_like(background)
    bar[20:25, :] = (250, 240, 10, 255)
    arrays = [background, square, empty, bar]
    names = ["background", "green square", "nothing", "yellow bar"]
    layers = [
        Layer(rgba=a, name=n, kind="element", bbox=alpha_bbox(a[..., 3]), empty=not a[..., 3].any())
        for a, n in zip(arrays, names, strict=True)
    ]
    params = DecomposeParams(num_layers=4, output_format=fmt)  # type: ignore[arg-type]
    return LayerStack(layers=layers, engine="test", params=params, timings={"total": 0.5})


def _visible_equal(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> bool:
    """Equal where visible; fully transparent pixels may carry any colour."""
    return bool(
        np.array_equal(a[..., 3], b[..., 3]) and np.array_equal(a[a[..., 3] > 0], b[b[..., 3] > 0])
    )


def _over_white(stack: LayerStack) -> NDArray[np.int64]:
    white = np.full_like(stack.layers[0].rgba, 255)
    return composite_uint8([white, *(layer.rgba for layer in stack.layers)])[..., :3].astype(int)


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_zip_holds_layer_files_and_manifest(fmt: str) -> None:
    stack = _stack(fmt=fmt)
    with zipfile.ZipFile(io.BytesIO(to_zip(stack))) as zf:
        names = zf.namelist()
        assert names == [f"layer_0{i}.{fmt}" for i in range(4)] + ["layers.json"]
        assert zf.testzip() is None
        for i, layer in enumerate(stack.layers):
            decoded = decode_image(zf.read(names[i]))
            assert decoded.format == fmt.upper()
            assert _visible_equal(decoded.rgba, layer.rgba)
        body = json.loads(zf.read("layers.json"))
    assert body == json.loads(json.dumps(manifest(stack)))
    assert [entry["file"] for entry in body["layers"]] == names[:4]
    assert body["layers"][2]["empty"] is True and body["layers"][2]["bbox"] is None
    assert body["layers"][1]["bbox"] == [8, 5, 20, 15]


def _placed(
    pieces: list[tuple[int, int, NDArray[np.uint8]]], size: tuple[int, int]
) -> NDArray[np.uint8]:
    """Back to front ``(left, top, rgba)`` pieces pasted onto transparent canvases, composited."""
    width, height = size
    canvases = []
    for left, top, rgba in pieces:
        canvas = np.zeros((height, width, 4), dtype=np.uint8)
        canvas[top : top + rgba.shape[0], left : left + rgba.shape[1]] = rgba
        canvases.append(canvas)
    return composite_uint8(canvases)


def test_export_names_come_from_the_kinds() -> None:
    stack = _stack()
    for layer, kind in zip(stack.layers, ["background", "text", "empty", "text"], strict=True):
        layer.kind = kind  # type: ignore[assignment]
    assert export_names(stack) == ["background", "text 1", "empty", "text 2"]
    stack.layers[1].kind = "shape"
    assert export_names(stack) == ["background", "shape 1", "empty", "text 1"]


def test_psd_layers_are_cropped_to_their_boxes_at_their_positions() -> None:
    stack = _stack()
    data = to_psd(stack)
    assert data[:4] == b"8BPS"
    psd = PSDImage.open(io.BytesIO(data))
    assert psd.size == (40, 30)
    layers = list(psd)
    assert [layer.name for layer in layers] == export_names(stack)
    assert [layer.kind for layer in layers] == ["pixel"] * 4
    assert [layer.visible for layer in layers] == [True, True, False, True]
    assert [(layer.offset, layer.size) for layer in layers] == [
        ((0, 0), (40, 30)),  # the opaque background covers the canvas
        ((8, 5), (12, 10)),  # the square's box
        ((0, 0), (1, 1)),  # an empty layer: one transparent pixel
        ((0, 20), (40, 5)),  # the bar
    ]
    pieces = []
    for psd_layer, layer in zip(layers, stack.layers, strict=True):
        assert not psd_layer.has_mask()  # alpha is the transparency channel, not a mask
        assert -1 in [info.id for info in psd_layer._record.channel_info]
        pixels = psd_layer.topil()
        assert pixels is not None and pixels.mode == "RGBA"
        left, top = psd_layer.offset
        pieces.append((left, top, np.asarray(pixels)))
        if layer.bbox is not None:
            x0, y0, x1, y1 = layer.bbox
            assert _visible_equal(np.asarray(pixels), layer.rgba[y0:y1, x0:x1])
    expected = composite_uint8([layer.rgba for layer in stack.layers])
    assert np.array_equal(_placed(pieces, psd.size), expected)
    merged = np.asarray(psd.composite().convert("RGBA")).astype(int)
    assert np.abs(merged - expected.astype(int)).max() <= 1


def test_psd_stays_small_thanks_to_rle() -> None:
    flat = _stack(400, 300)
    flat.layers[0].rgba[..., :3] = 90  # large uniform runs, as in flat designs
    raw = 400 * 300 * 4 * 4
    assert len(to_psd(flat)) < raw / 4


def test_pptx_pictures_are_cropped_to_their_boxes_at_their_positions() -> None:
    stack = _stack(960, 480)
    stack.layers[1].rgba[100:300, 500:700] = (0, 0, 255, 255)  # the square's layer gets a far part
    stack.layers[1].bbox = alpha_bbox(stack.layers[1].rgba[..., 3])
    deck = Presentation(io.BytesIO(to_pptx(stack)))
    assert (deck.slide_width, deck.slide_height) == (10 * INCH, 5 * INCH)
    assert len(deck.slides) == 1
    pictures = [shape for shape in deck.slides[0].shapes if shape.shape_type == 13]
    assert [p.name for p in pictures] == export_names(stack)
    assert list(deck.slides[0].shapes) == pictures  # no title boxes or other shapes
    emu = 914_400 // 96  # 960 px on a 10 inch slide: one pixel is 9525 EMU
    boxes = [(p.left, p.top, p.width, p.height) for p in pictures]
    assert boxes == [
        (0, 0, 960 * emu, 480 * emu),
        (8 * emu, 5 * emu, 692 * emu, 295 * emu),
        (0, 0, emu, emu),
        (0, 20 * emu, 960 * emu, 5 * emu),
    ]
    assert [p._element.nvPicPr.cNvPr.get("hidden") for p in pictures] == [None, None, "1", None]
    pieces = []
    for picture in pictures:
        assert picture.image.content_type == "image/png"
        rgba = decode_image(picture.image.blob).rgba
        assert rgba.shape[:2] == (picture.height // emu, picture.width // emu)
        pieces.append((picture.left // emu, picture.top // emu, rgba))
    expected = composite_uint8([layer.rgba for layer in stack.layers])
    assert np.array_equal(_placed(pieces, stack.size), expected)


def test_pptx_pictures_tile_without_gaps_when_the_slide_is_scaled() -> None:
    """7000 px is scaled to 56 inches: edges are rounded from pixel edges, so abutting
    layers stay abutting."""
    rgba = np.zeros((10, 7000, 4), dtype=np.uint8)
    left, right = rgba.copy(), rgba.copy()
    left[:, :3333] = 255
    right[:, 3333:] = 255
    layers = [
        Layer(rgba=a, name=n, kind="shape", bbox=alpha_bbox(a[..., 3]))
        for a, n in ((left, "l"), (right, "r"))
    ]
    stack = LayerStack(layers=layers, engine="test", params=DecomposeParams(num_layers=2))
    a, b = Presentation(io.BytesIO(to_pptx(stack))).slides[0].shapes
    assert a.left == 0 and a.left + a.width == b.left and b.left + b.width == 56 * INCH


@pytest.mark.parametrize(
    ("size", "slide", "picture"),
    [
        ((960, 480), (10 * INCH, 5 * INCH), (10 * INCH, 5 * INCH)),
        # 7000 px = 72.9 in: scaled down to 56 in, aspect kept
        ((7000, 3500), (56 * INCH, 28 * INCH), (56 * INCH, 28 * INCH)),
        # 1x1 px is under PowerPoint's 1 inch minimum: scaled up
        ((1, 1), (INCH, INCH), (INCH, INCH)),
        # 48x96 px = 0.5 x 1 in: scaled up to 1 x 2 in
        ((48, 96), (INCH, 2 * INCH), (INCH, 2 * INCH)),
    ],
)
def test_slide_geometry_respects_powerpoint_limits(
    size: tuple[int, int], slide: tuple[int, int], picture: tuple[int, int]
) -> None:
    slide_w, slide_h, left, top, pic_w, pic_h = slide_geometry(*size)
    assert (slide_w, slide_h) == slide
    assert (pic_w, pic_h) == picture
    assert (left, top) == ((slide_w - pic_w) // 2, (slide_h - pic_h) // 2)


def test_slide_geometry_for_extreme_aspect_centres_the_picture() -> None:
    slide_w, slide_h, left, top, pic_w, pic_h = slide_geometry(1, 5000)
    assert slide_h == pic_h <= 56 * INCH and slide_w == INCH
    assert pic_w < INCH and left == (INCH - pic_w) // 2 and top == 0
    assert abs(pic_h / pic_w - 5000) < 5000 * 0.01


def test_pptx_for_a_tall_strip_opens() -> None:
    rgba = np.full((5000, 1, 4), 255, dtype=np.uint8)
    stack = LayerStack(
        layers=[Layer(rgba=rgba, name="strip", kind="background")],
        engine="test",
        params=DecomposeParams(num_layers=1),
    )
    deck = Presentation(io.BytesIO(to_pptx(stack)))
    assert deck.slide_width == INCH
    assert deck.slide_height is not None and deck.slide_height <= 56 * INCH


def test_export_bytes_dispatches_and_rejects_unknown_kinds() -> None:
    stack = _stack()
    signatures = {"zip": b"PK", "psd": b"8B", "pptx": b"PK"}
    for kind in EXPORT_KINDS:
        assert export_bytes(stack, kind)[:2] == signatures[kind]
    with pytest.raises(ValueError, match="unknown export 'tiff'"):
        export_bytes(stack, "tiff")  # type: ignore[arg-type]


def test_exports_do_not_modify_the_stack() -> None:
    stack = _stack()
    before = [layer.rgba.copy() for layer in stack.layers]
    for kind in EXPORT_KINDS:
        export_bytes(stack, kind)
    assert all(np.array_equal(a, layer.rgba) for a, layer in zip(before, stack.layers, strict=True))


def test_pre_encoded_layer_files_are_reused_and_checked() -> None:
    stack = _stack()
    encoded = [encode_image(layer.rgba, "png") for layer in stack.layers]
    with zipfile.ZipFile(io.BytesIO(to_zip(stack, encoded=encoded))) as zf:
        assert [zf.read(f"layer_0{i}.png") for i in range(4)] == encoded
    deck = Presentation(io.BytesIO(export_bytes(stack, "pptx", encoded=encoded)))
    blobs = [shape.image.blob for shape in deck.slides[0].shapes]
    assert blobs[0] == encoded[0]  # the canvas-sized background is reused ...
    assert blobs[3] != encoded[3]  # ... the cropped bar is not
    with pytest.raises(ValueError, match="3 encoded files for 4 layers"):
        to_zip(stack, encoded=encoded[:3])


def test_pptx_of_a_webp_stack_still_embeds_png() -> None:
    stack = _stack(fmt="webp")
    deck = Presentation(io.BytesIO(to_pptx(stack)))
    assert {shape.image.content_type for shape in deck.slides[0].shapes} == {"image/png"}


def test_psd_reads_back_with_a_second_reader_pillow() -> None:
    """Pillow checks the structure and merged preview (it cannot read layer alpha of RGB PSDs)."""
    stack = _stack()
    stack.layers[0].rgba[:6, :9, 3] = 0  # a hole through every layer
    with Image.open(io.BytesIO(to_psd(stack))) as psd:
        assert (psd.format, psd.size) == ("PSD", (40, 30))
        assert [entry[0] for entry in psd.layers] == export_names(stack)
        assert psd.mode == "RGB"  # the merged preview, composited over white ...
        merged = np.asarray(psd).astype(int)
        alpha = composite_uint8([layer.rgba for layer in stack.layers])[..., 3]
        solid = (alpha == 0) | (alpha == 255)  # ... except that psd-tools leaves
        assert np.abs(merged - _over_white(stack))[solid].max() <= 1  # translucent ones unmatted
        assert solid.mean() > 0.95


def test_psd_wider_than_30000_px_is_refused_clearly() -> None:
    rgba = np.zeros((2, 30_001, 4), dtype=np.uint8)
    stack = LayerStack(
        layers=[Layer(rgba=rgba, name="strip", kind="element")],
        engine="test",
        params=DecomposeParams(num_layers=1),
    )
    with pytest.raises(ImageTooLarge, match="at most 30000 px per side; this image is 30001x2"):
        to_psd(stack)
    assert to_zip(stack)[:2] == b"PK"  # the other exports still work


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_pptx_renders_in_libreoffice_as_the_composite(tmp_path: Path) -> None:
    """LibreOffice Impress draws the slide: each cropped picture lands where its layer was."""
    height, width = 240, 320
    background = np.zeros((height, width, 4), dtype=np.uint8)
    background[...] = (240, 230, 200, 255)
    red, blue = np.zeros_like(background), np.zeros_like(background)
    red[40:120, 30:150] = (200, 30, 30, 255)
    blue[100:200, 120:280] = (20, 60, 200, 255)
    arrays = [background, red, np.zeros_like(background), blue]
    layers = [
        Layer(rgba=a, name="x", kind="shape", bbox=alpha_bbox(a[..., 3]), empty=not a.any())
        for a in arrays
    ]
    stack = LayerStack(layers=layers, engine="test", params=DecomposeParams(num_layers=4))
    (tmp_path / "deck.pptx").write_bytes(to_pptx(stack))
    subprocess.run(
        [
            str(SOFFICE),
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            "png",
            "--outdir",
            str(tmp_path),
            str(tmp_path / "deck.pptx"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with Image.open(tmp_path / "deck.png") as rendered:
        drawn = np.asarray(rendered.convert("RGB").resize((width, height))).astype(int)
    expected = composite_uint8(arrays)[..., :3].astype(int)
    diff = np.abs(drawn - expected).max(axis=2)
    assert (diff > 40).mean() < 0.02  # only anti-aliased edges may differ
