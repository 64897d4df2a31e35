"""Unit tests of the classic engine's stages, each on arrays built to expose one behaviour."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from lamina.engines.classic.analyse import plan_layers, translucency
from lamina.engines.classic.exact import bleed, reconstruct_exactly
from lamina.engines.classic.fill import fit_smooth, inpaint
from lamina.engines.classic.group import group_elements, occluded_pieces
from lamina.engines.classic.matting import local_colour, unblend_alpha
from lamina.engines.classic.order import (
    amodal_mask,
    below_edges,
    beneath_strokes,
    depth_order,
    extent_overlaps,
)
from lamina.engines.classic.segment import (
    connected_regions,
    roughness,
    seam_pixels,
    segment,
    split_leaks,
    texture_mask,
    to_lab,
)
from lamina.engines.classic.text import group_glyphs
from lamina.imaging.composite import composite

U8 = NDArray[np.uint8]


def lab_of(rgb: U8) -> NDArray[np.float32]:
    return to_lab(rgb)


def gradient(h: int = 64, w: int = 64) -> U8:
    xs = np.linspace(30, 220, w)[None, :].repeat(h, axis=0)
    return np.stack([xs, 255 - xs, np.full_like(xs, 120)], axis=2).astype(np.uint8)


# --- segment ---------------------------------------------------------------------------


def test_gradient_is_one_region_and_an_edge_splits_two() -> None:
    rgb = gradient()
    valid = np.ones(rgb.shape[:2], bool)
    labels = connected_regions(lab_of(rgb), valid, threshold=6.0)
    assert labels.max() == 0
    rgb[:, 32:] = (10, 10, 10)
    labels = connected_regions(lab_of(rgb), valid, threshold=6.0)
    assert labels.max() == 1
    assert len(set(labels[:, :32].ravel())) == 1


def test_segment_absorbs_anti_aliased_seams() -> None:
    big = np.zeros((256, 256), np.uint8)
    cv2.circle(big, (128, 128), 70, 255, -1, lineType=cv2.LINE_AA)
    cover = cv2.resize(big, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    rgb = (cover[..., None] * (230, 30, 30) + (1 - cover[..., None]) * (20, 40, 200)).astype(
        np.uint8
    )
    labels, texture = segment(lab_of(rgb), np.ones((64, 64), bool))
    assert labels.max() == 1
    assert not texture.any()


def test_a_pale_fill_on_the_page_is_a_region_of_its_own_despite_anti_aliasing() -> None:
    # A pale skin colour on white, edges anti-aliased at 4x: along the curve, coverage
    # changes by small steps from pixel to pixel and joined the disc to the page.
    big = np.zeros((1024, 1024), np.uint8)
    cv2.ellipse(big, (512, 512), (300, 200), 20, 0, 360, 255, -1, lineType=cv2.LINE_AA)
    cover = cv2.resize(big, (256, 256), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    skin = np.array((250, 220, 190), np.float32)
    rgb = (cover[..., None] * skin + (1 - cover[..., None]) * 255.0).round().astype(np.uint8)
    labels, _ = segment(lab_of(rgb), np.ones((256, 256), bool))
    assert labels[128, 128] != labels[5, 5]
    inside = cover > 0.99
    assert (labels[inside] == labels[128, 128]).all()


def outlined_fill(side: int = 256, scale: int = 4) -> U8:
    """A dark-grey ellipse with a thick black outline on white, anti-aliased at 4x."""
    big = np.full((side * scale, side * scale, 3), 255, np.uint8)
    centre, axes = (side * scale // 2, side * scale // 2), (90 * scale, 60 * scale)
    cv2.ellipse(big, centre, axes, 25, 0, 360, (63, 63, 63), -1, lineType=cv2.LINE_AA)
    cv2.ellipse(big, centre, axes, 25, 0, 360, (0, 0, 0), 7 * scale, lineType=cv2.LINE_AA)
    return cv2.resize(big, (side, side), interpolation=cv2.INTER_AREA)


def test_a_fill_leaking_into_its_outline_through_anti_aliasing_is_split() -> None:
    rgb = outlined_fill()
    lab = lab_of(rgb)
    valid = np.ones(rgb.shape[:2], bool)
    ring = tuple(np.argwhere(rgb.sum(axis=2) == 0)[0])
    joined = connected_regions(lab, valid, threshold=6.0)
    assert joined[ring] == joined[128, 128]  # the leak this guards against
    split = split_leaks(joined, lab, threshold=6.0)
    assert split[ring] != split[128, 128]
    assert (split == split[128, 128]).sum() > 0.9 * (rgb[..., 0] == 63).sum()
    labels, _ = segment(lab, valid)
    assert labels[ring] != labels[128, 128]


def test_split_leaks_gives_each_piece_of_each_fill_one_new_label() -> None:
    # One region of three bars, A | B | A, joined through a soft ramp in the top row only,
    # beside a region of its own: the first A bar keeps the label, the others get fresh
    # ones, each a single connected piece; nothing else is touched.
    a, b = np.array([50, 0, 0], np.float32), np.array([50, 30, 0], np.float32)
    lab = np.zeros((100, 60, 3), np.float32)
    lab[:] = a
    lab[:, 20:40] = b
    for start, (src, dst) in ((17, (a, b)), (37, (b, a))):
        for k in range(7):
            lab[0, start + k] = src + (dst - src) * k / 6
    lab[50:60, 0:5] = (90, 0, 0)
    joined = connected_regions(lab, np.ones((100, 60), bool), threshold=6.0)
    assert joined.max() == 1
    split = split_leaks(joined, lab, threshold=6.0)
    assert sorted(np.unique(split)) == [0, 1, 2, 3]
    for label in range(4):
        _, pieces = ndimage.label(split == label)
        assert pieces == 1
    assert split[55, 2] == joined[55, 2]
    assert split[80, 10] == joined[80, 10] and split[80, 30] != split[80, 50]
    assert (
        split_leaks(np.zeros((0, 0), np.int32), np.zeros((0, 0, 3), np.float32), threshold=6.0).size
        == 0
    )


def test_two_tones_with_a_soft_transition_and_a_gradient_stay_whole() -> None:
    two = np.zeros((128, 128, 3), np.float32)
    two[:, :64], two[:, 64:] = (60, 160, 60), (90, 205, 90)
    two = cv2.GaussianBlur(two, (0, 0), 1.5).round().astype(np.uint8)
    for rgb in (two, gradient()):
        lab = lab_of(rgb)
        joined = connected_regions(lab, np.ones(rgb.shape[:2], bool), threshold=6.0)
        assert joined.max() == 0
        assert split_leaks(joined, lab, threshold=6.0).max() == 0


def test_seam_pixels_are_the_mixed_pixels_of_hard_edges_only() -> None:
    rgb = np.full((9, 12, 3), 255, np.uint8)
    rgb[:, 2] = (0, 0, 0)  # a one-pixel line: its middle lies between white and white
    rgb[:, 6:] = (0, 0, 0)  # a thick shape ...
    rgb[:, 5] = (128, 128, 128)  # ... whose anti-aliased edge is half grey
    seams = seam_pixels(lab_of(rgb), 6.0)
    inner = seams[1:-1, 1:-1]  # the image's own edge rows and columns are always seams
    assert inner[:, 4].all()  # column 5: between white and black
    assert not inner[:, 1].any()  # column 2: the line's core
    assert not inner[:, 6:].any() and not inner[:, 2].any()
    ramp = gradient(9, 120)  # a gradient's steps are far below twice the threshold
    assert not seam_pixels(lab_of(ramp), 6.0)[1:-1, 1:-1].any()


def test_invalid_pixels_stay_unlabelled() -> None:
    rgb = gradient(16, 16)
    valid = np.ones((16, 16), bool)
    valid[:, :4] = False
    labels, _ = segment(lab_of(rgb), valid)
    assert (labels[:, :4] == -1).all() and (labels[:, 4:] >= 0).all()


def test_texture_is_photographic_content_not_letters_or_ramps() -> None:
    rng = np.random.default_rng(0)
    rgb = np.full((128, 128, 3), 200, np.uint8)
    rgb[20:100, 20:100] = rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)
    tex = texture_mask(lab_of(rgb), np.ones((128, 128), bool))
    assert tex[30:90, 30:90].all()
    assert not tex[:10].any()
    ramp = gradient(256, 256)
    cv2.putText(ramp, "Hello", (10, 140), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (0, 0, 0), 3, cv2.LINE_AA)
    assert not texture_mask(lab_of(ramp), np.ones((256, 256), bool)).any()
    assert float(roughness(lab_of(gradient())).max()) < 1.0


# --- text ------------------------------------------------------------------------------


def test_glyphs_of_one_colour_on_one_line_group() -> None:
    boxes = np.array(
        [[0, 0, 8, 12], [10, 0, 18, 12], [20, 2, 27, 12], [0, 40, 8, 52], [40, 0, 48, 12]]
    )
    colours = np.array([[50, 0, 0]] * 4 + [[50, 60, 0]], np.float32)
    groups = group_glyphs(boxes, colours, np.ones(5, bool))
    assert groups[0] == groups[1] == groups[2]
    assert groups[3] != groups[0]  # another line, far below
    assert groups[4] != groups[0]  # another colour
    alone = group_glyphs(boxes, colours, np.array([True, False, True, True, True]))
    assert alone[1] == 1


def test_small_glyphs_of_one_ink_at_different_coverage_group() -> None:
    """7 px type on a white page: a thin letter's mean is pale grey, a bold one's near
    black, a red letter's pink; one ink (on one line from the page colour) joins a line,
    another ink does not, and without the page colour the grey letters stay apart."""
    boxes = np.array([[0, 0, 5, 7], [6, 0, 8, 7], [9, 1, 14, 7], [15, 0, 20, 7]])
    page = np.array([100, 0, 0], np.float32)
    colours = np.array([[30, 0, 0], [65, 0, 0], [45, 0, 0], [55, 50, 30]], np.float32)
    groups = group_glyphs(boxes, colours, np.ones(4, bool), page=page)
    assert groups[0] == groups[1] == groups[2]
    assert groups[3] != groups[0]
    apart = group_glyphs(boxes, colours, np.ones(4, bool))
    assert len({int(g) for g in apart[:3]}) == 3
    big = boxes * 4  # large type has solid cores: its means are its inks
    assert len({int(g) for g in group_glyphs(big, colours, np.ones(4, bool), page=page)}) == 4


# --- order -----------------------------------------------------------------------------


def test_occluded_rectangle_lies_below_and_is_completed() -> None:
    labels = np.zeros((60, 60), np.int32)
    labels[10:40, 10:40] = 1
    yy, xx = np.mgrid[0:60, 0:60]
    labels[(yy - 40) ** 2 + (xx - 40) ** 2 <= 12**2] = 2
    bboxes = np.array([[0, 0, 60, 60], [10, 10, 40, 40], [28, 28, 53, 53]])
    overlap = extent_overlaps(labels, bboxes, np.array([False, True, True]))
    areas = np.bincount(labels.ravel())
    weights = below_edges(overlap, areas)
    assert weights[1, 2] > 0 and weights[2, 1] == 0
    assert depth_order(weights[1:, 1:], areas[1:]) == [0, 1]
    full = amodal_mask(labels == 1, labels == 2, complete=True)
    assert full[10:40, 10:40].all() and not full[45:, 45:].any()
    assert (amodal_mask(labels == 1, labels == 2, complete=False) == (labels == 1)).all()


def test_depth_order_breaks_cycles_and_prefers_big_first() -> None:
    weights = np.array([[0, 1.0, 0], [0, 0, 1.0], [0.5, 0, 0]])
    order = depth_order(weights, np.array([10, 20, 30]))
    assert sorted(order) == [0, 1, 2]
    assert depth_order(np.zeros((3, 3)), np.array([5, 50, 20])) == [1, 2, 0]


# --- group -----------------------------------------------------------------------------


def test_grouping_merges_small_neighbours_first_and_keeps_depth() -> None:
    bboxes = np.array([[0, 0, 50, 50], [60, 0, 64, 4], [65, 0, 69, 4], [0, 60, 40, 100]])
    areas = np.array([2500, 16, 16, 1600])
    colours = np.zeros((4, 3), np.float32)
    weights = np.zeros((4, 4))
    weights[0, 3] = 1.0  # element 0 lies below element 3
    group_of, groups = group_elements(
        weights, areas, bboxes, colours, ["shape"] * 4, 3, diagonal=140.0
    )
    assert len(groups) == 3
    assert group_of[1] == group_of[2]
    assert group_of[0] < group_of[3]
    _, one = group_elements(weights, areas, bboxes, colours, ["shape"] * 4, 1, diagonal=140.0)
    assert len(one) == 1 and sorted(one[0]) == [0, 1, 2, 3]


def test_grouping_keeps_touching_parts_together_before_joining_separate_objects() -> None:
    # Two stickers of two touching parts each: 0+1 (left), 2+3 (right). By colour alone,
    # the red parts (0, 2) and the blue parts (1, 3) would pair up.
    bboxes = np.array([[0, 0, 20, 20], [20, 0, 40, 20], [60, 0, 80, 20], [80, 0, 100, 20]])
    areas = np.full(4, 400)
    red, blue = [50.0, 70.0, 50.0], [40.0, 10.0, -60.0]
    colours = np.array([red, blue, red, blue], np.float32)
    weights = np.zeros((4, 4))
    args = (weights, areas, bboxes, colours, ["shape"] * 4, 2)
    _, by_colour = group_elements(*args, diagonal=140.0)
    assert sorted(map(sorted, by_colour)) == [[0, 2], [1, 3]]
    _, by_object = group_elements(*args, diagonal=140.0, blob=np.array([0, 0, 1, 1]))
    assert sorted(map(sorted, by_object)) == [[0, 1], [2, 3]]
    # With layers to spare, a blob is split before two blobs share a layer.
    group_of, _ = group_elements(*args[:-1], 3, diagonal=140.0, blob=np.array([0, 0, 1, 1]))
    assert len({group_of[0], group_of[1]} & {group_of[2], group_of[3]}) == 0


# --- fill ------------------------------------------------------------------------------


def test_gradient_fit_continues_under_a_hole() -> None:
    rgb = gradient().astype(np.float32) / 255
    known = np.ones(rgb.shape[:2], bool)
    known[20:44, 20:44] = False
    model = fit_smooth(rgb, known)
    assert model is not None and model.degree <= 1
    ys, xs = np.nonzero(~known)
    u, v = (xs + 0.5) / 64, (ys + 0.5) / 64
    assert np.abs(model.evaluate(u, v) - rgb[ys, xs]).max() < 1 / 255
    noise = np.random.default_rng(1).random((64, 64, 3)).astype(np.float32)
    assert fit_smooth(noise, known) is None


def test_inpaint_fills_only_the_hole() -> None:
    rgb = np.full((32, 32, 3), 0.5, np.float32)
    hole = np.zeros((32, 32), bool)
    hole[10:20, 10:20] = True
    rgb[hole] = 1.0
    out = inpaint(rgb, hole)
    assert np.abs(out[hole] - 0.5).max() < 2 / 255
    assert (out[~hole] == rgb[~hole]).all()


def test_translucent_panel_over_a_gradient() -> None:
    under = gradient().astype(np.float32) / 255
    panel = np.array([1.0, 1.0, 1.0], np.float32)
    seen = under.copy()
    seen[16:48, 16:48] = 0.4 * panel + 0.6 * under[16:48, 16:48]
    known = np.ones((64, 64), bool)
    known[16:48, 16:48] = False
    background = fit_smooth(under, known)
    assert background is not None
    visible = ~known
    found = translucency(seen, visible, background)
    assert found is not None
    colour, opacity = found
    assert abs(opacity - 0.4) < 0.02 and np.abs(colour - panel).max() < 0.03
    flat = np.full((64, 64, 3), 0.3, np.float32)
    flat_model = fit_smooth(flat, known)
    assert flat_model is not None and translucency(flat, visible, flat_model) is None


# --- matting ---------------------------------------------------------------------------


def test_a_dark_patch_apart_from_every_element_is_no_shadow() -> None:
    from lamina.engines.classic.spill import shadow_opacity

    rgb = np.full((64, 64, 3), 0.9, np.float32)
    elements = np.zeros((64, 64), bool)
    elements[10:30, 10:30] = True
    rgb[elements] = (0.2, 0.3, 0.8)
    rgb[30:33, 12:32] = 0.6  # a shadow under the element, touching it
    rgb[50:52, 5:60] = 0.1  # a rule drawn apart from it
    page = ~elements
    background = fit_smooth(rgb, page & (rgb[..., 0] > 0.8))
    assert background is not None
    alpha = shadow_opacity(rgb, page, background, elements)
    assert alpha is not None
    assert (alpha[30:33, 12:32] > 0).all() and not alpha[50:52].any()
    elements[10:30, 10:30] = False
    assert shadow_opacity(rgb, page, background, elements) is None


def test_unblending_recovers_alpha() -> None:
    fg = np.tile(np.array([0.9, 0.1, 0.1], np.float32), (5, 1))
    bg = np.tile(np.array([0.1, 0.1, 0.8], np.float32), (5, 1))
    a = np.array([0.0, 0.25, 0.5, 0.75, 1.0], np.float32)
    image = a[:, None] * fg + (1 - a[:, None]) * bg
    alpha, ok = unblend_alpha(image, fg, bg)
    assert ok.all() and np.allclose(alpha, a, atol=1e-5)
    _, ok = unblend_alpha(image, bg + 0.01, bg)
    assert not ok.any()


def test_local_colour_spreads_the_inside_outwards() -> None:
    rgb = np.zeros((20, 20, 3), np.float32)
    inside = np.zeros((20, 20), bool)
    inside[5:15, 5:15] = True
    rgb[inside] = (0.2, 0.4, 0.6)
    out, known = local_colour(rgb, inside, sigma=2.0)
    assert known[4, 10] and np.allclose(out[4, 10], (0.2, 0.4, 0.6), atol=1e-4)


# --- exact -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_reconstruction_is_exact_for_arbitrary_plans(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = 24, 31
    image = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    if seed % 2 == 0:
        image[..., 3] = 255
    rgb = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(4)]
    alpha = [np.full((h, w), 255, np.uint8)] + [
        (rng.random((h, w)) < 0.4).astype(np.uint8) * rng.integers(1, 256, (h, w), dtype=np.uint8)
        for _ in range(3)
    ]
    before = [a.copy() for a in alpha]
    layers = reconstruct_exactly(image, rgb, alpha)
    assert all((a == b).all() for a, b in zip(alpha, before, strict=True))
    out = composite(layers)
    target = image.astype(np.float64) / 255
    assert np.abs(out[..., 3] - target[..., 3]).max() <= 0.5 / 255 + 1e-9
    shown = image[..., 3] > 0
    assert np.abs(out[..., :3] - target[..., :3])[shown].max() <= 3 / 255
    if seed % 2 == 0:
        assert (layers[0][..., 3] == 255).all()


def test_a_faint_top_pixel_keeps_its_colour_and_the_background_takes_the_rest() -> None:
    bg, fg = np.array([100, 110, 120]), np.array([250, 20, 20])
    a = 3 / 255
    image = np.zeros((4, 4, 4), np.uint8)
    image[..., :3] = np.rint(a * fg + (1 - a) * bg)
    image[..., 3] = 255
    rgb = [np.broadcast_to(bg, (4, 4, 3)).astype(np.uint8), np.zeros((4, 4, 3), np.uint8)]
    rgb[1][:2] = fg
    alpha = [np.full((4, 4), 255, np.uint8), np.zeros((4, 4), np.uint8)]
    alpha[1][:2] = 3
    layers = reconstruct_exactly(image, rgb, alpha)
    # Solving the colour from the 8-bit input would give roughly (250, 20, 20) +- 40.
    assert (layers[1][:2, :, :3] == fg).all() and (layers[1][:2, :, 3] == 3).all()
    assert np.abs(layers[0][..., :3].astype(int) - bg).max() <= 2
    out = composite(layers)
    assert np.abs(out[..., :3] - image[..., :3] / 255.0).max() <= 0.5 / 255 + 1e-9


def test_plan_has_one_layer_per_request_and_opaque_background() -> None:
    rgb = np.zeros((48, 48, 3), np.float32)
    rgb[...] = (0.1, 0.2, 0.7)
    rgb[10:22, 10:22] = (0.9, 0.8, 0.1)
    plans = plan_layers(rgb, np.ones((48, 48), bool), 4, opaque=True, seed=0)
    assert [p.kind for p in plans] == ["background", "shape", "empty", "empty"]
    assert plans[0].amodal.all()
    assert plans[1].amodal[10:22, 10:22].all() and not plans[1].amodal[:8].any()


def test_bleed_gives_transparent_pixels_the_nearest_visible_colour() -> None:
    rgb = np.zeros((6, 8, 3), np.uint8)
    alpha = np.zeros((6, 8), np.uint8)
    rgb[1, 1], alpha[1, 1] = (200, 10, 10), 255
    rgb[4, 6], alpha[4, 6] = (10, 10, 200), 128
    out = bleed(rgb, alpha)
    assert (out[0, 0] == (200, 10, 10)).all() and (out[5, 7] == (10, 10, 200)).all()
    assert (out[alpha > 0] == rgb[alpha > 0]).all()
    assert not bleed(rgb, np.zeros((6, 8), np.uint8)).any()


def test_a_straight_edge_running_on_past_a_junction_lies_on_top() -> None:
    from lamina.engines.classic.order import straight_edge_cues

    labels = np.zeros((120, 120), np.int32)
    disc = np.zeros((120, 120), np.uint8)
    cv2.circle(disc, (60, 40), 30, 1, -1)
    labels[disc.astype(bool)] = 1
    labels[55:100, 20:100] = 2  # a card whose top edge cuts the disc and runs on
    cues = straight_edge_cues(labels, 3)
    assert cues[1, 2] > 0 and cues[2, 1] == 0

    labels = np.zeros((120, 120), np.int32)
    labels[30:90, 20:80] = 1
    cut = np.zeros((120, 120), np.uint8)
    cv2.circle(cut, (85, 60), 22, 1, -1)
    labels[cut.astype(bool)] = 2  # a disc over the card's side: a curved cut
    cues = straight_edge_cues(labels, 3)
    assert cues[2, 1] == 0


def test_a_border_bowing_into_an_element_is_the_outline_of_the_one_on_top() -> None:
    from lamina.engines.classic.order import convex_edge_cues

    eligible = np.array([False, True, True])
    for top, bottom in ((1, 2), (2, 1)):
        labels = np.zeros((120, 160), np.int32)
        under = np.zeros((120, 160), np.uint8)
        cv2.ellipse(under, (100, 60), (40, 30), 15, 0, 360, 1, -1)
        over = np.zeros((120, 160), np.uint8)
        cv2.circle(over, (55, 60), 35, 1, -1)
        labels[under.astype(bool)] = bottom
        labels[over.astype(bool)] = top  # the disc hides the ellipse's left end
        cues = convex_edge_cues(labels, 3, eligible, eligible)
        assert cues[bottom, top] > 0 and cues[top, bottom] == 0

    labels = np.zeros((120, 160), np.int32)
    labels[20:100, 20:80] = 1
    labels[20:100, 80:140] = 2  # a straight border says nothing
    assert not convex_edge_cues(labels, 3, eligible, eligible).any()
    disc = np.zeros((120, 160), np.uint8)
    cv2.circle(disc, (90, 60), 30, 1, -1)
    labels[disc.astype(bool)] = 2  # curved, but an element not judged is left out
    assert convex_edge_cues(labels, 3, eligible, eligible).any()
    card_only = np.array([False, True, False])
    assert not convex_edge_cues(labels, 3, card_only, card_only).any()

    labels = np.zeros((120, 160), np.int32)
    labels[40:90, 70:150] = 1
    angles = np.arange(16) * np.pi / 8 + 0.2
    radii = np.where(np.arange(16) % 2 == 0, 40, 16)
    star = np.stack([70 + radii * np.cos(angles), 62 + radii * np.sin(angles)], 1)
    mask = np.zeros((120, 160), np.uint8)
    cv2.fillPoly(mask, [star.round().astype(np.int32)], 1)
    labels[mask.astype(bool)] = 2  # a star over the card's side: its spikes bow both ways
    assert not convex_edge_cues(labels, 3, eligible, eligible).any()


def test_a_disc_laid_over_a_line_of_text_is_above_it_and_text_on_a_disc_below() -> None:
    from lamina.engines.classic.order import convex_edge_cues

    def letters(labels: NDArray[np.int32], y: int) -> None:
        for x in range(10, 150, 16):
            labels[y : y + 24, x : x + 4] = 2  # upright strokes of one text line
            labels[y : y + 4, x : x + 12] = 2

    solid, judged = np.array([False, True, False]), np.array([False, True, True])
    labels = np.zeros((120, 160), np.int32)
    letters(labels, 30)
    disc = np.zeros((120, 160), np.uint8)
    cv2.circle(disc, (80, 75), 40, 1, -1)
    labels[disc.astype(bool)] = 1  # the disc hides the lower ends of some strokes
    cues = convex_edge_cues(labels, 3, solid, judged)
    assert cues[2, 1] > 0 and cues[1, 2] == 0

    labels = np.zeros((120, 160), np.int32)
    labels[disc.astype(bool)] = 1
    letters(labels, 32)  # strokes laid across the disc's top: they touch it inside its hull
    assert not convex_edge_cues(labels, 3, solid, judged).any()


def test_thin_shape_elements_join_their_neighbour() -> None:
    from lamina.engines.classic.analyse import Elements, bounding_boxes, drop_slivers
    from lamina.engines.classic.segment import region_means

    labels = np.zeros((60, 60), np.int32)
    labels[10:40, 10:40] = 1  # a card
    labels[40, 5:55] = 2  # a one-pixel seam along its lower edge, running on beyond it
    labels[50, 5:55] = 3  # a rule drawn on the page: one region on both sides
    lab = np.zeros((60, 60, 3), np.float32)
    lab[labels == 1] = (50, 20, 20)
    lab[labels == 2] = (40, 0, 0)
    lab[labels == 3] = (40, 0, 0)
    colours, areas = region_means(lab, labels, 4)
    kinds = ["background", "shape", "shape", "shape"]
    el = Elements(labels, kinds, areas, bounding_boxes(labels, 4), colours)
    out = drop_slivers(el, lab)
    assert out.kinds == ["background", "shape", "shape"]
    assert (out.labels[40, 5:55] == 0).all()
    assert (out.labels[10:40, 10:40] == 1).all()
    assert (out.labels[50, 5:55] == 2).all()
    # A rule too thick for its length, too close to the page's colour or an open curve
    # is a sliver too; a closed frame is not.
    arc = np.zeros((60, 60), np.uint8)
    cv2.ellipse(arc, (30, 52), (20, 6), 0, 180, 360, 1, 1)
    frame = np.zeros((60, 60), bool)
    frame[44:58, 10:50] = True
    frame[46:56, 12:48] = False
    thick, pale = np.zeros((60, 60), bool), np.zeros((60, 60), bool)
    thick[49:52, 5:25] = True
    pale[50, 5:55] = True
    for mask, colour, kept in ((thick, 40, 0), (pale, 15, 0), (arc > 0, 40, 0), (frame, 40, 1)):
        labels[labels == 3] = 0
        labels[mask] = 3
        lab[labels == 3] = (colour, 0, 0)
        colours, areas = region_means(lab, labels, 4)
        el = Elements(labels, kinds, areas, bounding_boxes(labels, 4), colours)
        assert len(drop_slivers(el, lab).kinds) == 2 + kept
    # One too short for the image: 12 of 100 pixels, though twelve times as long as thin.
    labels = np.zeros((100, 100), np.int32)
    labels[50, 10:22] = 1
    lab = np.zeros((100, 100, 3), np.float32)
    lab[labels == 1] = (40, 0, 0)
    colours, areas = region_means(lab, labels, 2)
    el = Elements(labels, ["background", "shape"], areas, bounding_boxes(labels, 2), colours)
    assert drop_slivers(el, lab).kinds == ["background"]


def test_a_fill_in_the_ink_comes_off_the_line_art() -> None:
    """Black hair drawn against the face's black outline is one region with it; the
    outline is thin and the hair is not, so the hair becomes an element of its own.
    A dot on the outline (a knot) and a thin black strap are line art still."""
    from lamina.engines.classic.analyse import Elements, bounding_boxes, ink_fills
    from lamina.engines.classic.order import strokes
    from lamina.engines.classic.segment import region_means

    def face(hair: bool) -> tuple[Elements, NDArray[np.float32]]:
        labels = np.zeros((600, 600), np.int32)
        cv2.circle(labels, (300, 320), 250, 1, -1)
        cv2.circle(labels, (300, 320), 250, 2, 4)  # the outline, 4-5 px wide ...
        cv2.line(labels, (60, 320), (540, 320), 2, 4)  # ... and lines drawn on the face
        cv2.line(labels, (300, 80), (300, 560), 2, 4)
        cv2.circle(labels, (550, 320), 8, 2, -1)  # a knot, under a speck's area
        labels[320:420, 145:155] = 2  # a strap 10 px wide hanging from a line
        if hair:
            cv2.ellipse(labels, (300, 70), (30, 12), 0, 0, 360, 2, -1)  # 24 px thick
        lab = np.zeros((600, 600, 3), np.float32)
        lab[..., 0] = 100.0
        lab[labels == 1] = (70, 15, 30)
        lab[labels == 2] = (1, 0, 0)
        colours, areas = region_means(lab, labels, 3)
        kinds = ["background", "shape", "shape"]
        return Elements(labels, kinds, areas, bounding_boxes(labels, 3), colours), lab

    el, lab = face(hair=True)
    stroke = strokes(el.labels, el.kinds, el.areas)
    assert stroke.tolist() == [False, False, True]  # the hair leaves it an outline
    out = ink_fills(el, stroke, lab)
    assert out.kinds == ["background", "shape", "shape", "shape"]
    hair = np.zeros((600, 600), np.uint8)
    cv2.ellipse(hair, (300, 70), (30, 12), 0, 0, 360, 1, -1)
    assert (out.labels[hair > 0] == 3).mean() > 0.9  # the hair, whole
    assert out.labels[320, 100] == 2 and out.labels[320, 550] == 2  # a line and the knot
    assert (out.labels[322:420, 146:154] == 2).all()  # the strap
    assert ink_fills(el, np.array([False, False, False]), lab) is el  # outlines only
    el, lab = face(hair=False)
    assert ink_fills(el, strokes(el.labels, el.kinds, el.areas), lab) is el


def test_a_stray_letter_of_small_print_is_no_sliver() -> None:
    """An ``l`` of 7 px type that did not join its line is as thin as a seam, but it is
    ink beside a line of the same ink: it stays an element. The same stroke far from
    any line, or one of the page's own colour beside it, is a sliver still."""
    from lamina.engines.classic.analyse import Elements, bounding_boxes, drop_slivers
    from lamina.engines.classic.segment import region_means

    labels = np.zeros((40, 80), np.int32)
    labels[10:17, 10:40] = 1  # a line of small print (one element)
    labels[10:17, 42] = 2  # a one-pixel-wide letter beside it
    labels[30:37, 70] = 3  # the same stroke far from any line
    labels[10:17, 6] = 4  # a pale seam beside the line
    lab = np.zeros((40, 80, 3), np.float32)
    lab[..., 0] = 100.0
    lab[labels == 1] = (30, 0, 0)
    lab[labels == 2] = (55, 0, 0)  # mostly anti-aliased: grey, on the black line's axis
    lab[labels == 3] = (55, 0, 0)
    lab[labels == 4] = (90, 0, 0)
    colours, areas = region_means(lab, labels, 5)
    kinds = ["background", "text", "shape", "shape", "shape"]
    el = Elements(labels, kinds, areas, bounding_boxes(labels, 5), colours)
    out = drop_slivers(el, lab, clean=True)
    assert out.kinds == ["background", "text", "shape"]
    assert (out.labels[10:17, 42] == 2).all()
    assert (out.labels[30:37, 70] == 0).all() and (out.labels[10:17, 6] == 0).all()
    assert drop_slivers(el, lab, clean=False).kinds == ["background", "text"]  # a photo
    lab[labels == 2] = (55, 60, 40)  # a red stroke beside the black line: another ink
    colours, areas = region_means(lab, labels, 5)
    el = Elements(labels, kinds, areas, bounding_boxes(labels, 5), colours)
    assert drop_slivers(el, lab, clean=True).kinds == ["background", "text"]


