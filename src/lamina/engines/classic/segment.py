"""Flat- and smooth-region segmentation in CIE Lab, plus a texture (photo) mask.

Designs are mostly made of regions whose colour is constant or changes slowly
(flat fills, gradients). Two neighbouring pixels belong to the same region when
their Lab colours differ by less than a threshold, so a gradient stays one
region while an edge splits two; anti-aliased edge pixels, which are mixtures
of the colours on both sides, are then handed to the neighbour they resemble
most. Textured areas (photos, grain) are found separately because the pixel
graph shatters them into specks.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lamina.engines.classic.text import INK_DISTANCE, same_ink

CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
"""The 4-neighbourhood as a 3x3 kernel: what one step of erosion or dilation reaches."""

FloatImage = NDArray[np.float32]
Labels = NDArray[np.int32]
Mask = NDArray[np.bool_]


def to_lab(rgb: NDArray[np.uint8]) -> FloatImage:
    """``H x W x 3`` ``uint8`` RGB -> ``float32`` Lab (L in 0..100, a and b about -128..127)."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return np.asarray(lab, np.float32)


def neighbour_distance(lab: FloatImage, *, all_four: bool = False) -> FloatImage:
    """Per-pixel largest Lab distance to the right and lower neighbours (``H x W``), or
    to all four neighbours when ``all_four``."""
    h, w = lab.shape[:2]
    out = np.zeros((h, w), np.float32)
    if w > 1:
        d = np.sqrt(((lab[:, 1:] - lab[:, :-1]) ** 2).sum(axis=2))
        out[:, :-1] = d
        if all_four:
            out[:, 1:] = np.maximum(out[:, 1:], d)
    if h > 1:
        d = np.sqrt(((lab[1:] - lab[:-1]) ** 2).sum(axis=2))
        out[:-1] = np.maximum(out[:-1], d)
        if all_four:
            out[1:] = np.maximum(out[1:], d)
    return out


EDGE_STEP = 10.0
"""Lab step between neighbours that marks an edge, not grain."""


def noise_level(lab: FloatImage, valid: Mask) -> float:
    """Typical Lab step between neighbours in the image's quiet half (0 for clean graphics)."""
    d = neighbour_distance(lab)[valid]
    if d.size == 0:
        return 0.0
    return float(np.percentile(d, 40))


def is_clean(lab: FloatImage, valid: Mask) -> bool:
    """Whether the image is a clean rendering: :func:`noise_level` under
    :data:`CLEAN_NOISE`, edge steps (:data:`EDGE_STEP` and more) left out while at least
    a fifth of the image remains. A page of small print is edges over more than half its
    pixels, and their anti-aliasing read as grain made the page a photo."""
    d = neighbour_distance(lab)
    quiet = valid & (d < EDGE_STEP)
    steps = d[quiet if quiet.sum() >= 0.2 * valid.sum() else valid]
    return steps.size == 0 or float(np.percentile(steps, 40)) < CLEAN_NOISE


def denoise(lab: FloatImage, noise: float) -> FloatImage:
    """Edge-preserving smoothing strong enough to bring grain below the region threshold."""
    if noise < 1.0:
        return lab
    out = lab
    for _ in range(2):
        out = np.asarray(cv2.bilateralFilter(out, 5, 4.0 * noise, 2.0), np.float32)
    return out


def roughness(lab: FloatImage) -> FloatImage:
    """Per-pixel largest Lab second difference along rows and columns (``H x W``).

    Zero on flat fills and linear ramps (gradients, soft stripes), high on grain
    and photographic detail.
    """
    h, w = lab.shape[:2]
    out = np.zeros((h, w), np.float32)
    if w > 2:
        out[:, 1:-1] = np.sqrt(((lab[:, 2:] - 2 * lab[:, 1:-1] + lab[:, :-2]) ** 2).sum(axis=2))
    if h > 2:
        d = np.sqrt(((lab[2:] - 2 * lab[1:-1] + lab[:-2]) ** 2).sum(axis=2))
        out[1:-1] = np.maximum(out[1:-1], d)
    return out


