"""Merging elements into exactly the number of layers asked for.

Merges happen one pair at a time, cheapest first: small elements, close
together, of one kind and colour merge before big distant ones. A pair may
merge only when no third group must lie between them in depth, so the merged
groups can still be stacked without contradicting the occlusion evidence.

Touching elements form one object before separate objects share a layer: a
sticker, a badge or a logo is a connected blob of parts over the background,
and a layer holding half of one sticker and the whole of another is one a
designer would not recognise. So a pair that touches no common blob merges
only once every blob is down to one group.

A shape cut into pieces by one drawn across it (a flag's white saltire under its
red cross) was drawn once: pieces of one colour lying under one element merge next,
after the line art is gathered and before any other merge.

An inked illustration (outlines drawn over flat colours, as emoji, comics and
icons are) is split the way it was made: first the line art, every outline
and every mark drawn in its ink on a fill (eyes, mouths, a wheel's rim), as
one layer over all the fills, which it takes no other part of; then the
fills, grouped mostly by colour, as a colourist works (the skin, the hair).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from lamina.engines.classic.order import depth_order

COLOUR_SCALE = 50.0
"""Lab distance that doubles a merge's cost."""

INKED_COLOUR_SCALE = 20.0
"""The same among the fills of an inked illustration, where colour says which fills
belong together (all the skin, all the hair) more than nearness does."""

INK_MATCH = 10.0
"""Lab distance within which an element is drawn in the line art's ink."""

CLOSED = 1e6
"""Cost factor of any further merge with the line art once it is gathered: a fill
joins it only when nothing else can merge."""

PIECE_MATCH = 3.0
"""Lab distance within which two pieces under one element are one shape's: a flat fill
has one colour, and two fills this close are the same paint."""

STACKED_COST = 4.0
"""How much more merging an outline with a fill it is drawn over costs: line art is
fills below and outlines above, so a dark fill goes with the other fills, not with the
black outline its colour is close to."""


def merge_cost(
    areas: NDArray[np.float64],
    bboxes: NDArray[np.float64],
    colours: NDArray[np.float64],
    kinds: Sequence[str],
    diagonal: float,
    rows: NDArray[np.int64] | None = None,
    stacked: NDArray[np.bool_] | None = None,
    colour_scale: float = COLOUR_SCALE,
) -> NDArray[np.float64]:
    """Cost of merging each of ``rows`` (default: all) with every element.

    ``stacked[r, j]`` says one of the pair lies on the other: such a pair costs
    :data:`STACKED_COST` times more. A colour difference of ``colour_scale``
    doubles the cost.
    Returns ``len(rows) x n``; a pair of an element with itself costs ``inf``.
    """
    r = np.arange(areas.size) if rows is None else rows
    small = np.minimum(areas[r, None], areas[None, :])
    gap_x = np.maximum(bboxes[r, None, 0], bboxes[None, :, 0]) - np.minimum(
        bboxes[r, None, 2], bboxes[None, :, 2]
    )
    gap_y = np.maximum(bboxes[r, None, 1], bboxes[None, :, 1]) - np.minimum(
        bboxes[r, None, 3], bboxes[None, :, 3]
    )
    gap = np.hypot(np.maximum(gap_x, 0), np.maximum(gap_y, 0)) / max(diagonal, 1.0)
    kind = np.asarray(kinds)
    same_kind = kind[r, None] == kind[None, :]
    colour = np.sqrt(((colours[r, None] - colours[None, :]) ** 2).sum(axis=2))
    cost = small * (1.0 + 8.0 * gap) * np.where(same_kind, 0.5, 1.0) * (1.0 + colour / colour_scale)
    if stacked is not None:
        cost = cost * np.where(stacked, STACKED_COST, 1.0)
    cost[np.arange(r.size), r] = np.inf
    return cost


