"""The salient-object finder for photos, on real photos from scikit-image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from skimage import data  # the test extra installs scikit-image (lamina[bench])

from lamina.engines.classic.salient import salient_object
from lamina.engines.classic.segment import to_lab


def pasted(backdrop: str, source: str) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """A disc cut from one photo, pasted on another (at 512 x 512); and the disc's mask."""
    image = cv2.resize(getattr(data, backdrop)()[..., :3], (512, 512), interpolation=cv2.INTER_AREA)
    other = cv2.resize(getattr(data, source)()[..., :3], (512, 512), interpolation=cv2.INTER_AREA)
    disc = np.zeros((512, 512), np.uint8)
    cv2.circle(disc, (280, 220), 100, 1, -1)
    inside = disc.astype(bool)
    image[inside] = other[inside]
    return np.ascontiguousarray(image), inside


def iou(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_a_photo_disc_pasted_on_a_photo_is_found_whole() -> None:
    image, disc = pasted("chelsea", "rocket")
    found = salient_object(to_lab(image))
    assert iou(found, disc) > 0.8
    assert np.array_equal(found, salient_object(to_lab(image)))  # deterministic


def test_nothing_is_claimed_on_a_flat_image_or_a_tiny_one() -> None:
    flat = np.full((128, 128, 3), (90, 140, 200), np.uint8)
    assert not salient_object(to_lab(flat)).any()
    assert not salient_object(to_lab(flat[:20, :20])).any()
    with pytest.raises(ValueError, match="H x W x 3"):
        salient_object(np.zeros((64, 64), np.float32))
