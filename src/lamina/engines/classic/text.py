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


def group_glyphs(
    bboxes: NDArray[np.int64],
    colours: NDArray[np.float32],
    candidate: NDArray[np.bool_],
    *,
    max_colour_distance: float = 14.0,
) -> NDArray[np.int64]:
    """Text-line group of each region (``n``): equal ids share a line.

    ``bboxes`` is ``n x 4`` ``(x0, y0, x1, y1)`` end-exclusive, ``colours`` ``n x 3``
    Lab means, ``candidate`` marks glyph-sized regions; other regions keep a
    group of their own. Group ids are region indices (the group's smallest).
    """
    n = bboxes.shape[0]
    parent = np.arange(n)
    idx = np.flatnonzero(candidate)
    if idx.size < 2:
        return parent
    b = bboxes[idx].astype(np.float64)
    c = colours[idx].astype(np.float64)
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    gap_x = np.maximum(b[:, None, 0], b[None, :, 0]) - np.minimum(b[:, None, 2], b[None, :, 2])
    gap_y = np.maximum(b[:, None, 1], b[None, :, 1]) - np.minimum(b[:, None, 3], b[None, :, 3])
    h_max = np.maximum(h[:, None], h[None, :])
    h_min = np.minimum(h[:, None], h[None, :])
    w_min = np.minimum(w[:, None], w[None, :])
    colour_ok = np.sqrt(((c[:, None] - c[None, :]) ** 2).sum(axis=2)) < max_colour_distance
    same_line = (gap_x <= 1.0 * h_max) & (-gap_y >= 0.3 * h_min) & (h_max <= 3.5 * h_min)
    stacked = (gap_y <= 0.4 * h_max) & (-gap_x >= 0.3 * w_min)
    linked = colour_ok & (same_line | stacked)
    np.fill_diagonal(linked, False)
    ii, jj = np.nonzero(np.triu(linked))

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