def test_a_text_line_split_by_a_shape_laid_over_it_is_one_element() -> None:
    from lamina.engines.classic.analyse import Elements, bounding_boxes, join_hidden_lines
    from lamina.engines.classic.segment import region_means

    def pieces(cover: bool, second_colour: float) -> Elements:
        labels = np.zeros((80, 200), np.int32)
        for x in range(10, 60, 12):
            labels[30:50, x : x + 6] = 1  # the line's left letters
        for x in range(130, 190, 12):
            labels[30:50, x : x + 6] = 2  # and its right letters
        if cover:
            disc = np.zeros((80, 200), np.uint8)
            cv2.circle(disc, (95, 40), 36, 1, -1)
            labels[disc.astype(bool)] = 3  # a disc hides the middle of the line
        lab = np.zeros((80, 200, 3), np.float32)
        lab[labels == 1] = (30, 40, 10)
        lab[labels == 2] = (30, 40, second_colour)
        lab[labels == 3] = (80, -20, 30)
        colours, areas = region_means(lab, labels, 4)
        kinds = ["background", "text", "text", "shape"]
        return Elements(labels, kinds, areas, bounding_boxes(labels, 4), colours)

    for cover, colour, joined in ((True, 10.0, True), (False, 10.0, False), (True, 60.0, False)):
        el = pieces(cover, colour)
        lab = np.zeros((*el.labels.shape, 3), np.float32)
        lab[...] = el.colours[np.maximum(el.labels, 0)]
        out = join_hidden_lines(el, lab)
        assert (out.labels[40, 12] == out.labels[40, 144]) == joined


