"""Z-order of elements from containment and occlusion cues, and their hidden extent.

An element's convex hull stands in for its complete (amodal) shape: a card
whose hull contains a text block continues under it, and a rectangle whose
hull bites into a circle's visible area was cut by that circle, so it lies
below. Pairs without evidence keep the prior that bigger elements lie lower.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

Labels = NDArray[np.int32]
Mask = NDArray[np.bool_]


def crop(bbox: NDArray[np.int64] | tuple[int, int, int, int]) -> tuple[slice, slice]:
    """Row and column slices of an ``(x0, y0, x1, y1)`` box."""
    x0, y0, x1, y1 = (int(v) for v in bbox)
    return slice(y0, y1), slice(x0, x1)


def convex_hull(mask: Mask) -> Mask:
    """The filled convex hull of all ``True`` pixels of ``mask`` (same shape)."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    out = np.zeros(mask.shape, np.uint8)
    if points is None:
        return out.astype(bool)
    hull = cv2.convexHull(points)
    cv2.fillConvexPoly(out, hull, 1)
    return out.astype(bool) | mask


def extent_overlaps(
    labels: Labels, bboxes: NDArray[np.int64], complete: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """``E[a, b]`` = pixels of element ``b`` inside the completed extent of ``a``.

    ``labels`` holds element ids ``0..n-1`` (``-1`` for none). Each element is
    completed (see :func:`amodal_mask`) as if every other element, background
    excepted, could lie on top of it; ``complete[a]`` says whether ``a``'s
    kind has a simple shape to complete. Element 0 (the background) gets none.
    """
    n = bboxes.shape[0]
    h, w = labels.shape
    overlap = np.zeros((n, n), np.float64)
    for a in range(1, n):
        ys, xs = crop(padded_box(bboxes[a], h, w))
        sub = labels[ys, xs]
        extent = amodal_mask(sub == a, (sub > 0) & (sub != a), complete=bool(complete[a]))
        inside = sub[extent]
        inside = inside[inside >= 0]
        overlap[a] = np.bincount(inside, minlength=n)[:n]
    return overlap


def padded_box(bbox: NDArray[np.int64], h: int, w: int) -> tuple[int, int, int, int]:
    """``bbox`` grown by half its size on each side (room for a hidden part), clipped."""
    x0, y0, x1, y1 = (int(v) for v in bbox)
    px, py = (x1 - x0) // 2 + 1, (y1 - y0) // 2 + 1
    return max(x0 - px, 0), max(y0 - py, 0), min(x1 + px, w), min(y1 + py, h)


def below_edges(
    overlap: NDArray[np.float64], areas: NDArray[np.int64], *, margin: float = 0.02
) -> NDArray[np.float64]:
    """``W[a, b] > 0`` when the evidence says ``a`` lies below ``b`` (weight = strength).

    ``a`` is below ``b`` when more of ``b`` lies inside ``a``'s hull than of
    ``a`` inside ``b``'s, each measured as a fraction of the covered element
    (``overlap`` from :func:`extent_overlaps`).
    """
    frac = overlap / np.maximum(areas, 1)[None, :]
    np.fill_diagonal(frac, 0.0)
    diff = frac - frac.T
    return np.where(diff > margin, diff, 0.0)


def depth_order(weights: NDArray[np.float64], areas: NDArray[np.int64]) -> list[int]:
    """A back-to-front order of ``n`` elements that honours the strongest ``weights``.

    Among elements with no unplaced element required below them the biggest
    goes next; a cycle is broken at the element with the weakest unmet evidence.
    """
    n = weights.shape[0]
    placed = np.zeros(n, bool)
    order: list[int] = []
    for _ in range(n):
        pending = np.flatnonzero(~placed)
        incoming = weights[np.ix_(pending, pending)].sum(axis=0)
        free = pending[incoming <= 0]
        if free.size == 0:
            free = pending[incoming <= incoming.min() + 1e-12]
        pick = int(free[np.argmax(areas[free])])
        order.append(pick)
        placed[pick] = True
    return order


def _ellipse_fit(visible: Mask, above: Mask) -> Mask | None:
    """Ellipse through the outline pixels of ``visible`` that no occluder touches."""
    v8 = visible.astype(np.uint8)
    outline = visible & ~cv2.erode(v8, np.ones((3, 3), np.uint8)).astype(bool)
    near_above = cv2.dilate(above.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    free = np.argwhere(outline & ~near_above)
    if free.shape[0] < 12:
        return None
    points = free[:, ::-1].astype(np.float32).reshape(-1, 1, 2)
    (cx, cy), (ax, ay), angle = cv2.fitEllipse(points)
    if not (np.isfinite([cx, cy, ax, ay]).all() and 0 < ax < 4 * visible.shape[1] + 4):
        return None
    out = np.zeros(visible.shape, np.uint8)
    cv2.ellipse(out, ((cx, cy), (ax + 1.0, ay + 1.0), angle), 1, thickness=-1, lineType=cv2.LINE_8)
    return out.astype(bool)


def _bbox_rect(visible: Mask) -> Mask:
    rows = np.flatnonzero(visible.any(axis=1))
    cols = np.flatnonzero(visible.any(axis=0))
    out = np.zeros(visible.shape, bool)
    out[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = True
    return out


def amodal_mask(visible: Mask, above: Mask, *, complete: bool) -> Mask:
    """An element's full extent (crop): what shows, plus what elements above hide of it.

    Holes are filled where something above covers them. When ``complete``, the
    first of its bounding rectangle, a fitted ellipse and its convex hull that
    explains the shape (covers what shows, and adds only hidden pixels) is used
    to restore the hidden part. The crop should leave room around the element.
    """
    if not visible.any():
        return visible.copy()
    filled = ndimage.binary_fill_holes(visible)
    out = visible | (filled & above)
    if not complete:
        return out
    known = out | above
    for make in (_bbox_rect, lambda v: _ellipse_fit(v, above), convex_hull):
        shape = make(visible)
        if shape is None:
            continue
        extra = int((shape & ~known).sum())
        missed = int((visible & ~shape).sum())
        size = int(shape.sum())
        if extra <= 0.02 * size + 2 and missed <= 0.03 * visible.sum() + 2:
            return out | (shape & above)
    return out
