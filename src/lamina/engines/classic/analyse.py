"""The working-resolution plan: which element goes to which layer, and each layer's extent.

Everything here runs on a downscaled copy (at most ``work_size`` on the long
side): segmentation, text grouping, z-order, grouping into layers, and the
colour model that completes each layer where something above hides it.
Full-resolution rendering (:mod:`lamina.engines.classic.render`) only refines
a thin band along the edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from lamina.engines.classic.fill import SmoothModel, fit_smooth, inpaint, normalised_coords
from lamina.engines.classic.group import group_elements
from lamina.engines.classic.order import (
    amodal_mask,
    below_edges,
    beneath_strokes,
    convex_edge_cues,
    covering_element,
    crop,
    extent_overlaps,
    hidden_gap_cues,
    line_depth,
    padded_box,
    ridge_depths,
    straight_edge_cues,
    stroke_cues,
    strokes,
)
from lamina.engines.classic.overlay import find_overlays, peel
from lamina.engines.classic.salient import salient_object
from lamina.engines.classic.segment import (
    CROSS,
    adjacency,
    edge_pixels,
    interior_counts,
    is_clean,
    region_means,
    roughness,
    segment,
    to_lab,
)
from lamina.engines.classic.spill import (
    SHADE,
    attach_spill,
    feather_opacity,
    nearest_element,
    shadow_opacity,
)
from lamina.engines.classic.text import INK_DISTANCE, SMALL_GLYPH, group_glyphs, same_ink
from lamina.engines.classic.textdet import available as textdet_available
from lamina.engines.classic.textdet import text_lines

Mask = NDArray[np.bool_]
FloatImage = NDArray[np.float32]
Labels = NDArray[np.int32]


@dataclass
class LayerPlan:
    """One planned layer at working resolution."""

    kind: str
    amodal: Mask
    """Where the layer has content: what shows plus what layers above hide of it."""
    fill: SmoothModel | FloatImage | None
    """Colour for hidden pixels: a smooth model, or a working-resolution RGB image."""
    tint: tuple[NDArray[np.float32], float] | None = None
    """``(rgb, opacity)`` of a translucent flat layer (colour 0..1 everywhere in it)."""
    spill: tuple[NDArray[np.float32], FloatImage] | None = None
    """``(opacity, colour)`` of what the layer casts on the background beyond its
    extent (a drop shadow, a feathered edge): ``H x W`` 0..1 and ``H x W x 3``."""


@dataclass
class Elements:
    """Elements at working resolution: labels ``0..n-1`` (0 = background) and their traits."""

    labels: Labels
    kinds: list[str]
    areas: NDArray[np.int64]
    bboxes: NDArray[np.int64]
    colours: NDArray[np.float32]


def bounding_boxes(labels: Labels, n: int) -> NDArray[np.int64]:
    """``n x 4`` end-exclusive ``(x0, y0, x1, y1)`` of each label (zeros when absent)."""
    out = np.zeros((n, 4), np.int64)
    for i, sl in enumerate(ndimage.find_objects(labels + 1, max_label=n)):
        if sl is not None:
            out[i] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    return out


def background_regions(
    labels: Labels, n: int, counts: NDArray[np.int64], colours: NDArray[np.float32]
) -> tuple[NDArray[np.bool_], int]:
    """Regions that form the background, and its main one: a region of the colour holding
    most of the border (unless that is a frame, :func:`_frame`) plus look-alikes.

    The border is counted per colour, not per region: a field cut into pieces by
    what is drawn across it (a flag's cross) still holds it as one.

    A patterned background (stripes) touches the border in many regions of a
    few colours; every colour holding at least 30% of the border in at least
    :data:`PATTERN_REPEATS` regions belongs to the background (one region of
    another colour is a field of its own: a flag's other half), and when the
    background has at most three colours, so does any region of one of them.
    """
    # two pixels in: the outermost rows are often an anti-aliased or hairline edge
    i = BORDER_INSET if min(labels.shape) >= 16 * BORDER_INSET else 0
    border = edge_pixels(labels, i)
    border = border[border >= 0]
    out = np.zeros(n, bool)
    if border.size == 0:
        main = int(np.argmax(counts))
        out[main] = True
        return out, main
    share = np.bincount(border, minlength=n) / border.size
    touching, alike, cluster_share = _border_colours(share, colours)
    # A field cut into pieces by what is drawn over it holds the border as one colour.
    field_share = np.zeros(n)
    field_share[touching] = cluster_share + 1e-3 * share[touching]
    main = _behind_most(labels, field_share, n)
    main, cards = _page_behind_cards(labels, main, touching, alike, share, counts)
    frame = _frame(labels, main, counts)
    if frame:
        share[main] = 0.0
        main = int(np.argmax(np.where(np.arange(n) == frame[0], 0, counts)))
        touching, alike, cluster_share = _border_colours(share, colours)
    out[main] = True
    # a colour repeating along the border (stripes, a pattern), not one more field (a flag's
    # other half), or the main region's own colour
    repeats = alike.sum(axis=1) >= PATTERN_REPEATS
    own = alike[:, int(np.flatnonzero(touching == main)[0])] if main in touching else False
    out[touching[(cluster_share >= 0.3) & (repeats | own)]] = True
    out[cards] = False  # before the look-alikes: a card's colour is no background colour
    bg_colours = colours[out]
    if _colour_clusters(bg_colours, 12.0) <= 3:
        # A pattern of a few colours; a photo backdrop has many and is left alone.
        near = np.sqrt(((colours[:, None] - bg_colours[None, :]) ** 2).sum(axis=2)).min(axis=1)
        out |= near < 8.0
    out[frame] = False
    out[main] = True
    return out, main


def _border_colours(
    share: NDArray[np.float64], colours: NDArray[np.float32]
) -> tuple[NDArray[np.intp], NDArray[np.bool_], NDArray[np.float64]]:
    """The regions holding some border, which of them look alike (within 12 Lab), and the
    border share of each one's look-alikes together."""
    touching = np.flatnonzero(share > 0)
    dist = np.sqrt(((colours[touching, None] - colours[None, touching]) ** 2).sum(axis=2))
    alike = dist < 12.0
    return touching, alike, (share[touching][None, :] * alike).sum(axis=1)


BORDER_INSET = 2
"""How far inside the image edge the border is read (images of 32 px and more)."""

TIE_SHARE = 0.8
"""Border regions holding at least this share of the largest one's border are
candidates alike for the background (a flag's bands)."""


def _behind_most(labels: Labels, share: NDArray[np.float64], n: int) -> int:
    """The region holding most of the border; among those holding nearly as much, the one
    bordering the most regions, as what lies behind the others does (the middle band of
    a tricolour, the field an emblem sits on)."""
    close = np.flatnonzero(share >= TIE_SHARE * share.max())
    if close.size == 1:
        return int(close[0])
    a, b, length = adjacency(labels)
    keep = length >= 3
    degree = np.bincount(np.concatenate([a[keep], b[keep]]), minlength=n)
    return int(close[np.lexsort((-share[close], -degree[close]))[0]])


CARD_FILL = 0.95
"""Least share of its bounding box that a region fills to be a rectangle."""

CARD_SPAN = 0.95
"""A rectangle reaching this share of the image's width or height is a band (a flag's
stripe), not a card laid on a page."""

PAGE_SHARE = 0.15
"""Least share of the border that the page between cards holds."""


def _page_behind_cards(
    labels: Labels,
    main: int,
    touching: NDArray[np.intp],
    alike: NDArray[np.bool_],
    share: NDArray[np.float64],
    counts: NDArray[np.int64],
) -> tuple[int, NDArray[np.intp]]:
    """The page that cards lie on, and the cards, when the colour holding most of the
    border is only cards (else ``main`` and no cards).

    Cards in the image's corners (gradient cards of one design) can together hold more
    of the border than the page showing between them; but a rectangle that fills a
    corner and spans neither the width nor the height is laid on something, and the page
    is then the largest border region of another colour that is not a rectangle itself.
    The cards are then never part of the background, however alike they are (one
    gradient repeated).
    """
    h, w = labels.shape
    boxes = bounding_boxes(labels, len(counts))[touching]
    x0, y0, x1, y1 = boxes.T
    bw, bh = x1 - x0, y1 - y0
    rectangle = counts[touching] / np.maximum(bw * bh, 1) >= CARD_FILL
    i = BORDER_INSET
    cornered = ((x0 <= i) | (x1 >= w - i)) & ((y0 <= i) | (y1 >= h - i))
    card = rectangle & cornered & (bw < CARD_SPAN * w) & (bh < CARD_SPAN * h)
    field = alike[int(np.flatnonzero(touching == main)[0])]
    others = touching[~field & ~rectangle & (share[touching] >= PAGE_SHARE)]
    if not card[field].all() or not others.size:
        return main, np.zeros(0, np.intp)
    return int(others[np.argmax(share[others])]), touching[field]


PATTERN_REPEATS = 3
"""Regions of one colour along the border that make it part of a patterned background."""

FRAME_WIDTH = 0.02
"""Widest stroke (a share of the short side, at least 2 px) of a border region that is a
frame or a grid of lines rather than the background."""


def _frame(labels: Labels, region: int, counts: NDArray[np.int64]) -> list[int]:
    """``[region]`` when the region along the border is thin strands that enclose the
    image (a frame, grid lines) and a region of at least 5% of the image lies within
    it: that one is what the frame is drawn over (a card's outline, a page border), so
    it is the background."""
    h, w = labels.shape
    mask = labels == region
    if counts[region] > 0.4 * h * w:
        return []
    widest = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1].max()
    if widest > max(2.0, FRAME_WIDTH * min(h, w)):
        return []
    if ndimage.binary_fill_holes(mask).sum() < 0.9 * h * w:  # a strip along one side
        return []
    others = counts.copy()
    others[region] = 0
    return [region] if others.max() >= 0.05 * h * w else []


def _colour_clusters(colours: NDArray[np.float32], radius: float) -> int:
    """Number of greedy clusters of ``colours`` (``n x 3`` Lab) of the given radius."""
    left = colours
    count = 0
    while left.shape[0]:
        count += 1
        left = left[np.linalg.norm(left - left[0], axis=1) >= radius]
    return count


def find_elements(
    lab: FloatImage, valid: Mask, lines: Labels | None = None, *, clean: bool | None = None
) -> Elements:
    """Segment, then merge letter counters into their surroundings and letters into lines.

    ``clean`` says the image is a clean rendering (:func:`is_clean`; measured when None).

    ``lines`` is a label map of detected text lines (:func:`~.textdet.text_lines`,
    0 = none): the letters of one detected line become one element even where
    their shapes alone would not join them, and never stay in the background.
    (Longer than 80 lines on purpose: the merges run in sequence over the same label
    map and region table; split up, each step would pass all of them around.)
    """
    h, w = valid.shape
    if clean is None:
        clean = is_clean(lab, valid)
    regions, texture = segment(lab, valid, min_area=max(4, (h * w) // 20000), clean=clean)
    n = int(regions.max()) + 1
    if n <= 0:
        return Elements(
            regions,
            [],
            np.zeros(0, np.int64),
            np.zeros((0, 4), np.int64),
            np.zeros((0, 3), np.float32),
        )
    colours, counts = region_means(lab, regions, n)
    bboxes = bounding_boxes(regions, n)
    is_bg, bg = background_regions(regions, n, counts, colours)
    tex_frac = np.bincount(regions[texture], minlength=n) / np.maximum(counts, 1)
    heights = bboxes[:, 3] - bboxes[:, 1]
    detected = _detected_lines(regions, n, lab, lines, bg) if lines is not None else []
    for members in detected:
        is_bg[members] = False
    glyph = (heights <= max(3, 0.25 * h)) & (counts <= 0.02 * h * w) & (tex_frac < 0.5) & ~is_bg
    for members in detected:
        glyph[members] = True
    target = np.arange(n)
    a, b, length = adjacency(regions)
    for g in _holders(bboxes, glyph, ~is_bg):
        x0, y0, x1, y1 = (int(v) for v in bboxes[g])
        sub = regions[y0:y1, x0:x1]
        shape = sub == g
        holes = ndimage.binary_fill_holes(shape) & ~shape
        if not holes.any():
            continue
        inside = np.bincount(sub[holes & (sub >= 0)], minlength=n)
        counters = np.flatnonzero((inside == counts) & (inside > 0) & ~is_bg)
        if counters.size == 0:
            continue
        around = (a == g) | (b == g)
        outer = np.where(a[around] == g, b[around], a[around])
        weights = length[around]
        keep = ~np.isin(outer, counters)
        if not keep.any():
            continue
        parent = int(outer[keep][np.argmax(weights[keep])])
        # Compare with the parent's colour around the glyph: backgrounds are gradients,
        # and a patterned background shows any of its colours through a counter.
        ys, xs = slice(max(y0 - 2, 0), y1 + 2), slice(max(x0 - 2, 0), x1 + 2)
        around_parent = regions[ys, xs] == parent
        local = lab[ys, xs][around_parent].mean(axis=0) if around_parent.any() else colours[parent]
        options = np.vstack([local[None, :], colours[is_bg]]) if is_bg[parent] else local[None, :]
        for c in counters:
            if float(np.linalg.norm(options - colours[c], axis=1).min()) < 25.0:
                target[c] = parent
                glyph[c] = False
    target[is_bg] = bg
    # Small type's mean colours are ink diluted by the page (clean pages only: a photo's
    # fragments all lie somewhere off its median colour).
    line = group_glyphs(bboxes, colours, glyph, page=colours[bg] if clean else None)
    for members in detected:
        groups = np.unique(line[members])
        line[np.isin(line, groups)] = groups.min()
    detected_text = np.zeros(n, bool)
    for members in detected:
        detected_text[members] = True
    rep = line[target]
    rep_bg = rep[bg]
    others = np.unique(rep[rep != rep_bg])
    new_id = np.zeros(n, np.int64)
    new_id[others] = np.arange(1, others.size + 1)
    new_id[rep_bg] = 0
    element_of = new_id[rep]
    labels = np.where(regions >= 0, element_of[np.maximum(regions, 0)], -1).astype(np.int32)
    m = others.size + 1
    el_colours, el_areas = region_means(lab, labels, m)
    el_boxes = bounding_boxes(labels, m)
    el_tex = np.bincount(labels[texture & (labels >= 0)], minlength=m) / np.maximum(el_areas, 1)
    glyph_members = np.bincount(element_of[glyph], minlength=m)
    read = np.bincount(element_of[detected_text], minlength=m) > 0
    kinds = ["background"]
    for e in range(1, m):
        if read[e]:
            kinds.append("text")
        elif el_tex[e] > 0.5:
            kinds.append("image")
        elif glyph_members[e] >= 2:
            kinds.append("text")
        else:
            kinds.append("panel" if el_areas[e] > 0.15 * h * w else "shape")
    elements = Elements(labels, kinds, el_areas, el_boxes, el_colours)
    return _refine_grainy_background(elements, lab)


def _holders(
    bboxes: NDArray[np.int64], glyph: NDArray[np.bool_], inner: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """The glyphs whose box strictly holds the box of some ``inner`` region (not touching
    its sides): only they can have counters, which lie in holes, away from the box's edge.
    A page of small print has thousands of glyphs and few counters; compared in blocks."""
    glyphs = np.flatnonzero(glyph)
    boxes = bboxes[inner]
    found = np.zeros(glyphs.size, bool)
    for start in range(0, glyphs.size, 256):
        outer = bboxes[glyphs[start : start + 256], None, :]
        held = (
            (boxes[None, :, 0] > outer[..., 0])
            & (boxes[None, :, 1] > outer[..., 1])
            & (boxes[None, :, 2] < outer[..., 2])
            & (boxes[None, :, 3] < outer[..., 3])
        )
        found[start : start + 256] = held.any(axis=1)
    return glyphs[found]


def _detected_lines(
    regions: Labels, n: int, lab: FloatImage, lines: Labels, bg: int
) -> list[NDArray[np.intp]]:
    """The regions that are letters of each detected text line (one index array per line).

    A letter lies mostly (60%) inside the line's region, is no taller than it
    and differs from every colour the region's rim shows (the page, a card, a
    button, each stripe of a striped backdrop). A detection is kept only when
    it holds two letters or more, or one that is long like a word in a joined
    script.
    """
    out: list[NDArray[np.intp]] = []
    if int(lines.max()) == 0:
        return out
    sizes = np.bincount(regions[regions >= 0], minlength=n)
    kernel = np.ones((3, 3), np.uint8)
    for k, sl in enumerate(ndimage.find_objects(lines), start=1):
        if sl is None:
            continue
        ys = slice(max(sl[0].start - 2, 0), sl[0].stop + 2)
        xs = slice(max(sl[1].start - 2, 0), sl[1].stop + 2)
        mine = lines[ys, xs] == k
        sub = regions[ys, xs]
        rim = cv2.dilate(mine.astype(np.uint8), kernel).astype(bool) & ~mine & (sub >= 0)
        if not rim.any():
            continue
        rim_share = np.bincount(sub[rim], minlength=n) / rim.sum()
        around = lab[ys, xs][rim]
        backdrops = [
            around[sub[rim] == r].mean(axis=0)
            for r in np.flatnonzero(rim_share >= min(0.1, rim_share.max()))
        ]
        inside = np.bincount(sub[mine & (sub >= 0)], minlength=n)
        members = np.flatnonzero((inside >= 0.6 * np.maximum(sizes, 1)) & (inside > 0))
        height = sl[0].stop - sl[0].start
        boxes = ndimage.find_objects(sub + 1, max_label=n)
        keep = []
        for r in members:
            box = boxes[r]
            if r == bg or box is None or box[0].stop - box[0].start > 1.2 * height:
                continue
            colour = lab[ys, xs][sub == r].mean(axis=0)
            if min(float(np.linalg.norm(colour - c)) for c in backdrops) >= 12.0:
                keep.append(r)
        if not keep:
            continue
        first = boxes[keep[0]]
        if len(keep) >= 2 or first[1].stop - first[1].start >= 2.5 * (
            first[0].stop - first[0].start
        ):
            out.append(np.asarray(keep, np.intp))
    return out


PHOTO_SPREAD = 20.0
"""Lab spread (RMS, after a 4-pixel blur) above which a grainy background is a photo."""


BACKDROP_SCALE = 8.0
"""Median Lab distance (after a 2-pixel blur) from a grainy flat backdrop to its own colour."""


def _lacy(mask: Mask) -> bool:
    """Whether ``mask`` is mostly thin strands: less than half survives a 3-pixel erosion."""
    return bool(ndimage.binary_erosion(mask, iterations=3).sum() < 0.5 * mask.sum())


def _refine_grainy_background(el: Elements, lab: FloatImage) -> Elements:
    """Correct the background of a grainy image, where region growing is least reliable.

    Designed elements (shapes, cards) are noise-free, while a photo carries
    grain everywhere. Over a photo (large colour spread), grainy pixels of a
    flat-kind element go back to the background (a region that leaked into
    the photo, or an object of the photo), the whole element when little of it
    is left, and flat areas the photo swallowed become elements unless they run
    off the image (the photo's own black surround or clipped sky). Over a grainy
    backdrop of one colour, areas far from that colour (photo cut-outs as
    grainy as the backdrop) become elements.
    """
    background = el.labels == 0
    core = background & ~ndimage.binary_dilation(~background, iterations=2)
    if core.sum() < 64:
        return el
    rough = roughness(lab)
    grain = float(np.median(rough[core]))
    if grain < 1.0:
        return el
    labels = el.labels.copy()
    kinds = list(el.kinds)
    h, w = labels.shape
    min_area = max(64, 0.002 * h * w)
    busy = (rough > 0.5 * grain).astype(np.float32)
    busy_share = cv2.blur(busy, (5, 5), borderType=cv2.BORDER_REFLECT)
    blurred = cv2.GaussianBlur(lab, (0, 0), 2.0)
    distance = np.linalg.norm(blurred - np.median(blurred[core], axis=0), axis=2)
    spread = float(np.sqrt(cv2.GaussianBlur(lab, (0, 0), 4.0)[core].var(axis=0).sum()))
    if spread >= PHOTO_SPREAD:
        for e in range(1, len(kinds)):
            mine = labels == e
            if kinds[e] == "image":
                # Texture the segmentation split off the photo: as grainy as the photo.
                if 0.5 * grain <= float(np.median(rough[mine])) <= 2.0 * grain:
                    labels[mine] = 0
                continue
            if kinds[e] not in ("shape", "panel"):
                continue
            back = mine & (busy_share > 0.6)
            labels[back if back.sum() <= 0.7 * mine.sum() else mine] = 0
        found = (busy_share < 0.2) & (labels == 0)
        joins = False
    elif float(np.median(distance[core])) < BACKDROP_SCALE:
        scale = float(np.median(distance[core]))
        found = (distance > max(20.0, 6.0 * scale)) & (labels == 0)
        joins = True
    else:
        return el
    parts, count = ndimage.label(found)
    sizes = np.bincount(parts.ravel(), minlength=count + 1)
    # Over a photo, a flat area running off the image is the photo's own (a black
    # surround, clipped sky): what is laid on a photo has edges region growing cuts along.
    own = np.zeros(count + 1, bool)
    if not joins:
        own[edge_pixels(parts)] = True
    for part in np.flatnonzero((sizes >= min_area) & ~own):
        mask = parts == part
        # Thin rims (soft shadows, edge halos) are no elements; solid areas are.
        if part == 0 or (joins and _lacy(mask)):
            continue
        grown = ndimage.binary_dilation(mask, iterations=2) & (labels == 0)
        touching = labels[ndimage.binary_dilation(grown, iterations=2) & (labels > 0)]
        if joins and touching.size:
            # A soft shadow or a leaked rim of an element: it belongs with the element.
            labels[grown] = np.bincount(touching).argmax()
            continue
        labels[grown] = len(kinds)
        if float(np.median(busy[grown])) > 0.5:
            kinds.append("image")
        else:
            kinds.append("panel" if grown.sum() > 0.15 * h * w else "shape")
    if spread >= PHOTO_SPREAD:
        _add_salient_object(labels, kinds, lab, min_area)
    if np.array_equal(labels, el.labels):
        return el
    return _compact(labels, kinds, lab)


def _add_salient_object(labels: Labels, kinds: list[str], lab: FloatImage, min_area: float) -> None:
    """Over a photo, the object standing out from its border becomes elements, one per
    part, taking the photo's pixels and photo fragments there (in place). Not over a
    design laid on a photo: when the object found is partly text or solid fills, the
    photo is the design's background, whole."""
    found = salient_object(lab)
    if not found.any():
        return
    photo = np.array([k in ("background", "image") for k in kinds])
    designed = _designed(labels, kinds, lab)
    if designed[labels[found & (labels >= 0)]].mean() > DESIGNED_SHARE:
        return
    parts, count = ndimage.label(found & (labels >= 0) & photo[np.maximum(labels, 0)])
    sizes = np.bincount(parts.ravel(), minlength=count + 1)
    for part in np.flatnonzero(sizes >= min_area):
        if part:
            labels[parts == part] = len(kinds)
            kinds.append("image")


DESIGNED_SHARE = 0.1
"""Share of a salient object's pixels in designed elements above which it is the design."""

DESIGNED_GRAIN = 0.3
"""Largest Lab standard deviation (mean over channels) of a solid designed fill; photo
fragments, even smooth sky, carry more grain."""


def _designed(labels: Labels, kinds: list[str], lab: FloatImage) -> NDArray[np.bool_]:
    """Which elements are designed: text, or shapes and panels filled solid, without grain
    (region growing also calls smooth photo fragments shapes)."""
    mean, _ = region_means(lab, labels, len(kinds))
    variance, _ = region_means((lab - mean[np.maximum(labels, 0)]) ** 2, labels, len(kinds))
    spread = np.sqrt(variance).mean(axis=1)
    kind = np.array(kinds)
    solid = np.isin(kind, ("shape", "panel")) & (spread <= DESIGNED_GRAIN)
    return solid | (kind == "text")


def _compact(labels: Labels, kinds: list[str], lab: FloatImage) -> Elements:
    """Elements from relabelled ``labels``: ids of vanished elements dropped (the
    background, 0, always kept), traits recomputed."""
    present = np.union1d(np.unique(labels[labels >= 0]), [0])
    new_id = np.zeros(len(kinds), np.int32)
    new_id[present] = np.arange(present.size, dtype=np.int32)
    labels = np.where(labels >= 0, new_id[np.maximum(labels, 0)], -1).astype(np.int32)
    colours, areas = region_means(lab, labels, present.size)
    kept = [kinds[e] for e in present]
    return Elements(labels, kept, areas, bounding_boxes(labels, present.size), colours)


_COMPLETE_KINDS = ("shape", "panel", "image")


def drop_slivers(el: Elements, lab: FloatImage, *, clean: bool | None = None) -> Elements:
    """Give thin shape-kind elements (seams, rims) to the neighbour they border most.

    Designed shapes have bodies; an element of which less than a third survives
    a one-pixel erosion is an anti-aliased seam, a shadow's rim or a leftover
    of a peeled outline, and as a layer of its own it would only take the place
    of a real element. On a clean page a stray letter of small print (thin, as an
    ``l`` is, but ink beside a line of its ink: :func:`_stray_letter`) is no sliver,
    nor is a rule or frame drawn on one region (:func:`_drawn_rule`).
    Borders and interiors are measured once, before any sliver moves: a page of
    small text holds thousands of elements.
    """
    n = len(el.kinds)
    if clean is None:
        clean = is_clean(lab, el.labels >= 0)
    is_text = np.array([k == "text" for k in el.kinds], bool)
    text_boxes, text_colours = el.bboxes[is_text], el.colours[is_text]
    interior = interior_counts(el.labels, n)
    a, b, length = adjacency(el.labels)
    target = np.arange(n)
    for e, kind in enumerate(el.kinds):
        if e == 0 or kind not in ("shape", "panel") or interior[e] >= el.areas[e] / 3:
            continue
        touching = (a == e) | (b == e)
        if touching.any():
            other = np.where(a[touching] == e, b[touching], a[touching])
            to = int(other[np.argmax(length[touching])])
            if clean and _drawn_rule(el, e, to, length[touching].max() / length[touching].sum()):
                continue
            if not (clean and to == 0 and _stray_letter(el, e, text_boxes, text_colours)):
                target[e] = to
    if (target == np.arange(n)).all():
        return el
    # Slivers move in index order: one given to a later sliver moves on with it, one
    # given to an earlier sliver, already gone, keeps that label.
    final = target.copy()
    for e in range(n - 1, -1, -1):
        if target[e] > e:
            final[e] = final[target[e]]
    labels = np.where(el.labels >= 0, final[np.maximum(el.labels, 0)], -1).astype(np.int32)
    return _compact(labels, el.kinds, lab)


RULE_LENGTH = 0.15
"""Least extent, as a share of the image's side, of a drawn rule or frame (:func:`_drawn_rule`)."""


def _drawn_rule(el: Elements, e: int, around: int, share: float) -> bool:
    """Whether thin element ``e`` is a drawn rule or frame: long (:data:`RULE_LENGTH`),
    straight (its box at most 4 pixels across and ten times as long: a horizontal or
    vertical rule; a slanted one stays a sliver) or closed round a hole, with one
    region on both sides (``around`` holds ``share`` of its border with other valid
    pixels, at least 90%) and of a colour 25 Lab from it. A seam lies between two
    regions, and its colour between theirs; the rim a blend leaves of a shape's
    outline is an open curve."""
    x0, y0, x1, y1 = (int(v) for v in el.bboxes[e])
    h, w = el.labels.shape
    long = max((x1 - x0) / w, (y1 - y0) / h) >= RULE_LENGTH
    far = float(np.linalg.norm(el.colours[e] - el.colours[around])) >= INK_DISTANCE
    if not (long and share >= 0.9 and far):
        return False
    if min(x1 - x0, y1 - y0) <= 4:
        return max(x1 - x0, y1 - y0) >= 10 * min(x1 - x0, y1 - y0)
    mine = el.labels[y0:y1, x0:x1] == e
    return bool(ndimage.binary_fill_holes(mine).sum() >= 2 * mine.sum())


def _stray_letter(
    el: Elements, e: int, text_boxes: NDArray[np.int64], text_colours: NDArray[np.float32]
) -> bool:
    """Whether thin element ``e`` is a letter of small print that did not join its line:
    glyph-high, of a colour far from the page (ink, not an anti-aliased seam) and
    within its own height of a line of small print of the same ink (see
    :func:`~lamina.engines.classic.text.same_ink`)."""
    x0, y0, x1, y1 = (int(v) for v in el.bboxes[e])
    height = y1 - y0
    if height > SMALL_GLYPH:
        return False
    reach = height
    near = (
        (text_boxes[:, 3] - text_boxes[:, 1] <= 2 * SMALL_GLYPH)  # a line of small print:
        & (text_boxes[:, 2] - text_boxes[:, 0] >= 3 * (text_boxes[:, 3] - text_boxes[:, 1]))
        & (text_boxes[:, 0] <= x1 + reach)
        & (text_boxes[:, 2] >= x0 - reach)
        & (text_boxes[:, 1] <= y1 + reach)
        & (text_boxes[:, 3] >= y0 - reach)
    )
    if not near.any():
        return False
    mine = np.broadcast_to(el.colours[e], (int(near.sum()), 3))
    return bool(same_ink(mine, text_colours[near], el.colours[0]).any())


def join_hidden_lines(el: Elements, lab: FloatImage) -> Elements:
    """Join two pieces of one text line that an element laid over it splits apart.

    Letters group into lines only across gaps of about a letter's height, so a
    disc laid over a line leaves two lines whose depth is then judged apart.
    Pieces of one colour and height on one baseline whose gap is mostly
    (75%) covered by one other element, not a card holding both, are one
    line, partly hidden.
    """
    text = np.array([e for e, kind in enumerate(el.kinds) if kind == "text"], np.int64)
    merged = np.arange(len(el.kinds))
    for a, b in _same_line_pairs(el, text):
        if _hidden_gap(el, a, b):
            merged[merged == merged[b]] = merged[a]
    if (merged == np.arange(len(el.kinds))).all():
        return el
    joined = np.where(el.labels >= 0, merged[np.maximum(el.labels, 0)], -1).astype(np.int32)
    return _compact(joined, el.kinds, lab)


def _same_line_pairs(el: Elements, text: NDArray[np.int64]) -> list[tuple[int, int]]:
    """Pairs of text pieces (indices into ``el``, in order) of one colour that sit side by
    side on one line, apart: the candidates :func:`_hidden_gap` looks between. Rows are
    taken in blocks so that memory stays linear in the number of pieces."""
    box = el.bboxes[text].astype(np.float64)
    colour = el.colours[text]
    tall = box[:, 3] - box[:, 1]
    pairs: list[tuple[int, int]] = []
    for start in range(0, text.size, 256):
        rows = np.arange(start, min(start + 256, text.size))
        i, j = np.nonzero(rows[:, None] < np.arange(text.size)[None, :])
        i = rows[i]
        near = np.linalg.norm(colour[i] - colour[j], axis=1) < 14.0
        i, j = i[near], j[near]
        top = np.maximum(box[i, 1], box[j, 1])
        bottom = np.minimum(box[i, 3], box[j, 3])
        apart = (box[j, 0] > box[i, 2]) | (box[i, 0] > box[j, 2])
        keep = apart & (bottom - top >= 0.7 * np.maximum(tall[i], tall[j]))
        pairs += [(int(a), int(b)) for a, b in zip(text[i[keep]], text[j[keep]], strict=True)]
    return pairs


def _hidden_gap(el: Elements, a: int, b: int) -> bool:
    """Whether text pieces ``a`` and ``b`` (a :func:`_same_line_pairs` pair) have one
    element over the gap between them."""
    left, right = sorted((el.bboxes[a], el.bboxes[b]), key=lambda box: int(box[0]))
    top, bottom = int(max(left[1], right[1])), int(min(left[3], right[3]))
    gap = (int(left[2]), top, int(right[0]), bottom)
    line = (int(left[0]), int(min(left[1], right[1])), int(right[2]), int(max(left[3], right[3])))
    return covering_element(el.labels, el.bboxes, gap, line, [a, b]) is not None


SOFT_DISTANCE = 20.0
"""Lab distance from a flat backdrop's colour beyond which a pixel belongs to something on it."""


FLAT_SHARE = 0.4
"""Share of the background within 4 Lab of its most common colour for it to be a flat
backdrop that soft elements melted into."""


def _dominant_colour(pixels: FloatImage) -> NDArray[np.float32]:
    """The mean of the most common 4-Lab bin of ``pixels`` (``n x 3``): the backdrop's own
    colour, where a median would be pulled towards a large soft element."""
    bins = np.floor(pixels / 4.0).astype(np.int64)
    bins -= bins.min(axis=0)
    span = bins.max(axis=0) + 1
    keys = (bins[:, 0] * span[1] + bins[:, 1]) * span[2] + bins[:, 2]
    common = int(np.argmax(np.bincount(keys)))
    return np.asarray(pixels[keys == common].mean(axis=0), np.float32)


def soft_elements(el: Elements, lab: FloatImage) -> Elements:
    """Elements with soft edges that region growing let melt into a flat backdrop.

    Region growing joins neighbours whose colours differ a little, so a blurred
    letter or a feathered disc fades into the page through steps that are each
    small and becomes part of it. Only when layers would otherwise stay empty,
    and only over a flat backdrop (:data:`FLAT_SHARE` of it within 4 Lab of its
    most common colour: a soft element may be a large part of what was grown),
    areas of at least 0.2% of the image that lie far from the backdrop's colour
    become elements, each grown to its fading rim.
    """
    background = el.labels == 0
    if background.sum() < 64:
        return el
    blurred = cv2.GaussianBlur(lab, (0, 0), 1.0)
    colour = _dominant_colour(blurred[background])
    distance = np.linalg.norm(blurred - colour, axis=2)
    if float(np.mean(distance[background] <= 4.0)) < FLAT_SHARE:
        return el
    h, w = background.shape
    parts, count = ndimage.label(background & (distance > SOFT_DISTANCE))
    if count == 0:
        return el
    sizes = np.bincount(parts.ravel(), minlength=count + 1)
    labels = el.labels.copy()
    kinds = list(el.kinds)
    rim = background & (distance > 0.25 * SOFT_DISTANCE)
    for part in np.flatnonzero(sizes >= max(16, 0.002 * h * w)):
        if part == 0:
            continue
        grown = ndimage.binary_propagation(parts == part, mask=rim)
        labels[grown & (labels == 0)] = len(kinds)
        kinds.append("shape")
    if len(kinds) == len(el.kinds):
        return el
    return _compact(labels, kinds, lab)


SPECK_AREA = 0.002
"""Largest share of the image a speck of the backdrop, cut off by elements, can cover."""


def drop_backdrop_specks(el: Elements, lab: FloatImage, *, clean: bool | None = None) -> Elements:
    """Return small elements of the backdrop's own colour to the background.

    Between glyphs and along edges, textures (stripes, grain) break into
    islands that region growing cannot join to the rest of the backdrop. An
    element is one only if it differs from what surrounds it; a speck whose
    colour lies within the range of the background around it is backdrop. Except,
    in a clean image, small print on a plain page (:func:`_small_ink`): it leaves a
    few dark rim pixels round every letter, which put a letter's colour within the
    range though the page is white. (Among stripes an island's own colour may be
    rare round it too: glyphs cut it off.)
    """
    labels = el.labels.copy()
    h, w = labels.shape
    limit = max(16, SPECK_AREA * h * w)
    if clean is None:
        clean = is_clean(lab, labels >= 0)
    ring_kernel = np.ones((7, 7), np.uint8)
    changed = False
    for e in np.flatnonzero((el.areas <= limit) & (np.arange(len(el.kinds)) > 0)):
        x0, y0, x1, y1 = (int(v) for v in el.bboxes[e])
        ys, xs = slice(max(y0 - 4, 0), min(y1 + 4, h)), slice(max(x0 - 4, 0), min(x1 + 4, w))
        mine = labels[ys, xs] == e
        ring = cv2.dilate(mine.astype(np.uint8), ring_kernel).astype(bool) & (labels[ys, xs] == 0)
        if ring.sum() < 8:
            continue
        around = lab[ys, xs][ring]
        lo, hi = np.percentile(around, [5, 95], axis=0)
        if not ((el.colours[e] >= lo - 2.0) & (el.colours[e] <= hi + 2.0)).all():
            continue
        if not (clean and _small_ink(el, int(e), around)):
            labels[ys, xs][mine] = 0
            changed = True
    return _compact(labels, el.kinds, lab) if changed else el


def _distance(colours: FloatImage, to: NDArray[np.float32]) -> NDArray[np.float32]:
    """Lab distance of each of ``colours`` (``n x 3``) to one colour."""
    return np.asarray(np.linalg.norm(colours - to, axis=1), np.float32)


def _small_ink(el: Elements, e: int, around: FloatImage) -> bool:
    """Whether speck ``e`` is a letter of small print on a plain page, judged by the
    page pixels ``around`` it (``n x 3`` Lab): glyph-high, :data:`INK_DISTANCE` from
    the page's colour (the ring's median, most of the ring lying within 3 of it: no
    stripes, no grain), a colour a tenth of the ring does not come within 12 of."""
    height = int(el.bboxes[e, 3] - el.bboxes[e, 1])
    page = np.median(around, axis=0)
    distance = _distance(around, page)
    return bool(
        height <= SMALL_GLYPH
        and np.median(distance) < 3.0
        and float(np.linalg.norm(el.colours[e] - page)) >= INK_DISTANCE
        and np.mean(_distance(around, el.colours[e]) < 12.0) < 0.1
    )


def plan_layers(
    rgb: FloatImage, valid: Mask, num_layers: int, *, opaque: bool, seed: int
) -> list[LayerPlan]:
    """Plan ``num_layers`` layers for a working-resolution image.

    ``rgb`` is ``H x W x 3`` float straight RGB in 0..1, ``valid`` marks pixels
    opaque enough to segment. Layer 0 is the background (everywhere when
    ``opaque``); unused layers come last with ``kind == "empty"``.

    Translucent overlays (:mod:`~lamina.engines.classic.overlay`) are found
    first and peeled off; the elements are planned on what lies below them,
    and each overlay becomes a tinted layer above the elements it tints.
    """
    overlays = find_overlays(rgb, limit=max(0, num_layers - 2)) if opaque else []
    if not overlays:
        return _plan_elements(rgb, valid, num_layers, opaque=opaque, seed=seed)
    clean, peeled = peel(rgb, overlays)
    plans = _plan_elements(clean, valid, num_layers - len(overlays), opaque=opaque, seed=seed)
    for plan in plans:
        if plan.fill is None:
            plan.fill = clean  # what an overlay hides of a layer is what was peeled
    used = [p for p in plans if p.kind != "empty"]
    empty = plans[len(used) :]
    floor = 1
    for o, tinted in zip(overlays, peeled, strict=True):
        at = max(floor, _overlay_position(used, o.mask, tinted))
        used.insert(at, LayerPlan("panel", o.mask, None, tint=(o.colour, o.opacity)))
        floor = at + 1
    return used + empty


def _overlay_position(plans: list[LayerPlan], mask: Mask, tinted: Mask) -> int:
    """Where an overlay goes: above every layer it tints (one cut by its outline whose
    inside part was peeled), below the rest (text on a card, a shape laid across it).

    Only pixels a few pixels away from the outline count, so that slivers along
    the outline (anti-aliased mixtures) do not lift the overlay.
    """
    core = ndimage.binary_erosion(mask, iterations=3)
    beyond = ~ndimage.binary_dilation(mask, iterations=3)
    at = 1
    for k, plan in enumerate(plans[1:], start=1):
        area = int(plan.amodal.sum())
        inside = plan.amodal & core
        count = int(inside.sum())
        outside = int((plan.amodal & beyond).sum())
        cut = count > 0.2 * area and outside > 0.2 * area
        if cut and (inside & tinted).sum() > 0.5 * count:
            at = k + 1
    return at


def blobs(
    labels: Labels, bboxes: NDArray[np.int64], apart: NDArray[np.bool_], text: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """Each labelled element's blob: connected components of touching elements.

    The background (label 0) joins nothing, and elements marked ``apart``
    (outlines drawn over others) form a blob of their own: line art is a layer
    of its own kind, not a part of what it outlines. A text line joins the
    element it lies inside (a button's label), never one it crosses or another
    line.
    """
    n = bboxes.shape[0]
    a, b, _ = adjacency(labels)
    inside: NDArray[np.bool_] = np.logical_and(
        (bboxes[:, None, :2] >= bboxes[None, :, :2]).all(-1),
        (bboxes[:, None, 2:] <= bboxes[None, :, 2:]).all(-1),
    )
    labelled = (text[a] & ~text[b] & inside[a, b]) | (text[b] & ~text[a] & inside[b, a])
    keep = (a > 0) & ~apart[a] & ~apart[b] & ((~text[a] & ~text[b]) | labelled)
    graph = csr_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(n, n))
    _, blob = connected_components(graph, directed=False)
    return blob.astype(np.int64)


INK_FILL_WIDTH = 2.5
"""How many times an outline's half-width a part of it must be, in every direction, to be
a fill painted in the ink (black hair, a shoe) rather than line drawn round it."""


def ink_fills(el: Elements, stroke: NDArray[np.bool_], lab: FloatImage) -> Elements:
    """Areas filled in the line art's ink, cut off the outline they touch, as elements.

    Black hair touches the black outline round the face and is one region with it,
    so the hair joined the line art's layer and was no layer of its own. Line is
    thin: its half-width is the median depth along its middle (the distance
    transform's ridge), and the parts that a disc of :data:`INK_FILL_WIDTH`
    half-widths fits in, grown back by that disc, are fills, kept when at least
    :data:`SPECK_AREA` of the image (a dot for an eye stays line art). Only drawn
    outlines (``stroke``) are cut: a fill big enough to make its outline uneven
    along its middle leaves it no outline, and it is left whole (cutting every
    element whatever it is, and keeping the cut when the rest is a line, lost 0.03
    on the svg set: shapes with a thin tail are no outlines with a fill).
    """
    h, w = el.labels.shape
    labels = el.labels.copy()
    kinds = list(el.kinds)
    boxes = ndimage.find_objects(el.labels + 1, max_label=len(kinds))
    for e in np.flatnonzero(stroke):
        if boxes[e] is None:
            continue
        ys, xs = boxes[e]
        mine = np.pad(labels[ys, xs] == e, 1)
        depth = line_depth(mine)
        radius = INK_FILL_WIDTH * float(np.median(ridge_depths(depth, mine)))
        core = (depth > radius).astype(np.uint8)
        if not core.any():
            continue
        reach = cv2.distanceTransform(1 - core, cv2.DIST_L2, 3)  # any radius, one pass
        parts, count = ndimage.label(((reach <= radius) & mine)[1:-1, 1:-1])
        sizes = np.bincount(parts.ravel(), minlength=count + 1)
        for part in np.flatnonzero(sizes >= SPECK_AREA * h * w):
            if part:
                labels[ys, xs][parts == part] = len(kinds)
                kinds.append("shape")
    if len(kinds) == len(el.kinds):
        return el
    return _compact(labels, kinds, lab)


OUTLINE_SHARE = 0.6
"""Share of a pocket's rim that drawn outlines must hold for the pocket to be their fill."""


def outlined_fills(el: Elements, stroke: NDArray[np.bool_], lab: FloatImage) -> Elements:
    """Pockets of the background's colour shut inside drawn outlines become elements.

    The background takes every region of its colours, and so the white of a bowl
    or an eye that line art outlines: a fill the illustrator painted, lost to
    layer 0 because it is white like the page. A pocket of background, not the
    page itself (the largest part, and every part reaching the image edge), of at
    least :data:`SPECK_AREA` of the image, is the outlined shape's fill when at
    least :data:`OUTLINE_SHARE` of its rim lies on outlines
    (:func:`~lamina.engines.classic.order.strokes`; letters' counters lie on text,
    not outlines). A shape drawn as an outline alone, with the page showing inside,
    is read the same way: the two look alike.
    """
    if not stroke.any():
        return el
    h, w = el.labels.shape
    parts, count = ndimage.label(el.labels == 0)
    if count < 2:
        return el
    sizes = np.bincount(parts.ravel(), minlength=count + 1)
    page = np.unique(edge_pixels(parts))
    page = np.union1d(page, [int(np.argmax(sizes[1:])) + 1])
    labels = el.labels.copy()
    kinds = list(el.kinds)
    for part, sl in enumerate(ndimage.find_objects(parts), start=1):
        if sl is None or part in page or sizes[part] < max(16, SPECK_AREA * h * w):
            continue
        ys, xs = crop(
            padded_box(np.array([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop]), h, w)
        )
        pocket = parts[ys, xs] == part
        rim = ndimage.binary_dilation(pocket, structure=CROSS, iterations=2) & ~pocket
        around = el.labels[ys, xs][rim]
        if float((stroke[np.maximum(around, 0)] & (around > 0)).mean()) < OUTLINE_SHARE:
            continue
        labels[ys, xs][pocket] = len(kinds)
        kinds.append("shape")
    if len(kinds) == len(el.kinds):
        return el
    return _compact(labels, kinds, lab)


def _plan_elements(
    rgb: FloatImage, valid: Mask, num_layers: int, *, opaque: bool, seed: int
) -> list[LayerPlan]:
    """:func:`plan_layers` for an image without overlays."""
    h, w = valid.shape
    lab = to_lab(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8))
    lines = text_lines(rgb) if textdet_available() else None
    clean = is_clean(lab, valid)
    el = find_elements(lab, valid, lines, clean=clean)
    el = drop_backdrop_specks(drop_slivers(el, lab, clean=clean), lab, clean=clean)
    el = join_hidden_lines(el, lab)
    if 1 + int((el.areas[1:] >= SPECK_AREA * h * w).sum()) < num_layers:  # specks aside
        el = soft_elements(el, lab)
    stroke = strokes(el.labels, el.kinds, el.areas)
    for refine in (ink_fills, outlined_fills):
        refined = refine(el, stroke, lab)
        if refined is not el:
            el = refined
            stroke = strokes(el.labels, el.kinds, el.areas)
    m = len(el.kinds)
    group_of = np.zeros(max(m, 1), np.int64)
    groups: list[list[int]] = []
    weights = np.zeros((m, m), np.float64)
    if m > 1:
        complete = np.array([k in _COMPLETE_KINDS for k in el.kinds]) & ~stroke
        overlap = extent_overlaps(el.labels, el.bboxes, complete, hollow=stroke)
        weights = below_edges(overlap, el.areas) + stroke_cues(el.labels, stroke)
        # Border cues (T-junctions, convex outlines, gaps hidden in text lines) vote too.
        weights = weights + straight_edge_cues(el.labels, m)
        solid = complete & (el.areas >= 0.002 * h * w)  # specks' outlines say little
        is_text = np.array(el.kinds) == "text"
        weights = weights + convex_edge_cues(el.labels, m, solid, solid | is_text)
        weights = weights + hidden_gap_cues(el.labels, el.bboxes, is_text)
        weights = np.maximum(weights - weights.T, 0.0)
        sub = slice(1, m)
        gof, groups = group_elements(
            weights[sub, sub],
            el.areas[sub],
            el.bboxes[sub],
            el.colours[sub],
            el.kinds[1:],
            num_layers - 1,
            diagonal=float(np.hypot(h, w)),
            blob=blobs(el.labels, el.bboxes, stroke, is_text)[sub],
            outline=stroke[sub],
        )
        group_of[1:] = gof + 1
        groups = [[e + 1 for e in g] for g in groups]
    plans = _layer_extents(el, groups, group_of, stroke, opaque=opaque)

    owner = np.full((h, w), -1, np.int64)
    for k, plan in enumerate(plans):
        owner[plan.amodal] = k
    for k, plan in enumerate(plans):
        plan.fill = _fill_model(rgb, owner == k, plan.amodal & (owner != k), seed=seed + k)
    background = plans[0].fill
    if opaque and isinstance(background, SmoothModel):
        for k, plan in enumerate(plans[1:], start=1):
            if plan.kind in ("panel", "shape"):
                plan.tint = translucency(rgb, _core(owner == k), background)
        _attach_spill(rgb, plans, owner, background)
    elif opaque and isinstance(background, np.ndarray):
        _unblend_over_image(rgb, plans, owner, background)
    while len(plans) < num_layers:
        plans.append(LayerPlan("empty", np.zeros((h, w), bool), None))
    return plans


def _layer_extents(
    el: Elements,
    groups: list[list[int]],
    group_of: NDArray[np.int64],
    stroke: NDArray[np.bool_],
    *,
    opaque: bool,
) -> list[LayerPlan]:
    """The background's and each group's plan with its full extent: what shows, what the
    layers above hide of its elements, and the half of each outline drawn over them."""
    h, w = el.labels.shape
    layer_of_pixel = np.where(el.labels >= 0, group_of[np.maximum(el.labels, 0)], -1)
    beneath = beneath_strokes(el.labels, stroke)
    bg_visible = el.labels == 0
    if opaque:
        amodal0 = np.ones((h, w), bool)
    else:
        amodal0 = ndimage.binary_fill_holes(bg_visible) & (bg_visible | (el.labels > 0))
    plans = [LayerPlan("background", amodal0, None)]
    for k, members in enumerate(groups, start=1):
        amodal = np.zeros((h, w), bool)
        for e in members:
            ys, xs = crop(padded_box(el.bboxes[e], h, w))
            visible = el.labels[ys, xs] == e
            above = layer_of_pixel[ys, xs] > k
            if stroke[e]:
                amodal[ys, xs] |= visible
                continue
            amodal[ys, xs] |= amodal_mask(visible, above, complete=el.kinds[e] in _COMPLETE_KINDS)
        amodal |= np.isin(beneath, members) & (layer_of_pixel > k)
        kinds = {el.kinds[e] for e in members}
        plans.append(LayerPlan(kinds.pop() if len(kinds) == 1 else "element", amodal, None))
    return plans


def _unblend_over_image(
    rgb: FloatImage, plans: list[LayerPlan], owner: NDArray[np.int64], background: FloatImage
) -> None:
    """Make flat layers over an inpainted photo translucent where the photo shows through.

    The background under such a layer is then unblended from the input
    (``B = (I - a * P) / (1 - a)``) instead of inpainted: the photo comes back.
    """
    for k, plan in enumerate(plans[1:], start=1):
        if plan.kind not in ("panel", "shape"):
            continue
        mine = owner == k
        plan.tint = translucency_over_image(rgb, mine, owner, background)
        if plan.tint is not None:
            colour, opacity = plan.tint
            under = (rgb[mine] - opacity * colour) / (1.0 - opacity)
            background[mine] = np.clip(under, 0.0, 1.0)


def _core(visible: Mask) -> Mask:
    """``visible`` without its two-pixel rim (anti-aliased mixtures), unless that is most of it."""
    core = visible & ~ndimage.binary_dilation(~visible, iterations=2)
    return core if core.sum() >= 0.3 * visible.sum() and core.sum() >= 16 else visible


def translucency(
    rgb: FloatImage, visible: Mask, background: SmoothModel
) -> tuple[NDArray[np.float32], float] | None:
    """``(colour, opacity)`` when ``visible`` looks like one flat colour over ``background``.

    Over a smooth background a translucent fill reads ``I = a * P + (1 - a) * B``
    with ``B`` changing from pixel to pixel, so a regression of ``I`` on ``B``
    with one slope ``1 - a`` shared by the three channels recovers ``a`` and
    ``P``. Over a flat background the two cannot be told apart and the layer
    stays opaque (``None``), as it does when the fit is poor.
    """
    ys, xs = np.nonzero(visible)
    if ys.size < 64:
        return None
    u, v = normalised_coords(ys, xs, visible.shape)
    under = background.evaluate(u, v).astype(np.float64)
    return unblend_tint(rgb[ys, xs].astype(np.float64), under, tolerance=0.02)


def unblend_tint(
    seen: NDArray[np.float64], under: NDArray[np.float64], *, tolerance: float
) -> tuple[NDArray[np.float32], float] | None:
    """``(colour, opacity)`` of one flat colour laid over ``under`` to give ``seen``.

    Both are ``n x 3`` RGB (0..1) of the same pixels. ``I = a * P + (1 - a) * B``
    is a regression of ``I`` on ``B`` with one slope ``1 - a`` shared by the
    three channels. ``None`` when ``B`` barely varies (translucency cannot be
    told from colour), the slope is not that of a translucent fill, the colour
    falls outside 0..1, or the RMS residual exceeds ``tolerance``.
    """
    if float(under.std(axis=0).max()) < 0.03:
        return None
    centred_b = under - under.mean(axis=0)
    centred_i = seen - seen.mean(axis=0)
    slope = float((centred_b * centred_i).sum() / max(float((centred_b**2).sum()), 1e-12))
    if not 0.15 <= slope <= 0.85:
        return None
    offset = seen.mean(axis=0) - slope * under.mean(axis=0)
    residual = float(np.sqrt(np.mean((offset + slope * under - seen) ** 2)))
    opacity = 1.0 - slope
    colour = offset / opacity
    if residual > tolerance or colour.min() < -0.05 or colour.max() > 1.05:
        return None
    return np.clip(colour, 0.0, 1.0).astype(np.float32), opacity


def translucency_over_image(
    rgb: FloatImage, visible: Mask, owner: NDArray[np.int64], estimate: FloatImage
) -> tuple[NDArray[np.float32], float] | None:
    """``(colour, opacity)`` when ``visible`` looks like a flat colour over a photo.

    ``estimate`` is the background inpainted under the element; it is trusted
    only a few pixels inside the element's outline where the outline borders
    the background (``owner == 0``): there the photo just outside continues.
    """
    if visible.sum() < 256:
        return None
    distance, (iy, ix) = ndimage.distance_transform_edt(visible, return_indices=True)
    ring = visible & (distance >= 2.5) & (distance <= 6.0) & (owner[iy, ix] == 0)
    if ring.sum() < 64:
        return None
    return unblend_tint(
        rgb[ring].astype(np.float64), estimate[ring].astype(np.float64), tolerance=0.06
    )


def _attach_spill(
    rgb: FloatImage, plans: list[LayerPlan], owner: NDArray[np.int64], background: SmoothModel
) -> None:
    """Give each layer the shadow and feathering it casts on the smooth background.

    A pixel that reads as the nearest element's own colour fading out is
    feathering; failing that, a pixel darkened towards black is shadow.
    """
    if not (owner > 0).any():
        return
    side = max(owner.shape)
    nearest = nearest_element(owner)
    alpha = shadow_opacity(rgb, owner == 0, background, owner > 0)
    colour = np.full((*owner.shape, 3), SHADE, np.float32)
    feather = feather_opacity(rgb, owner, background, nearest, reach=0.04 * side)
    if feather is not None:
        soft, edge = feather
        fades = soft > 0
        alpha = soft if alpha is None else np.where(fades, soft, alpha)
        colour[fades] = edge[fades]
    if alpha is None:
        return
    skip = np.array([plan.tint is not None for plan in plans])
    for k, share in attach_spill(alpha, nearest, reach=0.06 * side, skip=skip).items():
        plans[k].spill = (share, colour)


def _fill_model(
    rgb: FloatImage, visible: Mask, hidden: Mask, *, seed: int
) -> SmoothModel | FloatImage | None:
    """The colour model that completes ``hidden`` from ``visible`` (``None``: nothing hidden)."""
    if not hidden.any():
        return None
    # Pixels next to another layer are anti-aliased mixtures: keep them out of the model.
    known = _core(visible)
    model = fit_smooth(rgb, known, seed=seed)
    if model is not None:
        return model
    if not known.any():
        return np.broadcast_to(rgb.reshape(-1, 3).mean(axis=0), rgb.shape).astype(np.float32)
    h, w = hidden.shape
    rows = np.flatnonzero((hidden | known).any(axis=1))
    cols = np.flatnonzero((hidden | known).any(axis=0))
    ys = slice(max(rows[0] - 8, 0), min(rows[-1] + 9, h))
    xs = slice(max(cols[0] - 8, 0), min(cols[-1] + 9, w))
    out = rgb.copy()
    out[ys, xs] = inpaint(rgb[ys, xs], ~known[ys, xs])
    return out