def test_a_shape_hiding_the_middle_of_a_text_line_lies_above_it() -> None:
    from lamina.engines.classic.analyse import bounding_boxes
    from lamina.engines.classic.order import hidden_gap_cues

    labels = np.zeros((80, 240), np.int32)
    labels[20:70, 5:235] = 1  # a card holding the whole line
    for x in [*range(20, 80, 12), *range(160, 220, 12)]:
        labels[35:55, x : x + 6] = 2  # one line of letters with a wide gap in the middle
    is_text = np.array([False, False, True, False])
    assert not hidden_gap_cues(labels, bounding_boxes(labels, 4), is_text).any()
    labels[25:60, 80:156] = 3  # a square laid over the gap
    cues = hidden_gap_cues(labels, bounding_boxes(labels, 4), is_text)
    assert cues[2, 3] > 0 and cues[2, 1] == 0 and cues[3].sum() == 0


def test_specks_of_the_backdrop_go_back_to_the_background() -> None:
    from lamina.engines.classic.analyse import Elements, bounding_boxes, drop_backdrop_specks
    from lamina.engines.classic.segment import region_means

    lab = np.zeros((80, 80, 3), np.float32)
    lab[..., 0] = np.where((np.arange(80)[None, :] + np.arange(80)[:, None]) % 8 < 4, 40, 60)
    lab[..., 1] = 50.0
    labels = np.zeros((80, 80), np.int32)
    labels[20:40, 10:30] = 1  # a card of its own colour
    lab[20:40, 10:30] = (70, -30, 20)
    labels[50:54, 50:54] = 2  # an island of the stripes, cut off by glyphs
    lab[50:54, 50:54, 0] = 50.0
    labels[60:64, 10:14] = 3  # a small dot of another colour: a real element
    lab[60:64, 10:14] = (50, -40, 30)
    colours, areas = region_means(lab, labels, 4)
    kinds = ["background", "shape", "shape", "shape"]
    el = Elements(labels, kinds, areas, bounding_boxes(labels, 4), colours)
    out = drop_backdrop_specks(el, lab)
    assert out.kinds == ["background", "shape", "shape"]
    assert (out.labels[50:54, 50:54] == 0).all()
    assert (out.labels[60:64, 10:14] == 2).all() and (out.labels[20:40, 10:30] == 1).all()


