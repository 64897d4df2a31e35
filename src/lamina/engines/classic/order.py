"""Z-order of elements from containment and occlusion cues, and their hidden extent.

An element's convex hull stands in for its complete (amodal) shape: a card
whose hull contains a text block continues under it, and a rectangle whose
hull bites into a circle's visible area was cut by that circle, so it lies
below. Borders vote too: a straight edge running on past a junction, and an
outline bulging into its neighbour, belong to the element on top. Pairs
without evidence keep the prior that bigger elements lie lower.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from lamina.engines.classic.overlay import box_mask
from lamina.engines.classic.segment import CROSS, adjacency

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
    labels: Labels,
    bboxes: NDArray[np.int64],
    complete: NDArray[np.bool_],
    hollow: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """``E[a, b]`` = pixels of element ``b`` inside the completed extent of ``a``.

    ``labels`` holds element ids ``0..n-1`` (``-1`` for none). Each element is
    completed (see :func:`amodal_mask`) as if every other element, background
    excepted, could lie on top of it; ``complete[a]`` says whether ``a``'s
    kind has a simple shape to complete; ``hollow[a]`` that ``a`` is a stroke whose
    holes are not its own. Element 0 (the background) gets none.
    """
    n = bboxes.shape[0]
    h, w = labels.shape
    overlap = np.zeros((n, n), np.float64)
    for a in range(1, n):
        if hollow is not None and hollow[a]:
            continue
        ys, xs = crop(padded_box(bboxes[a], h, w))
        sub = labels[ys, xs]
        extent = amodal_mask(sub == a, (sub > 0) & (sub != a), complete=bool(complete[a]))
        inside = sub[extent]
        inside = inside[inside >= 0]
        overlap[a] = np.bincount(inside, minlength=n)[:n]
    return overlap


STROKE_ELONGATION = 12.0
"""An element is a stroke when it is this many times longer than thick (area / thickness²)."""
STROKE_FILL = 0.5
"""... and covers less than this share of its convex hull (a line drawing, not a bar)."""


def strokes(labels: Labels, kinds: list[str], areas: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Elements that are drawn lines: outlines, contour strokes, line art.

    An illustration is built as colour fills with an outline drawn over them.
    An outline is thin everywhere and winds around what it draws, while a card
    that holds other elements has a body and a bar fills its own rectangle.
    Thickness is twice the 95th percentile of the distance to the element's
    edge. An outline also keeps one width (:func:`_even`), which the rim of a
    tile showing around what lies on it does not. A stroke is never below what it
    touches, and its holes are not its own (it has no hidden fill).
    """
    out = np.zeros(len(kinds), bool)
    for e, sl in enumerate(ndimage.find_objects(labels + 1, max_label=len(kinds))):
        if e == 0 or sl is None or kinds[e] not in ("shape", "panel", "element") or areas[e] < 64:
            continue
        mine = np.pad(labels[sl] == e, 1)
        depth = line_depth(mine)
        thickness = 2.0 * float(np.percentile(depth[mine], 95))
        if areas[e] < STROKE_ELONGATION * thickness * thickness:
            continue
        points = np.column_stack(np.nonzero(mine))[:, ::-1].astype(np.int32)
        hull = cv2.contourArea(cv2.convexHull(points))
        thin = areas[e] < STROKE_FILL * max(hull, 1.0) or _outlines(labels[sl], mine)
        out[e] = thin and _even(depth, mine)
    return out


def line_depth(mine: Mask) -> NDArray[np.float32]:
    """Distance to the edge of ``mine`` (padded, so the image edge counts as one)."""
    return np.asarray(cv2.distanceTransform(mine.astype(np.uint8), cv2.DIST_L2, 3), np.float32)


def ridge_depths(depth: NDArray[np.float32], mine: Mask) -> NDArray[np.float32]:
    """``depth`` along the line's middle: its local maxima, each half the width there."""
    return depth[mine & (depth >= cv2.dilate(depth, np.ones((3, 3), np.uint8)))]