def _across(
    adj: NDArray[np.bool_], line: NDArray[np.bool_], rows: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """``len(rows) x n``: pairs where one lies on the other and exactly one is an outline
    (the pairs :data:`STACKED_COST` applies to)."""
    touching = adj[rows] | adj[:, rows].T
    return touching & (line[rows, None] != line[None, :])


def _reaches(adj: NDArray[np.bool_], src: int, dst: int) -> bool:
    """Whether ``dst`` is reachable from ``src`` through at least one other group."""
    frontier = adj[src].copy()
    frontier[dst] = False
    seen = frontier.copy()
    while frontier.any():
        nxt = adj[frontier].any(axis=0) & ~seen
        if nxt[dst]:
            return True
        seen |= nxt
        frontier = nxt
    return bool(seen[dst])


def group_elements(
    weights: NDArray[np.float64],
    areas: NDArray[np.int64],
    bboxes: NDArray[np.int64],
    colours: NDArray[np.float32],
    kinds: Sequence[str],
    target: int,
    *,
    diagonal: float,
    blob: NDArray[np.int64] | None = None,
    outline: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.int64], list[list[int]]]:
    """Merge ``n`` elements into at most ``target`` groups, ordered back to front.

    ``weights[a, b] > 0`` says element ``a`` lies below ``b``; ``blob`` gives
    each element's blob of touching elements (see the module doc; default:
    each its own); ``outline`` marks drawn outlines, which merge with a fill they
    lie on only at :data:`STACKED_COST` times the price, and which with the marks of
    their ink make the line art (:func:`line_art`, merged first; then the pieces of a
    cut shape, :func:`occluded_pieces`). Returns each element's group index and each
    group's members; groups are numbered in depth order (group 0 lowest).
    """
    n = weights.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), []
    members: list[list[int]] = [[i] for i in range(n)]
    alive = np.ones(n, bool)
    area = areas.astype(np.float64).copy()
    box = bboxes.astype(np.float64).copy()
    colour = colours.astype(np.float64).copy()
    kind = list(kinds)
    adj = weights > 0
    line = np.zeros(n, bool) if outline is None else outline.copy()
    everyone = np.arange(n)
    inks = line_art(weights, areas, colours, line, kind)
    adj[inks] = False  # line art is drawn over every fill: cues putting it below are void
    scale = INKED_COLOUR_SCALE if inks.size else COLOUR_SCALE
    stacked = _across(adj, line, everyone)
    cost = merge_cost(area, box, colour, kind, diagonal, stacked=stacked, colour_scale=scale)
    blocked = np.zeros((n, n), bool)
    blob = np.arange(n, dtype=np.int64) if blob is None else blob.copy()
    best = _RowBest(n)
    best.update(everyone, cost, blocked, alive, blob)
    inked = int(inks[0]) if inks.size else -1  # the line art's group
    pending = [int(e) for e in inks[1:]]
    pieces = iter(occluded_pieces(adj, colour, line))
    piece = next(pieces, None)
    group = np.arange(n)  # each element's group
    closed = np.zeros(n, bool)
    ink_blob = int(blob.max()) + 1  # the line art is a blob of its own
    stale_all = False  # forced merges (line art, pieces) leave the cheapest pairs to redo
    while int(alive.sum()) > max(target, 1):
        inking = bool(pending)
        forced = inking or piece is not None
        if inking:
            i, j = inked, pending.pop(0)
        elif piece is not None:
            i, j = int(group[piece[0]]), int(group[piece[1]])
            piece = next(pieces, None)
            if i == j:
                continue
        else:
            if inked >= 0 and not closed[inked]:
                closed[inked] = True
                cost[inked] *= CLOSED
                cost[:, inked] *= CLOSED
                stale_all = True
            if stale_all:
                best.update(np.flatnonzero(alive), cost, blocked, alive, blob)
                stale_all = False
            i, j = best.pick()
        if i < 0:
            break
        if _reaches(adj, i, j) or _reaches(adj, j, i):
            blocked[i, j] = blocked[j, i] = True
            best.update(np.array([i, j]), cost, blocked, alive, blob)
            continue
        keep, gone = min(i, j), max(i, j)
        total = area[keep] + area[gone]
        colour[keep] = (colour[keep] * area[keep] + colour[gone] * area[gone]) / total
        area[keep] = total
        box[keep, :2] = np.minimum(box[keep, :2], box[gone, :2])
        box[keep, 2:] = np.maximum(box[keep, 2:], box[gone, 2:])
        if kind[keep] != kind[gone]:
            kind[keep] = "element"
        line[keep] = inking or (line[keep] and line[gone])
        members[keep].extend(members[gone])
        group[members[gone]] = keep
        if inking:  # a mark joins the line art, not the blob of the fill it is drawn on
            blob[keep] = ink_blob
        else:
            blob[blob == blob[gone]] = blob[keep]
        if gone == inked:  # the group lives on under the lower index
            inked = keep
        closed[keep] |= closed[gone]
        closed[gone] = False
        members[gone] = []
        alive[gone] = False
        adj[keep] |= adj[gone]
        adj[:, keep] |= adj[:, gone]
        adj[gone] = False
        adj[:, gone] = False
        adj[keep, keep] = False
        blocked[keep] = False
        blocked[:, keep] = False
        rows = np.array([keep])
        across = _across(adj, line, rows)
        row = merge_cost(area, box, colour, kind, diagonal, rows, across, scale)[0]
        if closed.any():
            row = np.where(closed | closed[keep], row * CLOSED, row)
        cost[keep] = row
        cost[:, keep] = row
        cost[keep, keep] = np.inf
        best.forget(gone)
        if forced:
            stale_all = True
            continue
        stale = best.pointing_at(keep, gone) | (blob == blob[keep]) | (row <= best.value_all)
        best.update(np.flatnonzero(stale & alive), cost, blocked, alive, blob)
    ids = np.flatnonzero(alive)
    group_of, groups = _stacked(weights, [members[i] for i in ids], area[ids])
    if inked < 0 or not alive[inked]:
        return group_of, groups
    top = int(group_of[inked])  # line art is drawn over every fill, whatever the cues say
    order = [g for g in range(len(groups)) if g != top] + [top]
    rank = np.argsort(order)
    return rank[group_of], [groups[g] for g in order]