def test_a_letter_among_ink_left_on_a_clean_page_stays_an_element() -> None:
    """On a page of small print the page keeps a few dark pixels (other letters' rims)
    round each letter, so the letter's colour lies within the 5..95% range of its
    surround; it is still no backdrop: hardly any of the surround has its colour."""
    from lamina.engines.classic.analyse import Elements, bounding_boxes, drop_backdrop_specks
    from lamina.engines.classic.segment import region_means

    lab = np.zeros((40, 40, 3), np.float32)
    lab[..., 0] = 100.0  # a white page
    labels = np.zeros((40, 40), np.int32)
    labels[18:22, 18:21] = 1  # a small black letter
    lab[18:22, 18:21, 0] = 20.0
    lab[16, 15:21, 0] = 15.0  # six dark rim pixels of the letters around it, left as page
    colours, areas = region_means(lab, labels, 2)
    el = Elements(labels, ["background", "text"], areas, bounding_boxes(labels, 2), colours)
    assert drop_backdrop_specks(el, lab).kinds == ["background", "text"]
    # An island of a pale stripe, as rare round it but close to the page's colour, is
    # backdrop still (glyphs cut it off from its stripe).
    lab[18:22, 18:21, 0] = 80.0
    lab[16, 15:21, 0] = 78.0
    colours, areas = region_means(lab, labels, 2)
    el = Elements(labels, ["background", "text"], areas, bounding_boxes(labels, 2), colours)
    assert drop_backdrop_specks(el, lab, clean=True).kinds == ["background"]
    # Dark among stripes: the ring is no plain page, so the range test decides.
    lab[::2, :, 0] = np.where(labels[::2] == 0, 60.0, lab[::2, :, 0])
    lab[18:22, 18:21, 0] = 20.0
    lab[16, 15:21, 0] = 15.0
    colours, areas = region_means(lab, labels, 2)
    el = Elements(labels, ["background", "text"], areas, bounding_boxes(labels, 2), colours)
    assert drop_backdrop_specks(el, lab, clean=True).kinds == ["background"]