def texture_mask(lab: FloatImage, valid: Mask) -> Mask:
    """Pixels in textured neighbourhoods (photos, grain): most 7x7 neighbours are rough.

    Clean graphics are rough only along edges, a thin fraction of any window;
    photographic content is rough almost everywhere. The roughness threshold
    adapts to the image's own grain so that a grainy backdrop is not a photo.
    """
    rough = roughness(lab)
    level = float(np.percentile(rough[valid], 40)) if valid.any() else 0.0
    busy = (rough > max(3.0, 1.5 * level)).astype(np.float32)
    density = cv2.blur(busy, (7, 7), borderType=cv2.BORDER_REFLECT)
    mask = (density > 0.7) & valid
    if not mask.any():
        return mask
    # Letters and outlines are rough only in thin strokes: an opening drops them,
    # while photos survive as solid areas.
    m8 = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    m8 = cv2.morphologyEx(m8, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    _, comp, stats, _ = cv2.connectedComponentsWithStats(m8, connectivity=4)
    big = stats[:, cv2.CC_STAT_AREA] >= 0.004 * mask.size
    big[0] = False
    return big[comp] & valid


def edge_pixels(labels: Labels, inset: int = 0) -> Labels:
    """The labels along the image's four sides, ``inset`` rows and columns in (1-D)."""
    i = inset
    return np.concatenate([labels[i], labels[-1 - i], labels[:, i], labels[:, -1 - i]])


CLEAN_NOISE = 0.5
"""Noise level (:func:`noise_level`) under which an image is a clean rendering: its flat
fills repeat one colour exactly, as vector art, screenshots and layered documents do."""


def seam_pixels(lab: FloatImage, threshold: float) -> Mask:
    """Anti-aliased pixels of hard edges: mixtures of the two neighbours on either side.

    A pixel is a seam when, along a row or a column, its colour lies on the Lab
    segment between its two neighbours, clear of both ends, and those differ by at
    least twice ``threshold``: a step no ramp of a gradient takes in two pixels.
    The image's outermost rows and columns count as seams: nothing lies across
    them, and a slanted edge meeting the image edge ramps gently along them.
    """
    h, w = lab.shape[:2]
    out = np.zeros((h, w), bool)
    out[[0, -1], :] = True
    out[:, [0, -1]] = True
    for axis, size in ((1, w), (0, h)):
        if size < 3:
            continue
        before = lab[:, :-2] if axis == 1 else lab[:-2]
        middle = lab[:, 1:-1] if axis == 1 else lab[1:-1]
        after = lab[:, 2:] if axis == 1 else lab[2:]
        span = after - before
        length2 = (span * span).sum(axis=2)
        t = ((middle - before) * span).sum(axis=2) / np.maximum(length2, 1e-6)
        off = middle - (before + t[..., None] * span)
        length = np.sqrt(length2)
        seam = (
            (length >= 2.0 * threshold)
            & (t > 0.1)
            & (t < 0.9)
            & (np.sqrt((off * off).sum(axis=2)) < np.maximum(3.0, 0.2 * length))
        )
        if axis == 1:
            out[:, 1:-1] |= seam
        else:
            out[1:-1] |= seam
    return out


PART_AREA = 0.002
"""Least share of the image a part cut off the page must cover to be a region of its own;
smaller ones (a letter's counter, a pattern's piece between letters) go back."""


GRAIN_PART_AREA = 0.01
"""The same for a grainy image (a photo): a pasted cut-out, not a detail of the photo that
its own edges happen to enclose (a letter, a stripe)."""


def page_region(labels: Labels) -> Mask | None:
    """The region holding most of the image border (``None`` when no border pixel is valid)."""
    border = edge_pixels(labels)
    border = border[border >= 0]
    if border.size == 0:
        return None
    return labels == int(np.argmax(np.bincount(border)))


def split_page(
    labels: Labels, lab: FloatImage, *, threshold: float, min_area: float, grainy: bool = False
) -> Labels:
    """The region holding most of the border, cut along anti-aliased seams.

    Along a curved edge, coverage changes a little from one edge pixel to the
    next, so a chain of edge pixels joins a light fill to the page under any step
    threshold (a pale skin fill drawn where its outline has a gap), and a photo
    cut-out's feathered rim joins it to the photo it is pasted on. Cut along its
    seams (:func:`seam_pixels`), the page keeps its largest part, parts of at least
    ``min_area`` pixels become regions of their own, smaller parts stay page, and
    the seam pixels go to whichever side they resemble. In a ``grainy`` image
    (a photo), parts reaching the image's edge stay page too. Only the page is cut:
    letters' and outlines' edges stay as they are.
    """
    page = page_region(labels)
    if page is None:
        return labels
    parts = connected_regions(lab, page & ~seam_pixels(lab, threshold), threshold=threshold)
    count = int(parts.max()) + 1
    if count <= 1:
        return labels
    sizes = np.bincount(parts[parts >= 0], minlength=count)
    keep = sizes >= min_area
    if grainy:
        # A photo's own patches run off the image (its black surround); what is pasted
        # on it lies inside. The outermost pixels are seams, so look one pixel in.
        edge = edge_pixels(parts, 1)
        keep[np.unique(edge[edge >= 0])] = False
    keep[int(np.argmax(sizes))] = False  # the page itself keeps its label
    if not keep.any():
        return labels
    out = labels.copy()
    first = int(labels.max()) + 1
    ids = np.full(count, -1, np.int64)
    ids[keep] = first + np.arange(int(keep.sum()))
    split = (parts >= 0) & keep[np.maximum(parts, 0)]
    out[split] = ids[parts[split]]
    # seam pixels go to the side they resemble; small parts (a letter's counter) stay page
    return relabel(absorb(out, lab, page & (parts < 0)))


INK_WINDOW = 15
"""Side of the window, in working pixels, over which the page's local colour is averaged."""


def _local_mean(lab: FloatImage, mask: Mask) -> FloatImage:
    """Mean of ``lab`` over the ``mask`` pixels of an :data:`INK_WINDOW` window (normalised)."""
    weight = cv2.blur(mask.astype(np.float32), (INK_WINDOW, INK_WINDOW))
    total = cv2.blur(lab * mask[..., None], (INK_WINDOW, INK_WINDOW))
    return np.asarray(total / np.maximum(weight, 1e-6)[..., None], np.float32)


def page_ink(labels: Labels, lab: FloatImage, texture: Mask, *, threshold: float) -> Labels:
    """Marks on the page that region growing lost to it become regions of their own.

    Small letters drawn in one-pixel strokes step through their anti-aliasing in
    jumps larger than the region threshold, so they shatter into specks that are
    handed back to the page, and a line of text vanishes into the background. On a
    clean page (not a photo), every 8-connected group of at least three pixels
    :data:`INK_DISTANCE` away from the page's local colour is a mark, seams on the rim
    of a region aside (:func:`seam_pixels`: the anti-aliased rims of shapes the page
    was given; in letters too small for a core, seams run between page pixels); a
    smaller group joins the region it touches (:func:`_join_touching`).
    """
    page = page_region(labels)
    if page is None or texture[page].mean() > 0.5:
        return labels
    far = np.zeros_like(page)
    for _ in range(2):  # the second pass leaves the marks out of the page's colour
        mean = _local_mean(lab, page & ~far)
        distance = np.sqrt(((lab - mean) ** 2).sum(axis=2))
        far = page & (distance > INK_DISTANCE)
    # Seams on the rim of a region the page was given are that shape's anti-aliasing;
    # seams between page pixels are the strokes of letters too small for a core.
    rims = cv2.dilate((~page & (labels >= 0)).astype(np.uint8), np.ones((3, 3), np.uint8))
    far &= ~(seam_pixels(lab, threshold) & rims.astype(bool))
    count, marks, stats, _ = cv2.connectedComponentsWithStats(far.astype(np.uint8), connectivity=8)
    big = stats[:, cv2.CC_STAT_AREA] >= 3
    big[0] = False
    out = _join_touching(labels, lab, far & ~big[marks], page, mean)
    if not big.any():
        return out
    # A mark's core is what lies nearer its ink than the page; its anti-aliased rim
    # stays page, where the layer's feathering unblends it.
    peak = ndimage.maximum(distance, marks, np.arange(count))
    core = big[marks] & (distance >= 0.5 * np.asarray(peak)[marks])
    ids = np.full(count, -1, np.int64)
    ids[big] = int(labels.max()) + 1 + np.arange(int(big.sum()))
    out[core] = ids[marks[core]]
    return out


def _join_touching(
    labels: Labels, lab: FloatImage, loose: Mask, page: Mask, page_colour: FloatImage
) -> Labels:
    """``labels`` with each ``loose`` page pixel given to the region of its most similar
    8-neighbour off the page that is of its ink (:func:`~.text.same_ink`, from the local
    ``page_colour``), when it has one.

    Too small to be a mark of its own, an ink pixel next to a letter is the letter's:
    the darkest pixel of a 7 px letter can be a one-pixel island the letter's lighter
    strokes surround, lost to the page. A black pixel beside a pale panel is not the
    panel's.
    """
    out = labels.copy()
    ys, xs = np.nonzero(loose)
    if ys.size == 0:
        return out
    h, w = labels.shape
    best = np.full(ys.size, np.inf)
    chosen = np.full(ys.size, -1, np.int64)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ny, nx = np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)
            ok = (labels[ny, nx] >= 0) & ~page[ny, nx]
            ok &= same_ink(lab[ys, xs], lab[ny, nx], page_colour[ys, xs])
            d = np.sqrt(((lab[ny, nx] - lab[ys, xs]) ** 2).sum(axis=1))
            better = ok & (d < best)
            best[better] = d[better]
            chosen[better] = labels[ny, nx][better]
    found = chosen >= 0
    out[ys[found], xs[found]] = chosen[found]
    return out


