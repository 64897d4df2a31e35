"""Translucent overlays: axis-aligned panels and bands laid over anything at partial opacity.

A translucent card or band is the most common way designs put text over a
photo, and region growing cannot find one: the photo's grain shows through.
Its outline can. Such an overlay is a (rounded) rectangle, or a band across
the image, with long straight edges, and across every stretch of its outline
the pixels just inside and just outside obey ``I_in = a * P + (1 - a) * I_out``
with one opacity ``a`` and one colour ``P``, whatever lies below. This module
finds the straight edges, assembles them into rectangles, keeps those whose
outline passes that test (robustly: things crossing the outline are outliers),
finds overlapping overlays top to bottom, and peels them off the image
(``B = (I - a * P) / (1 - a)``) so the rest of the engine sees what lies below.
Pure functions of arrays (NumPy, SciPy, OpenCV) on the working copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from lamina.engines.classic.fill import inpaint
from lamina.engines.classic.segment import CROSS

Mask = NDArray[np.bool_]
FloatImage = NDArray[np.float32]

EDGE_STEP = 0.025
"""Smallest colour step (0..1, any channel) across a pixel row or column that counts as edge."""

MAX_LINES = 24
"""Longest straight edges kept per direction: overlays have long sides, few images have more."""

_DEPTHS = (2, 3)
"""Distances (pixels) from the edge row at which inside/outside pairs are sampled."""


@dataclass(frozen=True)
class Segment:
    """A straight run of edge pixels: at ``pos`` (row or column), from ``start`` to ``stop``."""

    pos: int
    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass
class Overlay:
    """A translucent rectangle: ``colour`` (RGB 0..1) at ``opacity`` over ``mask``."""

    box: tuple[int, int, int, int]
    """``(x0, y0, x1, y1)``, end-exclusive; edge rows and columns included."""
    radius: int
    mask: Mask
    colour: NDArray[np.float32]
    opacity: float
    support: int
    """Number of outline pairs that agree with the fit."""
    pair_ok: Mask
    """Which pairs agree with the fit."""
    crossings: NDArray[np.intp]
    """``(y, x)`` inside pixels where something untinted crosses the outline."""


def straight_segments(rgb: FloatImage, *, axis: int, min_length: int, gap: int) -> list[Segment]:
    """Long straight edge runs: along rows (``axis=0``, horizontal edges) or columns.

    An edge pixel changes colour by more than :data:`EDGE_STEP` between its two
    neighbours across the edge and little between those two pixels' own
    neighbours further out (a thin step, not texture). Gaps up to ``gap``
    pixels are bridged, so an edge stays one run where a letter or a matching
    colour interrupts it.
    """
    img = rgb if axis == 0 else np.transpose(rgb, (1, 0, 2))
    h = img.shape[0]
    if h < 7:
        return []
    step = np.abs(img[2:] - img[:-2]).max(axis=2)  # centred on rows 1..h-2
    strong = np.zeros(img.shape[:2], bool)
    strong[1:-1] = step > EDGE_STEP
    # Thin: the step is at least twice the change two rows further out on either side.
    thin = np.zeros_like(strong)
    outer_a = np.abs(img[1:-5] - img[:-6]).max(axis=2)
    outer_b = np.abs(img[6:] - img[5:-1]).max(axis=2)
    thin[3:-3] = step[2:-2] > 2.0 * np.maximum(outer_a, outer_b)
    strong &= thin
    closed = ndimage.binary_closing(strong, structure=np.ones((1, gap), bool))
    runs, _ = ndimage.label(closed, structure=np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]]))
    by_row: dict[int, list[Segment]] = {}
    width = img.shape[1]
    for sl in ndimage.find_objects(runs):
        if sl is not None and sl[1].stop - sl[1].start >= 2 * gap:
            # The closing erodes runs at the image border: give them their ends back.
            start = 0 if sl[1].start <= gap // 2 + 1 else sl[1].start
            stop = width if sl[1].stop >= width - gap // 2 - 1 else sl[1].stop
            by_row.setdefault(sl[0].start, []).append(Segment(sl[0].start, start, stop))
    lines = [line for row in by_row.values() for line in _chain(row, max_gap=max(4 * gap, h // 3))]
    return _strongest_rows([line for line in lines if line.length >= min_length])[:MAX_LINES]


def _chain(runs: list[Segment], *, max_gap: int) -> list[Segment]:
    """Join runs of one row into lines across gaps (something crossing the edge) up to
    ``max_gap`` pixels, as long as edge pixels still cover 60% of the line."""
    out: list[Segment] = []
    covered = 0
    for run in sorted(runs, key=lambda r: r.start):
        if out:
            last = out[-1]
            joined = Segment(last.pos, last.start, run.stop)
            if run.start - last.stop <= max_gap and covered + run.length >= 0.6 * joined.length:
                out[-1] = joined
                covered += run.length
                continue
        out.append(run)
        covered = run.length
    return out


def _strongest_rows(segments: list[Segment]) -> list[Segment]:
    """One segment per edge: of runs on adjacent rows that overlap, the longest."""
    kept: list[Segment] = []
    for seg in sorted(segments, key=lambda s: (-s.length, s.pos, s.start))[: 8 * MAX_LINES]:
        if not any(
            abs(k.pos - seg.pos) <= 2 and min(k.stop, seg.stop) > max(k.start, seg.start)
            for k in kept
        ):
            kept.append(seg)
    return kept


def _side(
    segments: list[Segment], lo: int, hi: int, near: int, reach: int, border: int | None, tol: int
) -> Segment | None:
    """The side edge near ``near`` (up to ``reach`` outward) spanning part of ``lo..hi``.

    A position within ``tol`` of the image ``border`` is the border itself (a band).
    """
    if border is not None and abs(near - border) <= tol:
        return Segment(border, lo, hi)
    span = hi - lo
    best: Segment | None = None
    for seg in segments:
        if not (min(near, near + reach) - 3 <= seg.pos <= max(near, near + reach) + 3):
            continue
        if seg.start < lo - 3 or seg.stop > hi + 4 or seg.length < 0.3 * span:
            continue
        if best is None or seg.length > best.length:
            best = seg
    if best is None and border is not None and abs(near - border) <= abs(reach):
        return Segment(border, lo, hi)  # a band whose rounded ends meet the border
    return best


def candidate_boxes(rgb: FloatImage) -> list[tuple[int, int, int, int, int]]:
    """``(x0, y0, x1, y1, radius)`` rectangles whose sides are straight edges or image borders.

    ``y0``/``x0`` are the top/left edge rows (inclusive), ``y1``/``x1`` the bottom/right
    edge rows plus one. A side on the image border needs no edge. Edges found only in
    part (something crosses them) are enough: :func:`fit_overlay` decides.
    """
    h, w = rgb.shape[:2]
    short = min(h, w)
    min_length = max(16, int(0.1 * short))
    gap = max(5, short // 40)
    rows = straight_segments(rgb, axis=0, min_length=min_length, gap=gap)
    cols = straight_segments(rgb, axis=1, min_length=max(8, min_length // 2), gap=gap)
    tops = [*rows, Segment(-1, 0, w)]
    bottoms = [*rows, Segment(h, 0, w)]
    tol = gap + 3
    out = set()
    for top in tops:
        for bottom in bottoms:
            if bottom.pos - top.pos < max(8, short // 32) or (top.pos < 0 and bottom.pos >= h):
                continue
            real = [s for s in (top, bottom) if 0 <= s.pos < h]
            overlap = min(s.stop for s in real) - max(s.start for s in real)
            if overlap < 0.5 * min(s.length for s in real):
                continue
            y0, y1 = max(top.pos, 0), min(bottom.pos + 1, h)
            reach = (y1 - y0) // 2
            starts, stops = [s.start for s in real], [s.stop for s in real]
            left = _side(cols, y0, y1, min(starts), -reach, 0, tol)
            right = _side(cols, y0, y1, max(stops) - 1, reach, w - 1, tol)
            if left is None or right is None or right.pos - left.pos < max(8, short // 32):
                continue
            # How far each side stops short of the corner: a rounded corner's radius.
            corners = [min(starts) - left.pos, right.pos + 1 - max(stops)]
            for s in (left, right):
                if s.pos not in (0, w - 1):  # a border side says nothing about corners
                    corners += [s.start - y0, y1 - s.stop]
            corner = int(np.median(corners))
            radius = max(0, min(corner, (y1 - y0) // 2, (right.pos - left.pos) // 2) - 1)
            out.add((left.pos, y0, right.pos + 1, y1, radius))
    return sorted(out)


def box_mask(shape: tuple[int, int], box: tuple[int, int, int, int], radius: int) -> Mask:
    """Boolean mask of a rectangle with corners rounded to ``radius`` pixels."""
    x0, y0, x1, y1 = box
    mask = np.zeros(shape, bool)
    mask[y0:y1, x0:x1] = True
    if radius > 1:
        r = radius
        yy, xx = np.mgrid[0:r, 0:r].astype(np.float32) + 0.5
        corner = np.hypot(r - xx, r - yy) > r  # top-left corner, outside the arc
        mask[y0 : y0 + r, x0 : x0 + r] &= ~corner
        mask[y0 : y0 + r, x1 - r : x1] &= ~corner[:, ::-1]
        mask[y1 - r : y1, x0 : x0 + r] &= ~corner[::-1, :]
        mask[y1 - r : y1, x1 - r : x1] &= ~corner[::-1, ::-1]
    return mask


def _outline_pairs(
    shape: tuple[int, int], box: tuple[int, int, int, int], radius: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Inside and outside ``(y, x)`` pixels facing each other across the straight sides,
    and the side of each pair (0 top, 1 bottom, 2 left, 3 right); border sides have none."""
    h, w = shape
    x0, y0, x1, y1 = box
    xs = np.arange(x0 + radius + 2, x1 - radius - 2)
    ys = np.arange(y0 + radius + 2, y1 - radius - 2)
    inner, outer, side = [], [], []
    for d in _DEPTHS:
        for k, (ok, along, i_at, o_at, horizontal) in enumerate(
            (
                (y0 - d >= 0, xs, y0 + d, y0 - d, True),
                (y1 - 1 + d < h, xs, y1 - 1 - d, y1 - 1 + d, True),
                (x0 - d >= 0, ys, x0 + d, x0 - d, False),
                (x1 - 1 + d < w, ys, x1 - 1 - d, x1 - 1 + d, False),
            )
        ):
            if not ok or along.size == 0:
                continue
            fixed_i, fixed_o = np.full_like(along, i_at), np.full_like(along, o_at)
            if horizontal:
                inner.append(np.stack([fixed_i, along], 1))
                outer.append(np.stack([fixed_o, along], 1))
            else:
                inner.append(np.stack([along, fixed_i], 1))
                outer.append(np.stack([along, fixed_o], 1))
            side.append(np.full(along.size, k))
    if not inner:
        empty = np.zeros((0, 2), np.intp)
        return empty, empty, np.zeros(0, np.intp)
    return (
        np.concatenate(inner).astype(np.intp),
        np.concatenate(outer).astype(np.intp),
        np.concatenate(side).astype(np.intp),
    )