def test_a_rounded_card_is_completed_under_what_covers_its_corner() -> None:
    from lamina.engines.classic.order import amodal_mask
    from lamina.engines.classic.overlay import box_mask

    card = box_mask((100, 100), (20, 20, 80, 80), 12)
    above = np.zeros((100, 100), bool)
    above[10:40, 10:40] = True  # a square over the card's top-left corner
    extent = amodal_mask(card & ~above, above, complete=True)
    assert extent[25, 25] and extent[32, 22]  # the hidden corner area comes back
    assert not extent[21, 21]  # rounded, not square
    assert not (extent & ~card).any()


def test_an_outline_between_two_fills_hides_half_of_each() -> None:
    labels = np.zeros((8, 12), np.int32)
    labels[:, 2:5] = 1  # a fill
    labels[:, 5:9] = 3  # an outline, four pixels wide
    labels[:, 9:] = 2  # another fill
    labels[0, 0] = -1  # a transparent pixel
    stroke = np.array([False, False, False, True])
    beneath = beneath_strokes(labels, stroke)
    assert (beneath[:, 5:7] == 1).all() and (beneath[:, 7:9] == 2).all()
    assert (beneath[:, :5] == -1).all() and (beneath[:, 9:] == -1).all()
    assert (beneath_strokes(labels, np.zeros(4, bool)) == -1).all()  # no outline
    assert (beneath_strokes(np.full((4, 4), 3, np.int32), stroke) == -1).all()  # only one