def occluded_pieces(
    below: NDArray[np.bool_], colours: NDArray[np.float64], outline: NDArray[np.bool_]
) -> list[tuple[int, int]]:
    """Pairs of elements within :data:`PIECE_MATCH` of one colour that both lie below one
    element (``below[a, c]``: ``a`` lies below ``c``): the pieces of one shape that another
    is drawn across. Each piece is paired with the first piece of its colour under that
    element, so a grid of a thousand cells gives a thousand pairs, not half a million.
    Outlines are drawn, not cut, and neither are pieces nor cut others (every fill of an
    inked illustration lies under its outline)."""
    cut = below & ~outline[:, None] & ~outline[None, :]
    pairs: set[tuple[int, int]] = set()
    for c in np.flatnonzero(cut.any(axis=0)):
        firsts: list[int] = []
        for a in np.flatnonzero(cut[:, c]):
            near = [f for f in firsts if np.linalg.norm(colours[f] - colours[a]) < PIECE_MATCH]
            if near:
                pairs.add((near[0], int(a)))
            else:
                firsts.append(int(a))
    return sorted(pairs)


def line_art(
    weights: NDArray[np.float64],
    areas: NDArray[np.int64],
    colours: NDArray[np.float32],
    outline: NDArray[np.bool_],
    kinds: Sequence[str],
) -> NDArray[np.int64]:
    """The elements of an illustration's line art, its biggest outline first; empty
    when there is no outline or nothing of its ink to join it.

    They are the outlines within :data:`INK_MATCH` of the biggest outline's colour and
    every element of that ink lying on a shape (``weights[a, b] > 0``: ``a`` lies
    below ``b``): the marks drawn on a fill, such as eyes or a wheel's rim, whatever
    their kind (small marks in a row read as letters). What lies only on a panel, a
    photo or the page (a card's text under its black border) keeps to itself."""
    lines = np.flatnonzero(outline)
    if lines.size == 0:
        return np.zeros(0, np.int64)
    root = int(lines[np.argmax(areas[lines])])
    same = np.linalg.norm(colours - colours[root], axis=1) < INK_MATCH
    fill = np.array([k == "shape" for k in kinds], bool) & ~outline
    drawn_on = (weights[fill] > 0).any(axis=0)
    others = np.flatnonzero(same & (outline | drawn_on) & (np.arange(areas.size) != root))
    return np.concatenate([[root], others]).astype(np.int64) if others.size else others