def _shared_slope_fit(
    seen: NDArray[np.float64], under: NDArray[np.float64]
) -> tuple[float, NDArray[np.float64]]:
    """Least squares ``seen = slope * under + offset``: one slope, one offset per channel."""
    cb, cs = under - under.mean(axis=0), seen - seen.mean(axis=0)
    slope = float((cb * cs).sum() / max(float((cb**2).sum()), 1e-12))
    return slope, seen.mean(axis=0) - slope * under.mean(axis=0)


def _consensus(
    seen: NDArray[np.float64], under: NDArray[np.float64], threshold: float, pieces: int = 8
) -> Mask:
    """Inliers of the best fit over pairs of outline pieces (a small, deterministic RANSAC).

    Outline pairs come in runs along the sides and whatever crosses the outline
    spoils a run locally, so some pair of pieces is clean; the fit of the pair
    that most pairs agree with wins. All pairs of pieces are fitted at once from
    per-piece sums.
    """
    bounds = np.linspace(0, seen.shape[0], pieces + 1).astype(int)
    piece = np.repeat(np.arange(pieces), np.diff(bounds))

    def sums(values: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.stack([np.bincount(piece, values[:, c], pieces) for c in range(3)], 1)

    count = np.bincount(piece, minlength=pieces).astype(np.float64)
    sb, ss, sbb, sbs = sums(under), sums(seen), sums(under * under), sums(under * seen)
    i, j = np.triu_indices(pieces, 1)
    n = (count[i] + count[j])[:, None]
    b_sum, s_sum = sb[i] + sb[j], ss[i] + ss[j]
    cov = (sbs[i] + sbs[j] - b_sum * s_sum / n).sum(axis=1)
    var = (sbb[i] + sbb[j] - b_sum * b_sum / n).sum(axis=1)
    slope = cov / np.maximum(var, 1e-12)
    offset = (s_sum - slope[:, None] * b_sum) / n
    stride = max(1, seen.shape[0] // 400)  # score the models on a sample of the pairs
    predicted = offset[:, None, :] + slope[:, None, None] * under[None, ::stride]
    votes = (np.abs(predicted - seen[None, ::stride]).max(axis=2) < threshold).sum(axis=1)
    best = int(np.argmax(votes))
    return np.abs(offset[best] + slope[best] * under - seen).max(axis=1) < threshold


def _on_colour_line(under: NDArray[np.float64], colour: NDArray[np.float64]) -> bool:
    """Whether the outside is a mix of two colours (a two-colour gradient, stripes) and the
    fitted colour on the same line: then any two mixes fit, and the "overlay" is just
    another part of the backdrop."""
    centre = under.mean(axis=0)
    _, spread, axes = np.linalg.svd(under - centre, full_matrices=False)
    if spread[1] / np.sqrt(under.shape[0]) >= 0.02:
        return False
    offset = colour - centre
    off_line = offset - (offset @ axes[0]) * axes[0]
    return bool(np.linalg.norm(off_line) < 0.08)


def corner_radius(rgb: FloatImage, box: tuple[int, int, int, int], guess: int) -> int:
    """The corner radius of ``box`` whose arcs run along the strongest edges.

    Where the straight sides stop only estimates the radius (a letter or a
    shadow near a corner shortens or lengthens a side), and a radius too small
    leaves the corners' true arcs behind as specks when the overlay is peeled.
    Corners on the image border say nothing and are left out.
    """
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    left, top, right, bottom = x0 > 0, y0 > 0, x1 < w, y1 < h  # sides inside the image
    corners = [
        (y, x)
        for (y, x), used in (
            ((y0, x0), left and top),
            ((y0, x1 - 1), right and top),
            ((y1 - 1, x0), left and bottom),
            ((y1 - 1, x1 - 1), right and bottom),
        )
        if used
    ]
    if not corners:
        return guess
    limit = min((x1 - x0) // 2, (y1 - y0) // 2, max(2 * guess + 8, min(x1 - x0, y1 - y0) // 4))
    # Work on the box and a one-pixel frame: outlines lie inside the box, and their
    # erosion and 3x3 gradients need one pixel beyond it.
    oy, ox = max(y0 - 1, 0), max(x0 - 1, 0)
    ch, cw = min(y1 + 1, h) - oy, min(x1 + 1, w) - ox
    local = (x0 - ox, y0 - oy, x1 - ox, y1 - oy)
    grey = rgb[oy : oy + ch, ox : ox + cw].mean(axis=2)
    grad = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    zone = np.zeros((ch, cw), bool)
    for cy, cx in corners:
        cy, cx = cy - oy, cx - ox
        zone[max(cy - limit, 0) : cy + limit + 1, max(cx - limit, 0) : cx + limit + 1] = True
    zone &= box_mask((ch, cw), local, 0)
    best, best_score = guess, -1.0
    for radius in range(0, limit + 1):
        m8 = box_mask((ch, cw), local, radius).astype(np.uint8)
        outline = zone & (m8 > cv2.erode(m8, CROSS))
        if outline.any():
            score = float(grad[outline].mean())
            if score > best_score:
                best, best_score = radius, score
    return best


def fit_overlay(
    rgb: FloatImage, box: tuple[int, int, int, int], radius: int, *, tolerance: float = 0.02
) -> Overlay | None:
    """The overlay on ``box`` when its outline shows a translucent fill, else ``None``.

    ``I_in = (1 - a) * I_out + a * P`` is fitted on every inside/outside pair
    with one slope for the three channels: a small RANSAC over outline pieces
    picks the pairs that agree (letters, shapes and shadows cross outlines),
    then least squares on them, twice. The fit must hold on most pairs and
    sides, over an outside that varies (over one flat colour translucency
    cannot be told from colour), and visibly change what it covers.
    """
    inner, outer, side = _outline_pairs(rgb.shape[:2], box, radius)
    if inner.shape[0] < 48:
        return None
    seen = rgb[inner[:, 0], inner[:, 1]].astype(np.float64)
    under = rgb[outer[:, 0], outer[:, 1]].astype(np.float64)
    if float(np.median(np.abs(seen - under).max(axis=1))) < 0.03:
        return None  # most of the outline is no edge at all: cheap to rule out first
    ok = _consensus(seen, under, 2.0 * tolerance)
    slope, offset = 0.0, np.zeros(3)
    for _ in range(2):
        if ok.sum() < 32:
            return None
        slope, offset = _shared_slope_fit(seen[ok], under[ok])
        ok = np.abs(offset + slope * under - seen).max(axis=1) < 2.0 * tolerance
    if ok.sum() < 0.6 * min(rgb.shape[:2]) or ok.mean() < 0.5 or not 0.15 <= slope <= 0.85:
        return None
    rms = float(np.sqrt(np.mean((offset + slope * under[ok] - seen[ok]) ** 2)))
    opacity = 1.0 - slope
    colour = offset / opacity
    if rms > tolerance or colour.min() < -0.05 or colour.max() > 1.05:
        return None
    # What lies below must vary well beyond the fit's error, or the slope means nothing.
    if float(under[ok].std(axis=0).max()) < max(0.012, 6.0 * rms):
        return None
    if _on_colour_line(under[ok], colour):
        return None
    # The fill must visibly change what it covers; on a grainy backdrop, pairs of
    # independent grain fit a flat slope with the backdrop's own mean as "colour".
    if float(np.median(np.abs(seen[ok] - under[ok]).max(axis=1))) < 0.04:
        return None
    # Two sides at least must show the overlay along most of their length, and none may
    # be mostly against it (shapes on top and other overlays cover parts of sides).
    rates = np.array([ok[side == k].mean() for k in np.unique(side)])
    if (rates >= 0.6).sum() < 2 or rates.min() < 0.2:
        return None
    # Untinted where the fit expects a visible change: something on top crosses here.
    expected = np.abs(offset + slope * under - under).max(axis=1)
    close = (np.abs(seen - under).max(axis=1) < 0.02) & (expected > 0.06)
    crossings = inner[~ok & close]
    box = _snap(rgb, box, slope, offset)
    radius = corner_radius(rgb, box, radius)
    return Overlay(
        box=box,
        radius=radius,
        mask=box_mask(rgb.shape[:2], box, radius),
        colour=np.clip(colour, 0.0, 1.0).astype(np.float32),
        opacity=opacity,
        support=int(ok.sum()),
        pair_ok=ok,
        crossings=crossings,
    )


def _snap(
    rgb: FloatImage, box: tuple[int, int, int, int], slope: float, offset: NDArray[np.float64]
) -> tuple[int, int, int, int]:
    """Move each side in by one pixel where its edge row or column is still untinted.

    A step between two pixel rows shows in both, so a side may have been found
    one row outside; that row then looks like the row beyond it, not like the
    row beyond it tinted.
    """
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box

    def untinted(edge: FloatImage, beyond: FloatImage) -> bool:
        plain = float(np.abs(edge - beyond).mean())
        tinted = float(np.abs(edge - (offset + slope * beyond)).mean())
        return plain < tinted

    xs, ys = slice(x0, x1), slice(y0, y1)
    if y0 >= 2 and untinted(rgb[y0, xs], rgb[y0 - 2, xs]):
        y0 += 1
    if y1 + 1 < h and untinted(rgb[y1 - 1, xs], rgb[y1 + 1, xs]):
        y1 -= 1
    if x0 >= 2 and untinted(rgb[ys, x0], rgb[ys, x0 - 2]):
        x0 += 1
    if x1 + 1 < w and untinted(rgb[ys, x1 - 1], rgb[ys, x1 + 1]):
        x1 -= 1
    return x0, y0, x1, y1


def find_overlays(rgb: FloatImage, *, limit: int = 4) -> list[Overlay]:
    """Translucent overlays of ``rgb`` (``H x W x 3``, 0..1), back to front.

    Candidates come from the input once. In each round every candidate left is
    fitted on what is left of the image, the one whose outline agrees best
    with its fit is taken and peeled, and its other readings are dropped. An
    overlay on top of others has a whole outline; the outline of one below
    agrees with its own fit only once the ones above are peeled, so the order
    found is top to bottom.
    """
    image = rgb
    fitted = {c: fit_overlay(image, c[:4], c[4]) for c in candidate_boxes(rgb)}
    found: list[Overlay] = []
    while len(found) < limit:
        fits = [o for o in fitted.values() if o is not None]
        fits = [o for o in fits if not any(_same_overlay(o, k) for k in found)]
        if not fits:
            break
        best = max(fits, key=lambda o: (round(float(o.pair_ok.mean()), 2), o.support))
        found.append(best)
        image, _ = peel(image, [best])
        # Only candidates whose outline reaches into the peeled overlay can fit otherwise now.
        for c in fitted:
            if _boxes_touch(c[:4], best.box, margin=4):
                fitted[c] = fit_overlay(image, c[:4], c[4])
    return found[::-1]


def _boxes_touch(
    a: tuple[int, int, int, int], b: tuple[int, int, int, int], *, margin: int
) -> bool:
    return not (
        a[2] + margin <= b[0]
        or b[2] + margin <= a[0]
        or a[3] + margin <= b[1]
        or b[3] + margin <= a[1]
    )


def _same_overlay(a: Overlay, b: Overlay) -> bool:
    """Whether ``a`` is another reading of ``b``: mostly the same pixels, or one side in
    common and mostly inside it (a side of ``b`` paired with an edge of something else)."""
    common = int((a.mask & b.mask).sum())
    if common >= 0.7 * int((a.mask | b.mask).sum()):
        return True
    h, w = a.mask.shape
    borders = (0, 0, w, h)  # sides on the image border are no evidence
    shared_side = any(
        abs(p - q) <= 2 and abs(p - edge) > 2
        for p, q, edge in zip(a.box, b.box, borders, strict=True)
    )
    return shared_side and common >= 0.5 * min(int(a.mask.sum()), int(b.mask.sum()))


def protected(rgb: FloatImage, overlay: Overlay) -> Mask:
    """Pixels inside ``overlay`` that belong to something on top of it.

    Where an untinted element crosses the outline, colour does not change
    across it; the element's pixels connected to such a crossing and of its
    colour (within 10 levels; a fixed range, so that the fill cannot creep along
    the overlay's own gradient) are kept as they are when the overlay is peeled.
    """
    h, w = rgb.shape[:2]
    out = np.zeros((h, w), bool)
    if overlay.crossings.shape[0] == 0:
        return out
    img = np.ascontiguousarray(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8))
    fill_mask = np.zeros((h + 2, w + 2), np.uint8)
    fill_mask[1:-1, 1:-1][~overlay.mask] = 1  # flood fill stays inside the overlay
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (255 << 8)
    for y, x in overlay.crossings[:: max(1, overlay.crossings.shape[0] // 64)]:
        if fill_mask[y + 1, x + 1] == 0:
            seed = (int(x), int(y))
            cv2.floodFill(img, fill_mask, seed, (0, 0, 0), (10, 10, 10), (10, 10, 10), flags)
    out = fill_mask[1:-1, 1:-1] == 255
    return out & overlay.mask


_BEYOND = 0.08
"""How far (0..1) an unblended colour may stray outside 0..1 and still lie under an overlay."""


def _on_top(rgb: FloatImage, overlay: Overlay, judged: Mask) -> Mask:
    """Pixels of ``judged`` that no backdrop could show through ``overlay``: they lie on it.

    Under a tint of colour ``P`` and opacity ``a`` every pixel reads
    ``a * P + (1 - a) * B`` with ``B`` in 0..1, so a dark tint cannot give a
    light pixel (text laid on a dark card). Only strays beyond 0..1 by more
    than :data:`_BEYOND`, away from the tint's own colour, count: towards it,
    and where another overlay was peeled first (not ``judged``), errors in the
    estimated tint are amplified. Their one-pixel rims (the anti-aliased mix
    of the element and the tint) go with them.
    """
    ys, xs = np.nonzero(judged)
    under = (rgb[ys, xs] - overlay.opacity * overlay.colour) / (1.0 - overlay.opacity)
    dark = overlay.colour < 0.5
    stray = ((under > 1.0 + _BEYOND) & dark) | ((under < -_BEYOND) & ~dark)
    out = np.zeros(judged.shape, np.uint8)
    out[ys[stray.any(axis=1)], xs[stray.any(axis=1)]] = 1
    return cv2.dilate(out, CROSS).astype(bool) & judged


def peel(rgb: FloatImage, overlays: list[Overlay]) -> tuple[FloatImage, list[Mask]]:
    """The image with ``overlays`` (back to front) removed, and each overlay's peeled pixels.

    The outline's own pixels are partly covered (anti-aliasing, a side found
    a fraction of a pixel off), so they are inpainted from both sides rather
    than unblended: no seam is left for segmentation to mistake for an element.
    What lies on the overlay (:func:`protected`, :func:`_on_top`) is left as is.
    """
    clean = rgb.astype(np.float32, copy=True)
    peeled: list[Mask] = []
    done = np.zeros(rgb.shape[:2], bool)
    for o in reversed(overlays):
        kept = protected(rgb, o)
        kept |= _on_top(clean, o, o.mask & ~kept & ~done)
        where = o.mask & ~kept
        under = (clean[where] - o.opacity * o.colour) / (1.0 - o.opacity)
        clean[where] = np.clip(under, 0.0, 1.0)
        done |= where
        m8 = o.mask.astype(np.uint8)
        seam = cv2.dilate(m8, CROSS).astype(bool) & ~cv2.erode(m8, CROSS).astype(bool)
        seam &= ~cv2.dilate(kept.astype(np.uint8), CROSS).astype(bool)
        clean = inpaint(clean, seam, radius=2)
        peeled.append(where)
    return clean, peeled[::-1]