def connected_regions(lab: FloatImage, valid: Mask, *, threshold: float) -> Labels:
    """Label 4-connected pixels whose neighbour Lab distance is under ``threshold``.

    Returns ``int32`` labels ``0..n-1`` for valid pixels and ``-1`` elsewhere.
    """
    h, w = lab.shape[:2]
    idx = np.arange(h * w, dtype=np.int64).reshape(h, w)
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    if w > 1:
        d = np.sqrt(((lab[:, 1:] - lab[:, :-1]) ** 2).sum(axis=2))
        ok = (d < threshold) & valid[:, 1:] & valid[:, :-1]
        rows.append(idx[:, :-1][ok])
        cols.append(idx[:, 1:][ok])
    if h > 1:
        d = np.sqrt(((lab[1:] - lab[:-1]) ** 2).sum(axis=2))
        ok = (d < threshold) & valid[1:] & valid[:-1]
        rows.append(idx[:-1][ok])
        cols.append(idx[1:][ok])
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(r.size, np.int8), (r, c)), shape=(h * w, h * w))
    _, comp = connected_components(graph, directed=False)
    comp = comp.reshape(h, w).astype(np.int64)
    comp[~valid] = -1
    return relabel(comp)


FILL_SHARE = 0.05
"""Least share of a region one exact colour must hold to count as one of its flat fills
(:func:`split_leaks`)."""