class _RowBest:
    """Each group's cheapest partner, overall and within its blob, kept per row so that a
    merge recomputes a few rows, not the whole ``n x n`` matrix (a page of text has a
    thousand elements). :meth:`pick` returns the pair a full ``argmin`` over the masked
    matrix would (blob pairs first, then the first row, then the first column)."""

    def __init__(self, n: int) -> None:
        self.value_all = np.full(n, np.inf)
        self.arg_all = np.zeros(n, np.int64)
        self.value_in = np.full(n, np.inf)
        self.arg_in = np.zeros(n, np.int64)

    def update(
        self,
        rows: NDArray[np.int64],
        cost: NDArray[np.float64],
        blocked: NDArray[np.bool_],
        alive: NDArray[np.bool_],
        blob: NDArray[np.int64],
    ) -> None:
        """Recompute ``rows``' cheapest partners from the current matrix and state."""
        if rows.size == 0:
            return
        masked = np.where(blocked[rows] | ~alive[None, :], np.inf, cost[rows])
        at = np.arange(rows.size)
        self.arg_all[rows] = np.argmin(masked, axis=1)
        self.value_all[rows] = masked[at, self.arg_all[rows]]
        masked[blob[rows][:, None] != blob[None, :]] = np.inf
        self.arg_in[rows] = np.argmin(masked, axis=1)
        self.value_in[rows] = masked[at, self.arg_in[rows]]

    def forget(self, row: int) -> None:
        """A merged-away group offers no pair any more."""
        self.value_all[row] = self.value_in[row] = np.inf

    def pointing_at(self, *cols: int) -> NDArray[np.bool_]:
        """Rows whose cheapest partner (overall or in the blob) is one of ``cols``."""
        return np.isin(self.arg_all, cols) | np.isin(self.arg_in, cols)

    def pick(self) -> tuple[int, int]:
        """The cheapest pair, ``(-1, -1)`` when none is left."""
        values, args = (
            (self.value_in, self.arg_in)
            if np.isfinite(self.value_in).any()
            else (self.value_all, self.arg_all)
        )
        i = int(np.argmin(values))
        return (i, int(args[i])) if np.isfinite(values[i]) else (-1, -1)


def _stacked(
    weights: NDArray[np.float64], groups: list[list[int]], areas: NDArray[np.float64]
) -> tuple[NDArray[np.int64], list[list[int]]]:
    """Groups of elements in depth order by their summed "lies below" evidence; each
    element's rank and the groups' sorted members, back to front."""
    k = len(groups)
    group_w = np.zeros((k, k), np.float64)
    for gi, a in enumerate(groups):
        for gj, b in enumerate(groups):
            if gi != gj:
                group_w[gi, gj] = weights[np.ix_(a, b)].sum()
    net = np.where(group_w > group_w.T, group_w - group_w.T, 0.0)
    order = depth_order(net, areas.astype(np.int64))
    group_of = np.zeros(weights.shape[0], np.int64)
    for rank, g in enumerate(order):
        group_of[groups[g]] = rank
    return group_of, [sorted(groups[g]) for g in order]
