"""Grouping glyph-sized regions into text lines.

Segmentation sees each letter as its own region. Letters of one line share a
colour and a height and sit side by side (or stacked, as the dot of an ``i``),
so a union of every such close pair turns letters into lines; deciding which
lines form a block is left to the layer grouping, which prefers to merge
neighbours of the same kind.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

SMALL_GLYPH = 8
"""Glyphs at most this many pixels high (at the working size) are matched by ink direction."""
INK_DISTANCE = 25.0
"""Lab distance from the page's (local) colour at which a colour is ink: a page pixel, or
the mean colour of a small glyph."""
MIN_INK_COSINE = 0.97
"""Cosine between two glyphs' directions from the page colour for one ink (about 14 degrees)."""


def same_ink(
    a: NDArray[np.floating], b: NDArray[np.floating], page: NDArray[np.floating]
) -> NDArray[np.bool_]:
    """Whether colours ``a[i]`` and ``b[i]`` (Lab, ``n x 3``) can be one ink diluted by the
    ``page`` colour (one for all, or one per row) to different coverage: both at least
    :data:`INK_DISTANCE` from the page, in directions from it at most about 14 degrees
    apart."""
    ink_a = np.asarray(a, np.float64) - np.asarray(page, np.float64)
    ink_b = np.asarray(b, np.float64) - np.asarray(page, np.float64)
    norm_a = np.linalg.norm(ink_a, axis=1)
    norm_b = np.linalg.norm(ink_b, axis=1)
    cosine = (ink_a * ink_b).sum(axis=1) / np.maximum(norm_a * norm_b, 1e-6)
    return (norm_a >= INK_DISTANCE) & (norm_b >= INK_DISTANCE) & (cosine >= MIN_INK_COSINE)


def _near_pairs(boxes: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs ``i < j`` of boxes whose centres lie close enough for a link to be possible.

    Linked glyphs are at most a glyph's height apart, so their centres lie within
    ``max(w) + 2 * max(h)`` of each other, pair-wise maxima: less than twice the larger of
    the two boxes' ``w + 2 * h``. Each box looks that far around itself, and the pair is
    found from the larger one; a page of text is then thousands of glyphs, not millions
    of pairs.
    """
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    reach = 2.0 * ((boxes[:, 2] - boxes[:, 0]) + 2.0 * (boxes[:, 3] - boxes[:, 1])) + 1.0
    tree = cKDTree(centres)
    found = tree.query_ball_point(centres, reach)
    counts = np.fromiter((len(f) for f in found), np.int64, len(found))
    i = np.repeat(np.arange(len(found)), counts)
    j = np.concatenate([np.asarray(f, np.int64) for f in found])  # each finds itself
    pairs = np.unique(np.stack([np.minimum(i, j), np.maximum(i, j)], axis=1), axis=0)
    pairs = pairs[pairs[:, 0] < pairs[:, 1]]
    return pairs[:, 0], pairs[:, 1]


def group_glyphs(
    bboxes: NDArray[np.int64],
    colours: NDArray[np.float32],
    candidate: NDArray[np.bool_],
    *,
    page: NDArray[np.float32] | None = None,
    max_colour_distance: float = 14.0,
) -> NDArray[np.int64]:
    """Text-line group of each region (``n``): equal ids share a line.

    ``bboxes`` is ``n x 4`` ``(x0, y0, x1, y1)`` end-exclusive, ``colours`` ``n x 3``
    Lab means, ``candidate`` marks glyph-sized regions; other regions keep a
    group of their own. Group ids are region indices (the group's smallest).

    Small type is mostly anti-aliased rim, so a letter's mean colour is its ink mixed
    with the ``page`` by its coverage: an ``i`` is grey where an ``m`` is black. Letters
    up to :data:`SMALL_GLYPH` pixels high whose colours lie on one line from the page
    colour (the same ink at different coverage) therefore match too.
    """
    n = bboxes.shape[0]
    parent = np.arange(n)
    idx = np.flatnonzero(candidate)
    if idx.size < 2:
        return parent
    b = bboxes[idx].astype(np.float64)
    c = colours[idx].astype(np.float64)
    ii, jj = _near_pairs(b)
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    gap_x = np.maximum(b[ii, 0], b[jj, 0]) - np.minimum(b[ii, 2], b[jj, 2])
    gap_y = np.maximum(b[ii, 1], b[jj, 1]) - np.minimum(b[ii, 3], b[jj, 3])
    h_max = np.maximum(h[ii], h[jj])
    h_min = np.minimum(h[ii], h[jj])
    w_min = np.minimum(w[ii], w[jj])
    colour_ok = np.sqrt(((c[ii] - c[jj]) ** 2).sum(axis=1)) < max_colour_distance
    if page is not None:
        small = (h[ii] <= SMALL_GLYPH) & (h[jj] <= SMALL_GLYPH)
        colour_ok |= small & same_ink(c[ii], c[jj], page)
    same_line = (gap_x <= 1.0 * h_max) & (-gap_y >= 0.3 * h_min) & (h_max <= 3.5 * h_min)
    stacked = (gap_y <= 0.4 * h_max) & (-gap_x >= 0.3 * w_min)
    linked = colour_ok & (same_line | stacked)
    ii, jj = ii[linked], jj[linked]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    for i, j in zip(idx[ii], idx[jj], strict=True):
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.array([find(i) for i in range(n)], dtype=np.int64)