FILLS_APART = 12.0
"""Lab distance at which two flat fills of one region are different colours, not shades."""

SHARP_SHARE = 0.97
"""Share of the steps between two fills of a region that must be edges (at least the
region threshold) for the join to be a leak through anti-aliasing."""


def split_leaks(labels: Labels, lab: FloatImage, *, threshold: float) -> Labels:
    """Regions of two or more flat fills joined only through anti-aliasing, split per fill.

    On a slanted edge between two flat colours anti-aliasing lays down every mixture of
    them, and a chain of steps under ``threshold`` can cross it: openmoji's dark-grey
    cape joined its black outline. Such a region holds two or more exact colours
    (:data:`FILL_SHARE` of it each, :data:`FILLS_APART` from each other), nearly all its
    pixels (80%) lie within 4 Lab of one of them, and where the nearest fill changes
    from pixel to pixel the step is an edge nearly everywhere (:data:`SHARP_SHARE`): the
    few mixtures that leaked are all that joins them. A two-tone shape with a soft
    transition crosses on small steps, and a gradient has no two fills; both stay
    whole. Each fill's pixels (anti-aliased ones to the nearest fill) become regions of
    their own, one per connected piece. For clean renderings: grain has no exact fills.
    """
    n = int(labels.max()) + 1 if labels.size else 0
    if n <= 0:
        return labels
    means, counts = region_means(lab, labels, n)
    ok = labels >= 0
    spread = ((lab[ok] - means[labels[ok]]) ** 2).sum(axis=1)
    variance = np.bincount(labels[ok], spread, minlength=n) / np.maximum(counts, 1)
    candidates = np.flatnonzero((counts >= 64) & (variance > 16.0))
    if candidates.size == 0:
        return labels
    flat = neighbour_distance(lab, all_four=True) < 1.0
    boxes = ndimage.find_objects(labels + 1)
    out = labels.copy()
    fresh = n
    for r in candidates:
        box = boxes[r]
        if box is None:
            continue
        mine = labels[box] == r
        colours = lab[box][mine]
        fills = _flat_fills(lab[box][mine & flat[box]], max(16.0, FILL_SHARE * counts[r]))
        if len(fills) < 2:
            continue
        dist = np.sqrt(((colours[:, None, :] - fills[None]) ** 2).sum(axis=2))
        if (dist.min(axis=1) < 4.0).mean() < 0.8:
            continue
        nearest = np.full(mine.shape, -1, np.int64)
        nearest[mine] = dist.argmin(axis=1)
        if _sharp_share(nearest, lab[box], threshold) < SHARP_SHARE:
            continue
        sub = out[box]
        for f in range(len(fills)):
            pieces, m = ndimage.label(nearest == f)
            first = 1 if f == 0 else 0  # the first fill's first piece keeps label r
            new = pieces > first
            sub[new] = pieces[new] - 1 - first + fresh
            fresh += m - first
    return out


