"""ZIP, PSD and PPTX exports, each read back with the library a user's tools rely on."""

from __future__ import annotations

import io
import json
import zipfile

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


def test_psd_reads_back_with_names_order_pixels_and_composite() -> None:
    stack = _stack()
    data = to_psd(stack)
    assert data[:4] == b"8BPS"
    psd = PSDImage.open(io.BytesIO(data))
    assert psd.size == (40, 30)
    layers = list(psd)
    assert [layer.name for layer in layers] == [layer.name for layer in stack.layers]
    assert [layer.kind for layer in layers] == ["pixel"] * 4
    assert [layer.visible for layer in layers] == [True, True, False, True]
    for psd_layer, layer in zip(layers, stack.layers, strict=True):
        assert psd_layer.offset == (0, 0) and psd_layer.size == (40, 30)
        assert not psd_layer.has_mask()  # alpha is the transparency channel, not a mask
        assert -1 in [info.id for info in psd_layer._record.channel_info]
        pixels = psd_layer.topil()
        assert pixels is not None and pixels.mode == "RGBA"
        assert _visible_equal(np.asarray(pixels), layer.rgba)
    expected = composite_uint8([layer.rgba for layer in stack.layers])
    merged = np.asarray(psd.composite().convert("RGBA")).astype(int)
    assert np.abs(merged - expected.astype(int)).max() <= 1


def test_psd_stays_small_thanks_to_rle() -> None:
    flat = _stack(400, 300)
    flat.layers[0].rgba[..., :3] = 90  # large uniform runs, as in flat designs
    raw = 400 * 300 * 4 * 4
    assert len(to_psd(flat)) < raw / 4


def test_pptx_has_one_slide_with_every_layer_in_order() -> None:
    stack = _stack(960, 480)
    deck = Presentation(io.BytesIO(to_pptx(stack)))
    assert (deck.slide_width, deck.slide_height) == (10 * INCH, 5 * INCH)
    assert len(deck.slides) == 1
    pictures = [shape for shape in deck.slides[0].shapes if shape.shape_type == 13]
    assert [p.name for p in pictures] == [layer.name for layer in stack.layers]
    assert list(deck.slides[0].shapes) == pictures  # no title boxes or other shapes
    for picture, layer in zip(pictures, stack.layers, strict=True):
        assert (picture.left, picture.top) == (0, 0)
        assert (picture.width, picture.height) == (10 * INCH, 5 * INCH)
        assert picture.image.content_type == "image/png"
        assert np.array_equal(decode_image(picture.image.blob).rgba, layer.rgba)


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
    encoded = [
        encode_image(
            layer.rgba,
            "png",
        )
        for layer in stack.layers
    ]
    with zipfile.ZipFile(io.BytesIO(to_zip(stack, encoded=encoded))) as zf:
        assert [zf.read(f"layer_0{i}.png") for i in range(4)] == encoded
    deck = Presentation(io.BytesIO(export_bytes(stack, "pptx", encoded=encoded)))
    assert [shape.image.blob for shape in deck.slides[0].shapes] == encoded
    with pytest.raises(ValueError, match="3 encoded files for 4 layers"):
        to_zip(stack, encoded=encoded[:3])


def test_pptx_of_a_webp_stack_still_embeds_png() -> None:
    stack = _stack(fmt="webp")
    webp = [encode_image(layer.rgba, "webp") for layer in stack.layers]
    deck = Presentation(io.BytesIO(to_pptx(stack, encoded=webp)))
    assert {shape.image.content_type for shape in deck.slides[0].shapes} == {"image/png"}


def test_psd_reads_back_with_a_second_reader_pillow() -> None:
    """Pillow checks the structure and merged preview (it cannot read layer alpha of RGB PSDs)."""
    stack = _stack()
    stack.layers[0].rgba[:6, :9, 3] = 0  # a hole through every layer
    with Image.open(io.BytesIO(to_psd(stack))) as psd:
        assert (psd.format, psd.size) == ("PSD", (40, 30))
        assert [entry[0] for entry in psd.layers] == [layer.name for layer in stack.layers]
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
