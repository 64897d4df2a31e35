"""Splitting a photo element that holds two photo cut-outs."""

from __future__ import annotations

import cv2
import numpy as np

from lamina.engines.classic.segment import to_lab
from lamina.engines.classic.split import split_photo

SIZE = 160


def _texture(seed: int, base: tuple[float, float, float]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 0.08, (6, 6, 3)).astype(np.float32)
    field = cv2.resize(coarse, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 0.015, (SIZE, SIZE, 3)).astype(np.float32)
    return np.clip(np.asarray(base, np.float32) + field + grain, 0, 1).astype(np.float32)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return to_lab(np.rint(rgb * 255).astype(np.uint8))


def test_two_overlapping_photos_are_split_along_their_edge() -> None:
    red, green = _texture(1, (0.75, 0.3, 0.35)), _texture(2, (0.3, 0.7, 0.45))
    lower = np.zeros((SIZE, SIZE), bool)
    lower[20:110, 15:110] = True
    upper = np.zeros((SIZE, SIZE), bool)
    upper[60:145, 60:150] = True
    rgb = np.full((SIZE, SIZE, 3), 0.15, np.float32)
    rgb[lower] = red[lower]
    rgb[upper] = green[upper]
    part = split_photo(rgb, _lab(rgb), lower | upper, seed=0)
    assert part is not None
    for truth in (upper, lower & ~upper):
        best = max((p & truth).sum() / (p | truth).sum() for p in (part, (lower | upper) & ~part))
        assert best > 0.9


def test_one_photo_is_not_split() -> None:
    rgb = _texture(3, (0.5, 0.5, 0.6))
    mask = np.zeros((SIZE, SIZE), bool)
    mask[20:140, 20:140] = True
    assert split_photo(rgb, _lab(rgb), mask, seed=0) is None