def _flat_fills(colours: FloatImage, min_count: float) -> NDArray[np.float32]:
    """Exact colours (to 2 Lab) holding ``min_count`` of ``colours``, most frequent first,
    each :data:`FILLS_APART` from those before it."""
    if colours.shape[0] < min_count:
        return np.zeros((0, 3), np.float32)
    q = np.round(colours / 2.0).astype(np.int64) + 512  # Lab to 2 units, one key per colour
    keys = (q[:, 0] << 20) | (q[:, 1] << 10) | q[:, 2]
    _, inverse, count = np.unique(keys, return_inverse=True, return_counts=True)
    fills: list[NDArray[np.float32]] = []
    for k in np.argsort(-count):
        if count[k] < min_count:
            break
        colour = colours[inverse == k].mean(axis=0)
        if all(float(np.linalg.norm(colour - f)) >= FILLS_APART for f in fills):
            fills.append(colour)
    return np.array(fills, np.float32).reshape(-1, 3)


def _sharp_share(nearest: NDArray[np.int64], lab: FloatImage, threshold: float) -> float:
    """Share of the 4-neighbour pairs whose nearest fill differs that step ``threshold``
    or more (0 when there are none)."""
    steps = []
    for a, b, la, lb in (
        (nearest[:, 1:], nearest[:, :-1], lab[:, 1:], lab[:, :-1]),
        (nearest[1:], nearest[:-1], lab[1:], lab[:-1]),
    ):
        cross = (a != b) & (a >= 0) & (b >= 0)
        steps.append(np.sqrt(((la[cross] - lb[cross]) ** 2).sum(axis=1)))
    every = np.concatenate(steps)
    return float((every >= threshold).mean()) if every.size else 0.0


def relabel(labels: NDArray[np.integer]) -> Labels:
    """Renumber the non-negative labels to ``0..n-1`` in order of first appearance."""
    flat = labels.ravel()
    out = np.full(flat.shape, -1, np.int32)
    ok = flat >= 0
    if ok.any():
        _, first, inverse = np.unique(flat[ok], return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first))
        out[ok] = order[inverse].astype(np.int32)
    return out.reshape(labels.shape)


def region_means(lab: FloatImage, labels: Labels, n: int) -> tuple[FloatImage, NDArray[np.int64]]:
    """Mean Lab colour (``n x 3``) and pixel count (``n``) of each label."""
    ok = labels >= 0
    lab_ok = lab[ok]
    lbl = labels[ok]
    counts = np.bincount(lbl, minlength=n)
    sums = np.stack([np.bincount(lbl, weights=lab_ok[:, c], minlength=n) for c in range(3)], axis=1)
    means = sums / np.maximum(counts, 1)[:, None]
    return means.astype(np.float32), counts


