"""Translucent overlays: found by their outlines, ordered, peeled; no false finds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lamina.engines.classic.engine import ClassicEngine
from lamina.engines.classic.overlay import box_mask, corner_radius, find_overlays, peel
from lamina.imaging.composite import composite_uint8
from lamina.types import DecomposeParams

SIZE = 256


def _photo(seed: int) -> np.ndarray:
    """A smooth, grainy, many-coloured backdrop (0..1 float RGB)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.15, 0.85, (5, 5, 3)).astype(np.float32)
    img = cv2.resize(coarse, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    img = img + rng.normal(0, 0.01, img.shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


def _over(img: np.ndarray, mask: np.ndarray, colour: tuple[float, ...], alpha: float) -> np.ndarray:
    out = img.copy()
    out[mask] = alpha * np.asarray(colour, np.float32) + (1 - alpha) * out[mask]
    return out


def _quantise(img: np.ndarray) -> np.ndarray:
    return (np.rint(np.clip(img, 0, 1) * 255) / 255).astype(np.float32)


def test_band_and_card_over_a_photo_are_found_with_their_tint_and_order() -> None:
    photo = _photo(1)
    band = box_mask((SIZE, SIZE), (0, 90, SIZE, 170), 0)
    card = box_mask((SIZE, SIZE), (40, 140, 200, 230), 12)
    img = _quantise(_over(_over(photo, band, (0, 0, 0), 0.6), card, (1, 1, 1), 0.7))
    found = find_overlays(img)
    assert len(found) == 2
    lower, upper = found
    assert abs(lower.box[1] - 90) <= 1 and abs(lower.box[3] - 170) <= 1
    assert lower.opacity == pytest.approx(0.6, abs=0.03)
    assert np.abs(lower.colour - 0).max() < 0.05
    assert abs(upper.box[0] - 40) <= 1 and abs(upper.box[2] - 200) <= 1
    assert upper.opacity == pytest.approx(0.7, abs=0.03)
    assert np.abs(upper.colour - 1).max() < 0.05
    clean, _ = peel(img, found)
    inside = band | card
    core = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.abs(clean[core] - photo[core]).mean() < 0.02


@pytest.mark.parametrize("radius", [0, 9, 24])
def test_corner_radius_follows_the_card_s_arcs(radius: int) -> None:
    card = box_mask((SIZE, SIZE), (40, 60, 200, 210), radius)
    img = _quantise(_over(_photo(2), card, (1, 1, 1), 0.6))
    # Whatever the sides' ends suggested, the radius comes from the arcs themselves.
    for guess in (0, 4, 16):
        assert abs(corner_radius(img, (40, 60, 200, 210), guess) - radius) <= 1


def test_a_shape_laid_across_an_overlay_is_kept_whole() -> None:
    photo = _photo(2)
    band = box_mask((SIZE, SIZE), (0, 80, SIZE, 160), 0)
    img = _over(photo, band, (0, 0, 0.2), 0.65)
    disc = np.zeros((SIZE, SIZE), np.uint8)
    cv2.circle(disc, (128, 80), 40, 1, -1)
    img[disc.astype(bool)] = (0.9, 0.5, 0.7)
    img = _quantise(img)
    found = find_overlays(img)
    assert len(found) == 1
    clean, peeled = peel(img, found)
    on_top = disc.astype(bool) & band
    assert not (peeled[0] & on_top).any()
    assert np.array_equal(clean[on_top], img[on_top])


def test_light_text_inside_a_dark_card_keeps_its_colour_when_the_card_is_peeled() -> None:
    photo = _photo(3)
    card = box_mask((SIZE, SIZE), (30, 60, 226, 200), 10)
    img = _over(photo, card, (0, 0, 0), 0.6)
    letters = np.zeros((SIZE, SIZE), np.uint8)
    cv2.putText(letters, "SALE", (50, 150), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 1, 6)
    text = letters.astype(bool)
    img[text] = (0.95, 0.75, 0.85)  # pale pink, laid on the card: no backdrop gives it
    img = _quantise(img)
    found = find_overlays(img)
    assert len(found) == 1
    clean, peeled = peel(img, found)
    core = cv2.erode(letters, np.ones((3, 3), np.uint8)).astype(bool)
    # Unblending would push the letters past white; they stay as they are.
    assert not (peeled[0] & core).any()
    assert np.array_equal(clean[core], img[core])
    rest = card & ~cv2.dilate(letters, np.ones((9, 9), np.uint8)).astype(bool)
    inner = rest & cv2.erode(card.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert np.abs(clean[inner] - photo[inner]).mean() < 0.02


@pytest.mark.parametrize("backdrop", ["gradient", "grain", "stripes"])
def test_opaque_designs_have_no_overlays(backdrop: str) -> None:
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    if backdrop == "gradient":
        img = np.stack([0.2 + 0.6 * xs, 0.3 + 0.4 * ys, 0.5 + 0 * xs], axis=2)
    elif backdrop == "grain":
        rng = np.random.default_rng(3)
        img = np.clip(0.5 + rng.normal(0, 0.04, (SIZE, SIZE, 1)) + 0 * xs[..., None], 0, 1)
        img = img * np.array([0.9, 0.7, 0.3], np.float32)
    else:
        t = (np.floor(ys * 12) % 2)[..., None]
        img = t * np.array([0.9, 0.2, 0.3]) + (1 - t) * np.array([0.2, 0.3, 0.8])
    img = img.astype(np.float32)
    img[60:140, 30:200] = (0.95, 0.85, 0.1)  # an opaque card
    grad = np.linspace(0.2, 0.6, 100, dtype=np.float32)[None, :, None]
    img[160:230, 100:200] = grad * np.array([1.0, 0.5, 0.2], np.float32)  # a gradient card
    assert find_overlays(_quantise(img)) == []


def test_engine_returns_a_translucent_panel_layer() -> None:
    photo = _photo(4)
    band = box_mask((SIZE, SIZE), (0, 100, SIZE, 180), 0)
    img = _over(photo, band, (1, 1, 1), 0.55)
    img[125:155, 40:70] = (0.1, 0.1, 0.6)  # a mark on the band
    rgba = np.dstack([np.rint(np.clip(img, 0, 1) * 255), np.full((SIZE, SIZE), 255)])
    rgba = rgba.astype(np.uint8)
    stack = ClassicEngine().decompose(rgba, DecomposeParams(num_layers=3))
    panels = [layer for layer in stack.layers if layer.kind == "panel"]
    assert len(panels) == 1
    alpha = panels[0].rgba[..., 3]
    assert np.median(alpha[110:170, 100:250]) == pytest.approx(0.55 * 255, abs=6)
    assert alpha[:90].max() == 0 and alpha[190:].max() == 0
    background = stack.layers[0].rgba[..., :3].astype(np.float32) / 255
    assert np.abs(background[110:170, 100:250] - photo[110:170, 100:250]).mean() < 0.03
    out = composite_uint8([layer.rgba for layer in stack.layers])
    assert np.abs(out.astype(int) - rgba.astype(int)).max() <= 3