def test_grouping_keeps_fills_apart_from_the_outline_drawn_over_them() -> None:
    # Line art: a dark-grey body (0) and a red wheel (1), both under one black outline (2).
    # By colour the body would join the outline; the outline lies on both, so the fills
    # share a layer and the outline keeps its own.
    bboxes = np.array([[10, 10, 60, 40], [20, 40, 40, 60], [8, 8, 62, 62]])
    areas = np.array([1500, 1000, 500])
    grey, red, black = [27.0, 0.0, 0.0], [55.0, 60.0, 40.0], [0.0, 0.0, 0.0]
    colours = np.array([grey, red, black], np.float32)
    weights = np.zeros((3, 3))
    weights[0, 2] = weights[1, 2] = 1.0
    args = (weights, areas, bboxes, colours, ["shape"] * 3, 2)
    _, by_colour = group_elements(*args, diagonal=100.0)
    assert sorted(map(sorted, by_colour)) == [[0, 2], [1]]
    group_of, by_depth = group_elements(*args, diagonal=100.0, outline=np.array([0, 0, 1], bool))
    assert by_depth == [[0, 1], [2]]
    assert group_of[2] == 1


@pytest.mark.parametrize("order", [list(range(10)), [5, 9, 0, 1, 2, 3, 4, 6, 7, 8]])
def test_an_inked_illustration_splits_into_line_art_over_fills_grouped_by_colour(
    order: list[int],
) -> None:
    # A face (0) and a hand (1) of one skin colour, apart; hair (2) nearer the face;
    # a shirt (3); one black outline (4) drawn over all, though a stray cue puts it under
    # the hair; an eye (5) of its ink and a mouth (6) of another ink, both on the face
    # and in its blob; a dark-grey button (7) on the shirt, nearer the outline's colour
    # than the shirt's; a black speck (8) on nothing; black text (9) on a panel (10).
    # ``order`` lists the elements as they are numbered (labels come in raster order,
    # so an eye can come before its outline).
    fills = [[20, 10, 60, 50], [90, 55, 110, 75], [20, 0, 60, 15], [20, 60, 70, 90]]
    marks = [[0, 0, 150, 100], [30, 20, 36, 26], [35, 40, 45, 44], [40, 70, 46, 76]]
    others = [[140, 90, 143, 93], [160, 10, 190, 20], [155, 5, 195, 40]]
    bboxes = np.array([*fills, *marks, *others])
    areas = np.array([1600, 400, 500, 2000, 3000, 36, 40, 30, 9, 120, 1400])
    skin, hair, shirt = [70.0, 15.0, 30.0], [30.0, 15.0, 25.0], [45.0, 10.0, -50.0]
    black, red, grey = [1.0, 0.0, 0.0], [45.0, 60.0, 40.0], [20.0, 0.0, 0.0]
    panel = [90.0, 0.0, 10.0]
    colours = [skin, skin, hair, shirt, black, black, red, grey, black, black, panel]
    weights = np.zeros((11, 11))
    weights[[0, 1, 3], 4] = 1.0  # the fills lie under the outline ...
    weights[4, 2] = 1.0  # ... but a stray cue puts it under the hair
    weights[0, [5, 6]] = 1.0  # the eye and the mouth lie on the face
    weights[3, 7] = 1.0
    weights[10, 9] = 1.0  # the text lies on the panel
    blob = np.array([0, 1, 2, 3, 4, 0, 0, 5, 6, 7, 7])
    kinds = ["shape"] * 9 + ["text", "panel"]
    outline = np.zeros(11, bool)
    outline[4] = True
    p = np.array([*order, 10])
    group_of, groups = group_elements(
        weights[np.ix_(p, p)],
        areas[p],
        bboxes[p],
        np.array(colours, np.float32)[p],
        [kinds[e] for e in p],
        5,
        diagonal=250.0,
        blob=blob[p],
        outline=outline[p],
    )
    group = dict(zip(p.tolist(), group_of.tolist(), strict=True))
    assert sorted(p[groups[-1]].tolist()) == [4, 5]  # the line art, with the eye, on top
    assert group[6] == group[0] == group[1]  # the skin, with the mouth
    assert len({group[0], group[2], group[3]}) == 3
    assert group[7] == group[3]  # the line art takes no fill while fills can merge
    assert group[9] != group[4] and group[8] != group[4]