RING_HOLES = 0.5
"""An outline encloses at least this share of its own area, held by other elements."""


STROKE_EVEN = 2.0
"""A stroke's width along its middle: the 90th percentile at most this many times the median."""


def _even(depth: NDArray[np.float32], mine: Mask) -> bool:
    """Whether a thin element keeps one width along its length, as a drawn line does.

    The rim of a card that shows around what lies on it is thin too and winds around
    it, but it is thin only where the element on top comes near the card's edge
    (a disc on a square tile: hairline at the sides, wide in the corners).
    ``depth`` is the distance transform of ``mine``; its ridge is the line's middle.
    """
    median, high = np.percentile(ridge_depths(depth, mine), [50, 90])
    return bool(high <= STROKE_EVEN * median)


def _outlines(sub: Labels, mine: Mask) -> bool:
    """Whether a thin element (``mine``, padded by one pixel over ``sub``) is a closed
    outline around other elements: a shape's stroke, which a convex hull misses when the
    shape is convex."""
    holes = ndimage.binary_fill_holes(mine) & ~mine
    if holes.sum() < RING_HOLES * mine.sum():
        return False
    inside = np.pad(sub, 1, constant_values=-1)[holes]
    return bool((inside > 0).mean() > 0.5)


def beneath_strokes(labels: Labels, stroke: NDArray[np.bool_]) -> Labels:
    """For each pixel of a stroke, the element it most likely hides: the nearest one that
    is no stroke (the page, 0, when it is nearest); -1 elsewhere.

    Line art strokes its outline along the edge of the fill it draws, so the fill
    runs under the line up to its middle; a line between two fills hides half of
    each. The nearest fill reproduces that split, and a fill so completed still
    lies whole under its outline when the outline moves. Elements read as text
    count as fills: kinds are guessed from shape, and the ink's strands often
    read as text (keeping text out measured worse on the emoji set).
    """
    on_stroke = stroke[np.maximum(labels, 0)] & (labels > 0)
    if not on_stroke.any() or on_stroke.all():
        return np.full(labels.shape, -1, labels.dtype)
    rows, cols = ndimage.distance_transform_edt(
        on_stroke, return_distances=False, return_indices=True
    )
    return np.where(on_stroke, labels[rows, cols], -1).astype(labels.dtype)


def stroke_cues(labels: Labels, stroke: NDArray[np.bool_]) -> NDArray[np.float64]:
    """``W[a, s] = 1`` for every element ``a`` a stroke ``s`` borders (``a`` lies below)."""
    n = stroke.size
    weights = np.zeros((n, n), np.float64)
    a, b, length = adjacency(labels)
    for x, y, size in zip(a, b, length, strict=True):
        if size < 3 or x == 0 or y == 0 or stroke[x] == stroke[y]:
            continue
        s, other = (x, y) if stroke[x] else (y, x)
        weights[other, s] = 1.0
    return weights


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


