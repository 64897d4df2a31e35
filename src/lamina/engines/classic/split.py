"""Splitting a photo element in two: overlapping photo cut-outs that region growing joined.

Two photo cut-outs laid over each other touch along a whole edge, and both
are grainy, so region growing (and the grain rules) make one ``image``
element of them. When layers are to spare, such an element is split where
its colours say there are two photos: a two-cluster k-means in CIE Lab (on a
blurred copy, so grain does not matter) seeds OpenCV's GrabCut, whose colour
models and edge-aware smoothness snap the cut to the edge between the two.
The split is kept only when both parts are large, of one piece each and of
clearly different colour.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

Mask = NDArray[np.bool_]
FloatImage = NDArray[np.float32]

MIN_SHARE = 0.2
"""Smallest part, as a share of the element, that a split may leave."""

MIN_DISTANCE = 15.0
"""Smallest Lab distance between the two parts' mean colours."""


def split_photo(rgb: FloatImage, lab: FloatImage, mask: Mask, *, seed: int) -> Mask | None:
    """One part of ``mask`` when the photo element there holds two photos, else ``None``.

    ``rgb`` (0..1) and ``lab`` are the working image, ``mask`` the element (same
    ``H x W``). The result is a sub-mask of ``mask``; the rest is the other part.
    """
    count = int(mask.sum())
    if count < 400:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    ys = slice(max(rows[0] - 4, 0), min(rows[-1] + 5, h))
    xs = slice(max(cols[0] - 4, 0), min(cols[-1] + 5, w))
    inside = mask[ys, xs]
    smooth = cv2.GaussianBlur(lab[ys, xs], (0, 0), 3.0)
    samples = np.ascontiguousarray(smooth[inside], np.float32)
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    start = np.zeros((samples.shape[0], 1), np.int32)
    _, cluster, centres = cv2.kmeans(samples, 2, start, criteria, 3, cv2.KMEANS_PP_CENTERS)
    centres = np.asarray(centres)
    if float(np.linalg.norm(centres[0] - centres[1])) < MIN_DISTANCE:
        return None
    trimap: NDArray[np.uint8] = np.zeros(inside.shape, np.uint8)  # GC_BGD outside
    trimap[inside] = np.where(np.asarray(cluster).ravel() == 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    image: NDArray[np.uint8] = np.ascontiguousarray(
        np.clip(np.rint(rgb[ys, xs] * 255.0), 0, 255).astype(np.uint8)
    )
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(seed)
    whole = (0, 0, image.shape[1], image.shape[0])  # ignored: the trimap initialises
    cv2.grabCut(image, trimap, whole, bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
    part = inside & ((trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD))
    part = _largest(part)
    rest = _largest(inside & ~part)
    if min(int(part.sum()), int(rest.sum())) < MIN_SHARE * count:
        return None
    if part.sum() + rest.sum() < 0.9 * count:  # scattered: colour classes, not two photos
        return None
    means = [smooth[p].mean(axis=0) for p in (part, rest)]
    if float(np.linalg.norm(means[0] - means[1])) < MIN_DISTANCE:
        return None
    out = np.zeros_like(mask)
    out[ys, xs] = part
    return out


def _largest(mask: Mask) -> Mask:
    """The largest 4-connected component of ``mask`` (empty stays empty)."""
    parts, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(parts.ravel())
    sizes[0] = 0
    return parts == int(np.argmax(sizes))