def test_pieces_of_one_shape_cut_by_another_share_a_layer() -> None:
    # A white band cut in two (0, 2) by a red bar (1) drawn across it, each piece with a
    # blue badge on it (3 on 0, 4 on 2): a flag's white saltire under its red cross.
    # Left to cost and blobs, each piece would go with its own badge.
    bboxes = np.array(
        [[0, 40, 45, 60], [45, 0, 55, 100], [55, 40, 100, 60], [10, 45, 20, 55], [80, 45, 90, 55]]
    )
    areas = np.array([900, 1000, 900, 100, 100])
    white, red, blue = [100.0, 0.0, 0.0], [45.0, 60.0, 40.0], [30.0, 20.0, -60.0]
    colours = np.array([white, red, [99.0, 0.5, 0.5], blue, blue], np.float32)
    weights = np.zeros((5, 5))
    weights[[0, 2], 1] = 1.0  # both pieces lie under the bar
    weights[0, 3] = weights[2, 4] = 1.0
    blob = np.array([0, 1, 2, 0, 2])
    group_of, _ = group_elements(
        weights, areas, bboxes, colours, ["shape"] * 5, 3, diagonal=141.0, blob=blob
    )
    assert group_of[0] == group_of[2] != group_of[1]


def test_pieces_chained_through_two_cuts_all_share_a_layer() -> None:
    # White 0 and 1 lie under bar 2; white 1 and 3 under bar 4. After 0 and 1 merge,
    # the pair (1, 3) must reach 1's group, not 1 itself, or 3 is lost.
    bboxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [10, 0, 20, 10], [40, 0, 50, 10]])
    bboxes = np.vstack([bboxes, [[30, 0, 40, 10]]])
    white, red = [100.0, 0.0, 0.0], [45.0, 60.0, 40.0]
    colours = np.array([white, white, red, white, red], np.float32)
    weights = np.zeros((5, 5))
    weights[[0, 1], 2] = weights[[1, 3], 4] = 1.0
    group_of, groups = group_elements(
        weights, np.full(5, 100), bboxes, colours, ["shape"] * 5, 3, diagonal=51.0
    )
    assert sorted(e for g in groups for e in g) == [0, 1, 2, 3, 4]
    assert group_of[0] == group_of[1] == group_of[3] != group_of[2]


