"""Two baselines the quality benchmark runs beside every engine.

For an opaque input both composite back to the input exactly, so they differ
from an engine only in how well their layers match the designer's:

* :func:`single_layer`: the input itself as the only layer (what you have
  without any decomposition);
* :func:`kmeans_layers`: colour quantisation. ``k`` colour clusters, each one
  hard-alpha layer of its original pixels; the largest cluster is the
  background, made opaque by filling the rest of the canvas from the nearest
  background pixel; the other clusters are stacked largest first (big areas
  tend to lie behind small ones).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

RGBA = NDArray[np.uint8]
_FIT_PIXELS = 20_000


def single_layer(image: RGBA) -> list[RGBA]:
    """``[image]`` (a copy): the no-decomposition baseline."""
    _check_image(image)
    return [image.copy()]


def kmeans_layers(image: RGBA, num_layers: int, *, seed: int = 0) -> list[RGBA]:
    """Split ``image`` (``H x W x 4`` ``uint8``) into at most ``num_layers`` colour layers.

    Clustering runs in CIELAB (``cv2.kmeans``, k-means++, 3 attempts) on up to
    20,000 pixels sampled with ``seed``; every pixel then joins its nearest
    centre. Empty clusters are dropped. Layer 0 is opaque; the others carry
    the input's own alpha on their pixels and 0 elsewhere.
    """
    _check_image(image)
    if num_layers < 1:
        raise ValueError("num_layers must be at least 1")
    h, w = image.shape[:2]
    lab = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2LAB)
    pixels = lab.reshape(-1, 3).astype(np.float32)
    rng = np.random.default_rng(seed)
    sample = pixels[rng.choice(len(pixels), min(_FIT_PIXELS, len(pixels)), replace=False)]
    k = min(num_layers, len(np.unique(sample, axis=0)))
    flat_labels = np.zeros(len(pixels), np.int64)
    if k > 1:
        cv2.setRNGSeed(seed)
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
        best = np.zeros((len(sample), 1), np.int32)
        _, _, centres = cv2.kmeans(sample, k, best, criteria, 3, cv2.KMEANS_PP_CENTERS)
        dists = np.stack([((pixels - c) ** 2).sum(axis=1) for c in centres], axis=1)
        flat_labels = dists.argmin(axis=1)
    labels = flat_labels.reshape(h, w)
    counts = np.bincount(labels.ravel(), minlength=k)
    order = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]

    background_mask = labels == order[0]
    # Fill every non-background pixel with the colour of the nearest background pixel.
    _, (rows, cols) = ndimage.distance_transform_edt(~background_mask, return_indices=True)
    background = image[rows, cols].copy()
    background[..., 3] = 255
    layers = [background]
    for cluster in order[1:]:
        mask = labels == cluster
        layer = np.zeros_like(image)
        layer[mask] = image[mask]
        layers.append(layer)
    return layers


def _check_image(image: RGBA) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 4:
        raise ValueError("image must be an H x W x 4 uint8 array")