def absorb(labels: Labels, lab: FloatImage, drop: Mask, *, max_passes: int = 64) -> Labels:
    """Give every ``drop`` pixel the label of the adjacent kept region it resembles most.

    Works outwards from the kept pixels one ring per pass; pixels still unreached
    take their nearest kept pixel's label. Invalid pixels (``-1``) stay invalid.
    """
    out = labels.copy()
    todo = drop & (labels >= 0)
    out[todo] = -2
    kept = out >= 0
    if not kept.any():
        return labels.copy()
    n = int(out.max()) + 1
    means, _ = region_means(lab, np.where(kept, out, -1).astype(np.int32), n)
    h, w = out.shape
    for _ in range(max_passes):
        pending = np.argwhere(out == -2)
        if pending.size == 0:
            return out
        ys, xs = pending[:, 0], pending[:, 1]
        best = np.full(ys.size, np.inf, np.float32)
        choice = np.full(ys.size, -2, np.int32)
        colour = lab[ys, xs]
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            ny, nx = ys + dy, xs + dx
            inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            cand = np.full(ys.size, -1, np.int32)
            cand[inside] = out[ny[inside], nx[inside]]
            ok = cand >= 0
            dist = np.full(ys.size, np.inf, np.float32)
            dist[ok] = ((colour[ok] - means[cand[ok]]) ** 2).sum(axis=1)
            better = dist < best
            best[better] = dist[better]
            choice[better] = cand[better]
        reached = choice >= 0
        if not reached.any():
            break
        out[ys[reached], xs[reached]] = choice[reached]
    rest = out == -2
    if rest.any():
        _, (iy, ix) = ndimage.distance_transform_edt(out < 0, return_indices=True)
        out[rest] = out[iy[rest], ix[rest]]
    return out


def mixture_regions(labels: Labels, lab: FloatImage, n: int, *, max_area: int) -> NDArray[np.bool_]:
    """Flags regions that are anti-aliasing seams: thin, and coloured between two neighbours.

    A seam's colour lies on the Lab segment joining the two regions it touches
    most; a thin genuine element (a rule, a 1-pixel stroke) does not.
    """
    means, counts = region_means(lab, labels, n)
    interior = interior_counts(labels, n)
    thin = (interior <= 0.25 * counts) | (counts <= 2)
    candidates = thin & (counts <= max_area)
    flags = np.zeros(n, bool)
    a, b, length = adjacency(labels)
    if not candidates.any() or a.size == 0:
        return flags
    src = np.concatenate([a, b]).astype(np.int64)
    dst = np.concatenate([b, a]).astype(np.int64)
    ln = np.concatenate([length, length])
    keep = candidates[src]
    src, dst, ln = src[keep], dst[keep], ln[keep]
    order = np.lexsort((-ln, src))
    src, dst = src[order], dst[order]
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
    ends = np.r_[starts[1:], src.size]
    regions = src[starts]
    first = dst[starts]
    single = ends - starts == 1
    flags[regions[single]] = (counts[regions[single]] <= 2) & (
        counts[first[single]] > counts[regions[single]]
    )
    two = ~single
    r, p_i, q_i = regions[two], first[two], dst[starts[two] + 1]
    c, p, q = means[r], means[p_i], means[q_i]
    seg = q - p
    t = np.clip(((c - p) * seg).sum(axis=1) / np.maximum((seg * seg).sum(axis=1), 1e-6), 0, 1)
    off = np.linalg.norm(c - (p + t[:, None] * seg), axis=1)
    flags[r] = (off < np.maximum(4.0, 0.15 * np.linalg.norm(seg, axis=1))) & (t > 0.02) & (t < 0.98)
    return flags


def _distinct(labels: Labels, means: FloatImage, n: int, *, min_distance: float) -> Mask:
    """Regions whose colour differs by ``min_distance`` from every neighbour (small letters)."""
    a, b, _ = adjacency(labels)
    nearest = np.full(n, np.inf, np.float32)
    if a.size:
        d = np.sqrt(((means[a] - means[b]) ** 2).sum(axis=1)).astype(np.float32)
        np.minimum.at(nearest, a, d)
        np.minimum.at(nearest, b, d)
    return nearest >= min_distance