def test_the_line_art_is_gathered_before_cut_pieces() -> None:
    # An outline (0) with an eye of its ink (1) on the skin (2); white pieces (3, 4)
    # under a red bar (5). With one merge to make, the eye joins the line art.
    bboxes = np.array(
        [[0, 0, 100, 100], [30, 30, 35, 35], [20, 20, 60, 60], [70, 0, 80, 10], [90, 0, 99, 10]]
    )
    bboxes = np.vstack([bboxes, [[80, 0, 90, 10]]])
    black, skin = [1.0, 0.0, 0.0], [70.0, 15.0, 30.0]
    white, red = [100.0, 0.0, 0.0], [45.0, 60.0, 40.0]
    colours = np.array([black, black, skin, white, white, red], np.float32)
    weights = np.zeros((6, 6))
    weights[2, [0, 1]] = 1.0
    weights[[3, 4], 5] = 1.0
    outline = np.array([1, 0, 0, 0, 0, 0], bool)
    group_of, _ = group_elements(
        weights,
        np.array([800, 25, 1600, 100, 90, 100]),
        bboxes,
        colours,
        ["shape"] * 6,
        5,
        diagonal=141.0,
        outline=outline,
    )
    assert group_of[0] == group_of[1]
    assert group_of[3] != group_of[4]


def test_only_pieces_of_one_colour_under_one_element_are_one_shape() -> None:
    below = np.zeros((5, 5), bool)
    below[[0, 1, 2], 4] = True  # 0, 1 and 2 lie under 4; 3 lies under nothing
    below[4, 3] = True
    white = [100.0, 0.0, 0.0]
    colours = np.array([white, white, [92.0, 0.0, 0.0], white, white])
    outline = np.zeros(5, bool)
    assert occluded_pieces(below, colours, outline) == [(0, 1)]
    outline[1] = True  # an outline is drawn whole, never cut
    assert occluded_pieces(below, colours, outline) == []
    outline[:] = False
    outline[4] = True  # nor does it cut: every fill of an illustration lies under it
    assert occluded_pieces(below, colours, outline) == []


def test_cues_through_the_line_art_do_not_keep_two_fills_apart() -> None:
    # Two pieces of one fill (0, 1), a red fill (2), the outline (3) and an eye (4) of its
    # ink on piece 1. The outline lies on 0 and, by a stray cue, under 1: 0 < line art <
    # 1 in depth. Line art is drawn over every fill, so that path says nothing and the
    # two pieces share a layer.
    bboxes = np.array([[0, 0, 20, 20], [30, 0, 50, 20], [60, 0, 80, 20], [0, 0, 80, 20]])
    bboxes = np.vstack([bboxes, [[32, 2, 36, 6]]])
    areas = np.array([400, 400, 300, 500, 16])
    skin, red, black = [70.0, 15.0, 30.0], [45.0, 60.0, 40.0], [1.0, 0.0, 0.0]
    colours = np.array([skin, skin, red, black, black], np.float32)
    weights = np.zeros((5, 5))
    weights[0, 3] = weights[2, 3] = weights[1, 4] = 1.0
    weights[3, 1] = 1.0  # the stray cue
    group_of, _ = group_elements(
        weights,
        areas,
        bboxes,
        colours,
        ["shape"] * 5,
        3,
        diagonal=90.0,
        outline=np.array([0, 0, 0, 1, 0], bool),
    )
    assert group_of[0] == group_of[1] != group_of[2]
    assert group_of[3] == group_of[4] == 2


def test_an_ink_pixel_the_page_kept_inside_a_letter_joins_the_letter() -> None:
    """At 7 px a letter's darkest pixel can be a one-pixel island its lighter strokes
    surround, handed to the page: too small to be a mark, it joins the letter it
    touches. A lone dark pixel touching no letter stays page (noise, not ink)."""
    from lamina.engines.classic.segment import page_ink

    lab = np.zeros((30, 30, 3), np.float32)
    lab[..., 0] = 100.0
    labels = np.zeros((30, 30), np.int32)
    labels[9:14, 9:14] = 1  # a letter's strokes, grey from anti-aliasing
    lab[9:14, 9:14, 0] = 55.0
    labels[11, 11] = 0  # its darkest pixel, lost to the page
    lab[11, 11, 0] = 20.0
    lab[24, 24, 0] = 20.0  # a lone dark pixel on the page
    labels[3:6, 20:27] = 2  # a pale yellow panel
    lab[3:6, 20:27] = (95, -5, 60)
    lab[6, 23, 0] = 20.0  # a black pixel beside it: another ink
    out = page_ink(labels, lab, np.zeros((30, 30), bool), threshold=6.0)
    assert out[11, 11] == 1
    assert out[24, 24] == 0
    assert out[6, 23] == 0
