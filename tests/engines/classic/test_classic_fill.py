"""Filling what a layer hid: no streaks or facets across wide holes, no foreign colours."""

from __future__ import annotations

import cv2
import numpy as np

from lamina.engines.classic.fill import inpaint, pyramid_fill


def striped_photo(h: int = 160, w: int = 200) -> np.ndarray:
    """Vertical bands of two colours with mild grain (a stand-in for a photo's backdrop)."""
    rng = np.random.default_rng(0)
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[:, : w // 2] = (0.8, 0.3, 0.2)
    rgb[:, w // 2 :] = (0.2, 0.4, 0.8)
    return np.clip(rgb + rng.normal(0, 0.02, rgb.shape), 0, 1).astype(np.float32)


def test_pyramid_fill_keeps_known_pixels_and_uses_only_surround_colours() -> None:
    rgb = striped_photo()
    hole = np.zeros(rgb.shape[:2], bool)
    hole[30:130, 40:160] = True
    out = pyramid_fill(rgb, ~hole)
    assert np.array_equal(out[~hole], rgb[~hole])
    lo, hi = rgb[~hole].min(axis=0), rgb[~hole].max(axis=0)
    assert (out[hole] >= lo - 1e-6).all() and (out[hole] <= hi + 1e-6).all()


def test_wide_holes_fill_without_streaks() -> None:
    """Telea drags a busy backdrop's colours across a wide hole in streaks (steps of 0.16
    between neighbouring pixels deep inside this hole); the fill there must be smooth."""
    small = np.random.default_rng(0).random((20, 25, 3)).astype(np.float32)
    rgb = np.clip(cv2.resize(small, (200, 160), interpolation=cv2.INTER_CUBIC), 0, 1)
    hole = np.zeros(rgb.shape[:2], bool)
    hole[30:130, 40:160] = True
    deep = inpaint(rgb, hole)[45:115, 55:145]
    assert np.abs(np.diff(deep, axis=0)).max() < 0.02
    assert np.abs(np.diff(deep, axis=1)).max() < 0.02


def test_each_side_of_a_hole_continues_its_own_colour() -> None:
    rgb = striped_photo()
    hole = np.zeros(rgb.shape[:2], bool)
    hole[30:130, 40:160] = True
    out = inpaint(rgb, hole)
    assert np.abs(out[80, 45] - (0.8, 0.3, 0.2)).max() < 0.15
    assert np.abs(out[80, 154] - (0.2, 0.4, 0.8)).max() < 0.15


def test_fill_of_a_fully_unknown_image_is_its_mean() -> None:
    rgb = striped_photo(8, 8)
    out = inpaint(rgb, np.ones((8, 8), bool))
    assert np.allclose(out, rgb.reshape(-1, 3).mean(axis=0), atol=1e-6)