def interior_counts(labels: Labels, n: int) -> NDArray[np.int64]:
    """Pixels of each label whose four neighbours share it."""
    same = labels >= 0
    same[1:] &= labels[1:] == labels[:-1]
    same[:-1] &= labels[:-1] == labels[1:]
    same[:, 1:] &= labels[:, 1:] == labels[:, :-1]
    same[:, :-1] &= labels[:, :-1] == labels[:, 1:]
    same[0, :] = same[-1, :] = False
    same[:, 0] = same[:, -1] = False
    return np.bincount(labels[same], minlength=n)


def adjacency(
    labels: Labels,
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int64]]:
    """Region adjacency graph: pairs ``a < b`` of 4-adjacent labels and their border length."""
    pairs: list[NDArray[np.int64]] = []
    for x, y in ((labels[:, 1:], labels[:, :-1]), (labels[1:], labels[:-1])):
        diff = (x != y) & (x >= 0) & (y >= 0)
        lo = np.minimum(x[diff], y[diff]).astype(np.int64)
        hi = np.maximum(x[diff], y[diff]).astype(np.int64)
        pairs.append(lo << 32 | hi)
    if not pairs or sum(p.size for p in pairs) == 0:
        empty = np.zeros(0, np.int32)
        return empty, empty, np.zeros(0, np.int64)
    keys, length = np.unique(np.concatenate(pairs), return_counts=True)
    return (keys >> 32).astype(np.int32), (keys & 0xFFFFFFFF).astype(np.int32), length


def segment(
    lab: FloatImage,
    valid: Mask,
    *,
    threshold: float = 6.0,
    min_area: int = 4,
    clean: bool | None = None,
) -> tuple[Labels, Mask]:
    """Regions of a working-resolution Lab image, and its texture mask.

    ``clean`` says the image is a clean rendering (:func:`is_clean`; measured when None);
    a grainy one is smoothed first and segmented with a threshold raised to its grain.

    ``lab`` is ``H x W x 3`` ``float32`` Lab; ``valid`` marks pixels to segment
    (opaque enough). Returns ``int32`` labels (``-1`` where invalid) in which
    textured areas form their own connected regions, and the texture mask.
    Seams and specks under ``min_area`` pixels are absorbed by their neighbours,
    and the page is cut from what leaked into it (:func:`split_page`; in a grainy
    image, a photo, only parts of 1% of it that lie inside it). On a clean page, marks
    it swallowed (hairline letters) are taken back out (:func:`page_ink`).
    """
    grainy = not (is_clean(lab, valid) if clean is None else clean)
    noise = noise_level(lab, valid) if grainy else 0.0
    smooth = denoise(lab, noise)
    texture = texture_mask(lab, valid)
    t = max(threshold, 2.5 * noise_level(smooth, valid)) if grainy else threshold
    flat_valid = valid & ~texture
    labels = connected_regions(smooth, flat_valid, threshold=t)
    if not grainy:
        labels = split_leaks(labels, smooth, threshold=t)
    n_flat = int(labels.max()) + 1
    if texture.any():
        tex_labels, n_tex = ndimage.label(texture)
        labels = np.where(texture, tex_labels.astype(np.int32) - 1 + n_flat, labels).astype(
            np.int32
        )
        n = n_flat + int(n_tex)
    else:
        n = n_flat
    if n == 0:
        return labels, texture
    means, counts = region_means(smooth, labels, n)
    distinct = _distinct(labels, means, n, min_distance=25.0) & (counts >= 3)
    drop_region = (counts < min_area) & ~distinct
    seams = mixture_regions(labels, smooth, n, max_area=max(64, lab.shape[0] * lab.shape[1] // 50))
    seams[n_flat:] = False
    drop_region |= seams
    drop = np.zeros(labels.shape, bool)
    ok = labels >= 0
    drop[ok] = drop_region[labels[ok]]
    if drop.any() and not drop.all():
        labels = relabel(absorb(labels, smooth, drop))
    share = GRAIN_PART_AREA if grainy else PART_AREA
    labels = split_page(
        labels,
        smooth,
        threshold=t,
        min_area=max(min_area, share * labels.size),
        grainy=grainy,
    )
    return (labels if grainy else page_ink(labels, smooth, texture, threshold=t)), texture
