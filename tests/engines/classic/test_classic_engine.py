"""ClassicEngine end to end: the hard guarantees (layer count, exact composite, filled
background, transparency, odd shapes) on small generated images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from lamina.engines import Engine, get_engine
from lamina.engines.classic import ClassicEngine
from lamina.imaging.composite import composite
from lamina.types import DecomposeParams, LayerStack

RGBA = NDArray[np.uint8]
ENGINE = ClassicEngine()
DOWNSCALING = ClassicEngine(work_size=24)
"""Segments a copy smaller than the test images, exercising the full-resolution edge band."""


def decompose(image: RGBA, n: int = 4, **kw: object) -> LayerStack:
    return ENGINE.decompose(image, DecomposeParams(num_layers=n, **kw))  # type: ignore[arg-type]


def assert_reconstructs(image: RGBA, stack: LayerStack) -> None:
    """Composite equals input: MAE <= 0.5/255, max <= 3/255 (colours where alpha > 0)."""
    out = composite([layer.rgba for layer in stack.layers])
    target = image.astype(np.float64) / 255.0
    alpha_err = np.abs(out[..., 3] - target[..., 3])
    assert alpha_err.max() <= 3 / 255 + 1e-9
    assert alpha_err.mean() <= 0.5 / 255 + 1e-9
    shown = image[..., 3] > 0
    if shown.any():
        colour_err = np.abs(out[..., :3] - target[..., :3])[shown]
        assert colour_err.max() <= 3 / 255 + 1e-9
        assert colour_err.mean() <= 0.5 / 255 + 1e-9


def assert_well_formed(image: RGBA, stack: LayerStack, n: int) -> None:
    assert len(stack.layers) == n
    assert stack.engine == "classic"
    for layer in stack.layers:
        assert layer.rgba.shape == image.shape and layer.rgba.dtype == np.uint8
        visible = bool(layer.rgba[..., 3].any())
        assert layer.empty == (not visible)
        assert (layer.kind == "empty") == layer.empty
        if visible:
            assert layer.bbox is not None
        else:
            assert layer.bbox is None


def opaque(rgb: RGBA) -> RGBA:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def design(size: int = 96) -> RGBA:
    """A gradient background, a card with a caption, a circle overlapping the card."""
    ys, xs = np.mgrid[0:size, 0:size]
    bg = np.stack([40 + xs, 60 + ys // 2, np.full_like(xs, 160)], axis=2).clip(0, 255)
    img = Image.fromarray(bg.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    draw.rectangle((10, 12, 70, 60), fill=(245, 240, 225))
    draw.text((16, 28), "Hello", fill=(20, 20, 20))
    draw.ellipse((55, 45, 90, 80), fill=(220, 40, 40))
    return opaque(np.asarray(img))


def test_is_an_engine_and_registered() -> None:
    engine = get_engine("classic")
    assert isinstance(engine, ClassicEngine)
    assert isinstance(engine, Engine)
    assert engine.name == "classic"
    engine.warm_up()


def test_red_square_on_blue_fills_the_background() -> None:
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[...] = (20, 40, 200)
    rgb[20:44, 16:40] = (230, 20, 20)
    image = opaque(rgb)
    stack = decompose(image, 2)
    assert_well_formed(image, stack, 2)
    assert_reconstructs(image, stack)
    bg, fg = stack.layers[0].rgba, stack.layers[1].rgba
    assert (bg[..., 3] == 255).all()
    hole = bg[20:44, 16:40, :3].astype(int)
    assert np.abs(hole - (20, 40, 200)).max() <= 4
    assert (fg[22:42, 18:38, 3] == 255).all()
    assert (fg[22:42, 18:38, :3] == (230, 20, 20)).all()
    assert fg[:16, :, 3].max() == 0
    assert stack.layers[0].kind == "background"
    assert stack.layers[1].bbox == (16, 20, 40, 44)


def test_objects_land_on_their_own_layers_in_depth_order() -> None:
    rgb = np.zeros((80, 80, 3), np.uint8)
    rgb[...] = (250, 250, 250)
    rgb[10:50, 10:50] = (30, 120, 30)
    yy, xx = np.mgrid[0:80, 0:80]
    circle = (yy - 50) ** 2 + (xx - 50) ** 2 <= 15**2
    rgb[circle] = (200, 30, 160)
    image = opaque(rgb)
    stack = decompose(image, 3)
    assert_reconstructs(image, stack)
    square, disc = stack.layers[1].rgba, stack.layers[2].rgba
    # The circle overlaps the square, so the square continues under it.
    assert (square[12:48, 12:48, 3] == 255).all()
    assert disc[50, 50, 3] == 255 and disc[20, 20, 3] == 0
    assert np.abs(square[45, 45, :3].astype(int) - (30, 120, 30)).max() <= 4


def test_a_sticker_of_touching_parts_stays_one_layer() -> None:
    # Two stickers of a red and a blue half each: asked for three layers, each sticker is
    # one layer (the colours of the two stickers never share one).
    rgb = np.full((96, 160, 3), (235, 235, 225), np.uint8)
    for x0 in (10, 90):
        rgb[30:70, x0 : x0 + 30] = (200, 40, 40)
        rgb[30:70, x0 + 30 : x0 + 60] = (40, 60, 200)
    image = opaque(rgb)
    stack = decompose(image, 3)
    assert_reconstructs(image, stack)
    for layer in stack.layers[1:]:
        x = np.flatnonzero(layer.rgba[..., 3].max(axis=0) > 128)
        assert x.size and (x.max() < 80 or x.min() >= 80), "a layer spans both stickers"
        assert x.max() - x.min() > 50, "a sticker is split"


@pytest.mark.parametrize("n", range(1, 11))
def test_every_layer_count(n: int) -> None:
    image = design()
    stack = decompose(image, n)
    assert_well_formed(image, stack, n)
    assert_reconstructs(image, stack)
    assert (stack.layers[0].rgba[..., 3] == 255).all()


def test_one_layer_is_the_input() -> None:
    image = design()
    stack = decompose(image, 1)
    assert len(stack.layers) == 1
    assert np.array_equal(stack.layers[0].rgba, image)


@pytest.mark.parametrize("n", [2, 4, 7])
def test_downscaled_analysis_still_reconstructs(n: int) -> None:
    image = design(120)
    stack = DOWNSCALING.decompose(image, DecomposeParams(num_layers=n))
    assert_well_formed(image, stack, n)
    assert_reconstructs(image, stack)
    assert (stack.layers[0].rgba[..., 3] == 255).all()


def test_textured_background_is_inpainted_under_a_card() -> None:
    rng = np.random.default_rng(3)
    rgb = np.clip(rng.normal(120, 40, (160, 160, 3)), 0, 255).astype(np.uint8)
    rgb[40:120, 30:130] = (250, 250, 250)
    image = opaque(rgb)
    stack = DOWNSCALING.decompose(image, DecomposeParams(num_layers=2))
    assert_reconstructs(image, stack)
    bg = stack.layers[0].rgba
    assert (bg[..., 3] == 255).all()
    # The hidden part is completed from the texture, not left white.
    assert bg[60:100, 50:110, :3].mean() < 200
    assert (stack.layers[1].rgba[50:110, 40:120, 3] == 255).all()


def test_drop_shadow_goes_with_its_shape() -> None:
    size = 128
    shadow = np.zeros((size, size), np.float32)
    shadow[44:94, 44:94] = 1.0
    shadow = cv2.GaussianBlur(shadow, (0, 0), 4.0) * 0.5
    bg = np.array([230.0, 220.0, 120.0])
    rgb = bg * (1 - shadow[..., None]) + 10.0 * shadow[..., None]
    rgb[36:86, 36:86] = (40, 60, 200)
    image = opaque(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    stack = decompose(image, 2)
    assert_reconstructs(image, stack)
    layer0, layer1 = stack.layers[0].rgba, stack.layers[1].rgba
    # The background is the flat colour where the shadow fell ...
    assert np.abs(layer0[90, 90, :3].astype(int) - bg).max() <= 3
    # ... and the shadow is part of the shape's layer.
    assert layer1[90, 90, 3] > 40 and layer1[90, 90, :3].max() < 80


def test_feathered_edge_fades_out_with_its_element() -> None:
    size = 256
    disc = np.zeros((size, size), np.float32)
    cv2.circle(disc, (128, 128), 60, 1.0, -1)
    truth = cv2.GaussianBlur(disc, (0, 0), 2.0)
    bg, fg = np.array([200.0, 190.0, 90.0]), np.array([30.0, 80.0, 160.0])
    rgb = bg * (1 - truth[..., None]) + fg * truth[..., None]
    image = opaque(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    stack = decompose(image, 2)
    assert_reconstructs(image, stack)
    alpha = stack.layers[1].rgba[..., 3].astype(np.float64) / 255.0
    outer = np.hypot(*np.mgrid[0:size, 0:size] - 128.0) > 61
    # Outside the outline the layer fades like the truth, down to the faint tail ...
    fringe = outer & (truth > 0.02)
    assert np.median(np.abs(alpha[fringe] - truth[fringe])) < 0.05
    tail = outer & (truth * 255 >= 1) & (truth < 0.02)
    assert (alpha[tail] > 0).mean() > 0.8
    # ... in the element's colour, and the background under it is the flat colour.
    faint = tail & (alpha > 0)
    assert np.abs(stack.layers[1].rgba[faint][:, :3] - fg).mean() < 40
    assert np.abs(stack.layers[0].rgba[outer][:, :3] - bg).max() <= 3


def test_thin_strokes_get_soft_edges() -> None:
    size = 128
    ys, xs = np.mgrid[0:size, 0:size]
    bg = np.stack([60 + xs, 120 + ys // 2, np.full_like(xs, 90)], axis=2).astype(np.float64)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).text((8, 40), "Tilt", fill=255, font=ImageFont.load_default(size=40))
    truth = np.asarray(mask)
    a = truth[..., None] / 255.0
    rgb = np.rint(bg * (1 - a) + np.array([250, 240, 40]) * a)
    image = opaque(np.clip(rgb, 0, 255).astype(np.uint8))
    stack = decompose(image, 2)
    assert_reconstructs(image, stack)
    alpha = stack.layers[1].rgba[..., 3].astype(int)
    edge = (truth > 40) & (truth < 215)
    # The letters' anti-aliased edges are unblended, not cut to 0 or 255.
    assert np.median(np.abs(alpha[edge] - truth[edge])) <= 30
    assert ((alpha > 0) & (alpha < 255))[edge].mean() > 0.5


def test_deterministic() -> None:
    image = design()
    a = decompose(image, 5, seed=7)
    b = ClassicEngine().decompose(image, DecomposeParams(num_layers=5, seed=7))
    for x, y in zip(a.layers, b.layers, strict=True):
        assert np.array_equal(x.rgba, y.rgba)
        assert (x.name, x.kind, x.bbox) == (y.name, y.kind, y.bbox)


def test_rgba_input_keeps_transparency_and_decomposes_again() -> None:
    image = np.zeros((72, 72, 4), np.uint8)
    yy, xx = np.mgrid[0:72, 0:72]
    card = (np.abs(yy - 36) < 24) & (np.abs(xx - 36) < 30)
    image[card] = (240, 200, 60, 255)
    image[30:42, 20:52] = (20, 20, 120, 255)
    edge = card & ((np.abs(yy - 36) == 23) | (np.abs(xx - 36) == 29))
    image[edge, 3] = 128
    stack = decompose(image, 3)
    assert_well_formed(image, stack, 3)
    assert_reconstructs(image, stack)
    assert stack.layers[0].rgba[0, 0, 3] == 0
    # An output layer goes back in (recursive decomposition).
    again = decompose(stack.layers[1].rgba, 2)
    assert_reconstructs(stack.layers[1].rgba, again)


def test_fully_transparent_image() -> None:
    image = np.zeros((20, 30, 4), np.uint8)
    stack = decompose(image, 3)
    assert_well_formed(image, stack, 3)
    assert all(layer.empty for layer in stack.layers)
    assert_reconstructs(image, stack)


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (17, 1), (3, 4000), (4000, 3), (2, 2)])
def test_tiny_and_extreme_shapes(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    rgb[:, : shape[1] // 2] = (10, 200, 90)
    image = opaque(rgb)
    for n in (1, 3):
        stack = decompose(image, n)
        assert_well_formed(image, stack, n)
        assert_reconstructs(image, stack)
        assert (stack.layers[0].rgba[..., 3] == 255).all()


def test_notes_and_timings() -> None:
    stack = decompose(design(), 3, prompt="a poster", guidance_scale=7.0)
    assert "classic engine ignores prompt" in stack.notes
    assert "classic engine ignores guidance_scale" in stack.notes
    assert "classic engine ignores num_inference_steps" not in stack.notes
    assert {"analyse", "render", "reconstruct", "total"} <= set(stack.timings)
    assert all(v >= 0 for v in stack.timings.values())
    assert decompose(design(), 3).notes == []


def test_progress_is_monotonic_and_names_the_stages() -> None:
    calls: list[tuple[float, str | None]] = []

    def progress(fraction: float, stage: str | None = None, /) -> None:
        calls.append((fraction, stage))

    ENGINE.decompose(design(), DecomposeParams(num_layers=4), progress=progress)
    seen = [fraction for fraction, _ in calls]
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen) and all(0 <= f <= 1 for f in seen)
    assert [stage for _, stage in calls if stage] == ["segment", "peel"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((4, 4, 3), np.uint8), "H x W x 4"),
        (np.zeros((4, 4, 4), np.float32), "uint8"),
        (np.zeros((0, 4, 4), np.uint8), "at least one pixel"),
        ([[1, 2]], "numpy array"),
    ],
)
def test_rejects_bad_images(bad: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ENGINE.decompose(bad, DecomposeParams())  # type: ignore[arg-type]


def test_input_not_modified() -> None:
    image = design()
    before = image.copy()
    decompose(image, 4)
    assert np.array_equal(image, before)


@st.composite
def stacks(draw: st.DrawFn) -> RGBA:
    """Random rectangles and ellipses of random colours and alphas over a background."""
    h = draw(st.integers(8, 48))
    w = draw(st.integers(8, 48))
    colour = st.tuples(*[st.integers(0, 255)] * 3)
    base = Image.new("RGBA", (w, h), (*draw(colour), 255))
    for _ in range(draw(st.integers(0, 4))):
        layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        x0, x1 = sorted(draw(st.tuples(st.integers(0, w), st.integers(0, w))))
        y0, y1 = sorted(draw(st.tuples(st.integers(0, h), st.integers(0, h))))
        fill = (*draw(colour), draw(st.integers(1, 255)))
        shape = ImageDraw.Draw(layer)
        if draw(st.booleans()):
            shape.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            shape.ellipse((x0, y0, x1, y1), fill=fill)
        base = Image.alpha_composite(base, layer)
    image = np.array(base)
    if draw(st.booleans()):
        image[..., 3] = np.where(
            np.arange(w)[None, :] < draw(st.integers(0, w)), image[..., 3], 0
        ).astype(np.uint8)
    return image


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(image=stacks(), n=st.integers(1, 6), small=st.booleans())
def test_random_stacks_composite_back(image: RGBA, n: int, small: bool) -> None:
    engine = DOWNSCALING if small else ENGINE
    stack = engine.decompose(image, DecomposeParams(num_layers=n))
    assert_well_formed(image, stack, n)
    assert_reconstructs(image, stack)
    if (image[..., 3] == 255).all():
        assert (stack.layers[0].rgba[..., 3] == 255).all()


@pytest.mark.parametrize("photo", ["astronaut", "coffee", "chelsea"])
def test_one_object_on_a_photo_leaves_layer_0_whole_and_clean(photo: str) -> None:
    """A sticker (three colours, an outline) on a real photo: layer 0 keeps no part of it
    (what it covered is filled from the photo) and one layer holds all of it."""
    from skimage import data

    rgb = getattr(data, photo)()[:, :, :3]
    h, w = rgb.shape[:2]
    image = opaque(np.ascontiguousarray(rgb))
    cy, cx, r = h // 3, w // 3, min(h, w) // 6
    cv2.circle(image, (cx, cy), r, (250, 200, 30, 255), -1)
    cv2.circle(image, (cx, cy), r // 2, (30, 60, 200, 255), -1)
    cv2.circle(image, (cx, cy), r, (20, 20, 20, 255), 4)
    inner = np.zeros((h, w), np.uint8)
    cv2.circle(inner, (cx, cy), r - 4, 1, -1)
    core = inner.astype(bool)
    for n in (2, 3):
        stack = decompose(image, n)
        assert_reconstructs(image, stack)
        background = stack.layers[0].rgba[..., :3].astype(int)
        left = np.abs(background - image[..., :3].astype(int)).sum(axis=2) < 30
        assert left[core].mean() < 0.02, "layer 0 still shows the object"
        cover = [float((layer.rgba[..., 3][core] > 200).mean()) for layer in stack.layers[1:]]
        assert max(cover) > 0.98, f"the object is split across layers: {cover}"