def _rounded_rect(visible: Mask, known: Mask) -> Mask | None:
    """The bounding rectangle with rounded corners (cards, buttons) that best explains
    ``visible``: the corner radius adding the fewest unknown pixels and missing the fewest
    visible ones."""
    rows = np.flatnonzero(visible.any(axis=1))
    cols = np.flatnonzero(visible.any(axis=0))
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    short = min(box[2] - box[0], box[3] - box[1])
    best: tuple[int, Mask] | None = None
    for radius in np.unique(np.linspace(2, short // 2, 8).astype(int)):
        shape = box_mask(visible.shape, box, int(radius))
        score = int((shape & ~known).sum()) + int((visible & ~shape).sum())
        if best is None or score < best[0]:
            best = (score, shape)
    return None if best is None else best[1]


def amodal_mask(visible: Mask, above: Mask, *, complete: bool) -> Mask:
    """An element's full extent (crop): what shows, plus what elements above hide of it.

    Holes are filled where something above covers them. When ``complete``, the
    first of its bounding rectangle, the same with rounded corners, a fitted
    ellipse and its convex hull that explains the shape (covers what shows, and
    adds only hidden pixels) is used to restore the hidden part. The crop should
    leave room around the element.
    """
    if not visible.any():
        return visible.copy()
    filled = ndimage.binary_fill_holes(visible)
    out = visible | (filled & above)
    if not complete:
        return out
    known = out | above
    makers = (_bbox_rect, lambda v: _rounded_rect(v, known), lambda v: _ellipse_fit(v, above))
    for make in (*makers, convex_hull):
        shape = make(visible)
        if shape is None:
            continue
        extra = int((shape & ~known).sum())
        missed = int((visible & ~shape).sum())
        size = int(shape.sum())
        if extra <= 0.02 * size + 2 and missed <= 0.03 * visible.sum() + 2:
            return out | (shape & above)
    return out


def _touching_pairs(
    labels: Labels, min_length: int, *, pad: int
) -> Iterator[tuple[int, int, Labels]]:
    """``(p, q, crop)`` for every two foreground elements sharing a border of at least
    ``min_length`` pixels; ``crop`` is ``labels`` round both, ``pad`` pixels wider."""
    h, w = labels.shape
    boxes = ndimage.find_objects(labels + 1)  # element e at index e
    for p, q, length in zip(*adjacency(labels), strict=True):
        if p <= 0 or q <= 0 or length < min_length:
            continue
        (py, px), (qy, qx) = boxes[p], boxes[q]
        ys = slice(max(min(py.start, qy.start) - pad, 0), min(max(py.stop, qy.stop) + pad, h))
        xs = slice(max(min(px.start, qx.start) - pad, 0), min(max(px.stop, qx.stop) + pad, w))
        yield int(p), int(q), labels[ys, xs]


def straight_edge_cues(labels: Labels, n: int, *, min_length: int = 8) -> NDArray[np.float64]:
    """``C[a, b] > 0`` when ``b``'s straight outline runs on past where it meets ``a``.

    Where two elements meet along a straight line, the one whose own outline
    continues along that line beyond the junction (a card's edge running on
    past the shape it cuts) drew the line: it lies on top, and the other one,
    whose outline turns away there, was cut by it (a T-junction). Curved cuts
    are left to the completion of :func:`amodal_mask`.
    """

    out = np.zeros((n, n), np.float64)
    for p, q, sub in _touching_pairs(labels, min_length, pad=2):
        run_p = _runs_on(sub, p, q, min_length)
        run_q = _runs_on(sub, q, p, min_length)
        if run_p is None or run_q is None:
            continue
        (shared_p, beyond_p), (_, beyond_q) = run_p, run_q
        if beyond_p >= 0.3 * shared_p and beyond_q <= 0.1 * shared_p:
            out[q, p] = 0.5  # p's edge cuts q: q lies below p
        elif beyond_q >= 0.3 * shared_p and beyond_p <= 0.1 * shared_p:
            out[p, q] = 0.5
    return out


def hidden_gap_cues(
    labels: Labels, bboxes: NDArray[np.int64], is_text: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """``C[t, o] > 0`` when element ``o`` covers a gap inside text line ``t``.

    A gap wider than the line is tall is no spacing between words: something
    laid over the line hides letters there (:func:`covering_element`), and
    the line lies below it. Weight 0.5, as a T-junction.
    """
    n = bboxes.shape[0]
    out = np.zeros((n, n), np.float64)
    for t in np.flatnonzero(is_text):
        x0, y0, x1, y1 = (int(v) for v in bboxes[t])
        empty = ~(labels[y0:y1, x0:x1] == t).any(axis=0)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], empty.astype(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            if stop - start < y1 - y0:
                continue
            gap = (x0 + int(start), y0, x0 + int(stop), y1)
            over = covering_element(labels, bboxes, gap, (x0, y0, x1, y1), [int(t)])
            if over is not None:
                out[t, over] = 0.5
    return out


def covering_element(
    labels: Labels,
    bboxes: NDArray[np.int64],
    gap: tuple[int, int, int, int],
    line: tuple[int, int, int, int],
    skip: list[int],
) -> int | None:
    """The element covering at least 75% of ``gap`` inside a text ``line`` (boxes as
    ``(x0, y0, x1, y1)``), other than ``skip`` and any card whose box holds the whole
    line (that lies behind it and says nothing of the gap); ``None`` if there is none."""
    x0, y0, x1, y1 = gap
    sub = labels[y0:y1, x0:x1]
    cover = np.bincount(sub[sub > 0].ravel(), minlength=bboxes.shape[0])
    cover[skip] = 0
    lx0, ly0, lx1, ly1 = line
    holds = (bboxes[:, 0] <= lx0) & (bboxes[:, 1] <= ly0)
    holds &= (bboxes[:, 2] >= lx1) & (bboxes[:, 3] >= ly1)
    cover[holds] = 0
    best = int(np.argmax(cover))
    return best if sub.size and cover[best] >= 0.75 * sub.size else None


def convex_edge_cues(
    labels: Labels,
    n: int,
    eligible: NDArray[np.bool_],
    judged: NDArray[np.bool_],
    *,
    min_length: int = 12,
) -> NDArray[np.float64]:
    """``C[a, b] > 0`` when the border ``a`` shares with ``b`` bulges into ``a``.

    A visible border is always the outline of the element on top, and the
    outlines of shapes, cards and cut-outs are mostly convex: a border that bows
    away from ``b`` (into ``a``) is ``b``'s outline, so ``b`` lies on top, when
    ``b`` looks convex itself. Only ``eligible`` elements (shape-like kinds, not
    text) can be that ``b``; the other one may be any ``judged`` element (text
    cut by a disc). Only borders that curve or bend enough to tell count. The
    weight (0.25) is below that of clear completion evidence.
    """
    out = np.zeros((n, n), np.float64)
    for p, q, sub in _touching_pairs(labels, min_length, pad=1):
        if not (eligible[p] or eligible[q]) or not (judged[p] and judged[q]):
            continue
        bow = _bow_towards(sub == p, sub == q, min_length)
        # The upper element must itself look convex (a star's spikes bow both ways).
        if bow > 0 and eligible[p] and _convex_over(sub, p, q, eligible[q]):
            out[q, p] = 0.25  # the border bows into q: it is p's outline, q lies below
        elif bow < 0 and eligible[q] and _convex_over(sub, q, p, eligible[p]):
            out[p, q] = 0.25
    return out


SOLID = 0.85
"""Least share of its convex hull an element must fill for its outline to count as convex."""


def _convex_over(labels: Labels, me: int, other: int, other_solid: bool) -> bool:
    """Whether ``me`` is convex and, when ``other`` is no shape (text), meets it only
    along its own hull: letters laid over a disc touch it inside its hull too.

    Convex means filling :data:`SOLID` of the hull with ``me`` or a third element
    (which may hide part of ``me``): backdrop or ``other`` in the hull means a
    concave outline.
    """
    mine = labels == me
    hull = convex_hull(mine)
    solid = mine | ((labels > 0) & (labels != other))
    if int((hull & solid).sum()) < SOLID * max(int(hull.sum()), 1):
        return False
    if other_solid:
        return True
    rim = hull & ~cv2.erode(hull.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    near = cv2.dilate((labels == other).astype(np.uint8), CROSS).astype(bool)
    border = mine & near
    return int((border & rim).sum()) >= 0.8 * int(border.sum())


def _bow_towards(mine: Mask, other: Mask, min_length: int) -> int:
    """``+1`` when the border of ``mine`` with ``other`` bows into ``other``, ``-1`` when
    into ``mine``, ``0`` when it is too short or too straight to say."""
    near_other = cv2.dilate(other.astype(np.uint8), CROSS).astype(bool)
    near_mine = cv2.dilate(mine.astype(np.uint8), CROSS).astype(bool)
    border = np.argwhere(mine & near_other).astype(np.float64)
    facing = np.argwhere(other & near_mine).astype(np.float64)
    if border.shape[0] < min_length or facing.shape[0] == 0:
        return 0
    centre = border.mean(axis=0)
    axis = np.linalg.svd(border - centre, full_matrices=False)[2][0]
    along = (border - centre) @ axis
    lo, hi = float(along.min()), float(along.max())
    chord = hi - lo
    if chord < min_length:
        return 0
    start, end = border[int(np.argmin(along))], border[int(np.argmax(along))]
    direction = (end - start) / max(float(np.hypot(*(end - start))), 1e-9)
    normal = np.array([-direction[1], direction[0]])
    middle = np.abs(along - (lo + hi) / 2) <= chord / 4
    if not middle.any():
        return 0
    sagitta = float(np.median((border[middle] - start) @ normal))
    # ``other`` lies on the side of the border its facing pixels are on.
    side = float(np.mean((facing - start) @ normal) - np.mean((border - start) @ normal))
    if abs(sagitta) < max(1.0, 0.03 * chord) or abs(side) < 0.2:
        return 0
    return 1 if sagitta * side > 0 else -1


def _runs_on(sub: Labels, me: int, other: int, min_length: int) -> tuple[int, int] | None:
    """``(shared, beyond)``: ``me``'s pixels along ``other``, when they lie on a line, and
    how many of ``me``'s other outline pixels continue that line; ``None`` if not straight."""
    mine = sub == me
    touching = cv2.dilate((sub == other).astype(np.uint8), CROSS).astype(bool)
    edge = mine & touching
    points = np.argwhere(edge).astype(np.float64)
    if points.shape[0] < min_length:
        return None
    line = _dominant_line(points)
    if line is None:
        return None
    centre, direction, normal = line
    on = np.abs((points - centre) @ normal) <= 0.8
    if on.sum() < max(min_length, 0.5 * points.shape[0]):
        return None
    points = points[on]
    along = (points - centre) @ direction
    lo, hi = float(along.min()), float(along.max())
    if hi - lo < min_length:
        return None
    outline = mine & ~cv2.erode(mine.astype(np.uint8), CROSS).astype(bool)
    near = cv2.dilate(touching.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    rest = np.argwhere(outline & ~near).astype(np.float64)
    if rest.shape[0] == 0:
        return points.shape[0], 0
    offset = rest - centre
    on_line = np.abs(offset @ normal) <= 0.8
    pos = offset @ direction
    reach = hi - lo
    past = ((pos > hi) & (pos <= hi + reach)) | ((pos < lo) & (pos >= lo - reach))
    return points.shape[0], int((on_line & past).sum())


def _dominant_line(
    points: NDArray[np.float64], tries: int = 64
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]] | None:
    """``(point, direction, normal)`` of the line through most ``points`` (within 0.8 px).

    A deterministic RANSAC over pairs of points spread along the list: a shared
    border is often a straight cut plus a few pixels round a corner.
    """
    n = points.shape[0]
    best: tuple[int, NDArray[np.float64], NDArray[np.float64]] | None = None
    for k in range(tries):
        i, j = (k * 7919) % n, (k * 104729 + n // 2) % n
        d = points[j] - points[i]
        norm = float(np.hypot(d[0], d[1]))
        if norm < 4.0:
            continue
        direction = d / norm
        normal = np.array([-direction[1], direction[0]])
        count = int((np.abs((points - points[i]) @ normal) <= 0.8).sum())
        if best is None or count > best[0]:
            best = (count, points[i], direction)
    if best is None:
        return None
    _, origin, direction = best
    return origin, direction, np.array([-direction[1], direction[0]])
