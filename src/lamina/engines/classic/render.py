"""Full-resolution layers from a working-resolution plan.

Extents are upsampled, hidden pixels take their layer's colour model, and
alpha is recomputed by unblending only in a thin band along each edge, where
the upsampled mask is unsure and anti-aliasing lives. The exact-reconstruction
pass runs afterwards and owns the final colours.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from lamina.engines.classic.analyse import LayerPlan
from lamina.engines.classic.fill import SmoothModel, normalised_coords
from lamina.engines.classic.matting import local_colour, unblend_alpha
from lamina.engines.classic.segment import CROSS

Mask = NDArray[np.bool_]


def upsample_mask(mask: Mask, shape: tuple[int, int]) -> Mask:
    """Bilinear upsampling of a boolean mask to ``shape = (H, W)``, thresholded at one half."""
    if mask.shape == shape:
        return mask.copy()
    if not mask.any():
        return np.zeros(shape, bool)
    up = cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return up >= 0.5


def _upsample_float(values: NDArray[np.float32], shape: tuple[int, int]) -> NDArray[np.float32]:
    """Bilinear resize of a working-resolution float map to ``shape = (H, W)``."""
    if values.shape == shape:
        return values
    out = cv2.resize(values, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.asarray(out, np.float32)


def _hidden_colours(
    fill: SmoothModel | NDArray[np.float32],
    ys: NDArray[np.intp],
    xs: NDArray[np.intp],
    shape: tuple[int, int],
) -> NDArray[np.float32]:
    if isinstance(fill, SmoothModel):
        u, v = normalised_coords(ys, xs, shape)
        return fill.evaluate(u, v)
    h, w = shape
    fh, fw = fill.shape[:2]
    if (fh, fw) == (h, w):
        return fill[ys, xs]
    # Sample the working-resolution fill bilinearly at the full-resolution pixel centres.
    fx = np.clip((xs + 0.5) * (fw / w) - 0.5, 0, fw - 1)
    fy = np.clip((ys + 0.5) * (fh / h) - 0.5, 0, fh - 1)
    x0, y0 = np.floor(fx).astype(np.intp), np.floor(fy).astype(np.intp)
    x1, y1 = np.minimum(x0 + 1, fw - 1), np.minimum(y0 + 1, fh - 1)
    wx, wy = (fx - x0)[:, None], (fy - y0)[:, None]
    top = fill[y0, x0] * (1 - wx) + fill[y0, x1] * wx
    bottom = fill[y1, x0] * (1 - wx) + fill[y1, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def _bbox_slices(mask: Mask, pad: int) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, h)),
        slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, w)),
    )


def render_layers(
    image: NDArray[np.uint8], plans: list[LayerPlan], *, band: int
) -> tuple[list[NDArray[np.uint8]], list[NDArray[np.uint8]]]:
    """Colour (``H x W x 3``) and alpha (``H x W``) planes of every planned layer.

    ``image`` is the full-resolution ``H x W x 4`` ``uint8`` input; ``band`` is
    the half-width in pixels of the edge band where alpha is unblended.
    (Longer than 80 lines on purpose: the ownership map built first is read by every
    plan's edge band and colour fill below it; split up, each part would take all of it.)
    """
    h, w = image.shape[:2]
    shape = (h, w)
    rgb_in = image[..., :3]
    image_f = rgb_in.astype(np.float32) / 255.0
    input_opaque = image[..., 3] == 255
    masks = [upsample_mask(p.amodal, shape) for p in plans]
    owner = np.full(shape, -1, np.int64)
    for k, m in enumerate(masks):
        owner[m] = k
    colours: list[NDArray[np.uint8]] = []
    alphas: list[NDArray[np.uint8]] = []
    premul = np.zeros((h, w, 3), np.float32)
    acc = np.zeros(shape, np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    spills = [
        None if p.spill is None else (_upsample_float(p.spill[0], shape), p.spill[1]) for p in plans
    ]
    shaded = np.zeros(shape, bool)
    for spill in spills:
        if spill is not None:
            shaded |= spill[0] > 0
    for k, (plan, mask) in enumerate(zip(plans, masks, strict=True)):
        colour = np.zeros((h, w, 3), np.uint8)
        mine = owner == k
        colour[mine] = rgb_in[mine]
        # Edge pixels next to a layer above are mixtures: take the fill there too, so
        # no outline of the upper element stays behind in this layer.
        near_above = cv2.dilate((owner > k).astype(np.uint8), kernel).astype(bool)
        hidden = mask & (~mine | near_above | (shaded if k == 0 else False))
        if hidden.any() and plan.fill is not None:
            ys, xs = np.nonzero(hidden)
            colour[ys, xs] = np.clip(
                np.rint(_hidden_colours(plan.fill, ys, xs, shape) * 255.0), 0, 255
            ).astype(np.uint8)
        alpha = mask.astype(np.uint8) * 255
        if plan.tint is not None:
            tint, opacity = plan.tint
            colour[mask] = np.clip(np.rint(tint * 255.0), 0, 255).astype(np.uint8)
            alpha[mask] = max(1, round(opacity * 255.0))
        spill = spills[k]
        if spill is not None:
            cast_alpha, cast_colour = spill
            falls = (cast_alpha > 0) & (owner == 0) & input_opaque
            alpha[falls] = np.clip(np.rint(cast_alpha[falls] * 255.0), 0, 255).astype(np.uint8)
            ys, xs = np.nonzero(falls)
            cast = _hidden_colours(cast_colour, ys, xs, shape)
            colour[ys, xs] = np.clip(np.rint(cast * 255.0), 0, 255).astype(np.uint8)
        box = _bbox_slices(mask, 2 * band + 2) if k > 0 else None
        if box is not None:
            ys_, xs_ = box
            m8 = mask[ys_, xs_].astype(np.uint8)
            grown = cv2.dilate(m8, kernel).astype(bool)
            core = cv2.erode(m8, kernel).astype(bool)
            # The band reaches over the background only: a lower element's rim is its own.
            edge = grown & ~core & np.isin(owner[ys_, xs_], (0, k)) & input_opaque[ys_, xs_]
            edge &= acc[ys_, xs_] >= 1.0 - 1e-4
            inside = core & (owner[ys_, xs_] == k)
            if inside.sum() < 0.25 * m8.sum():
                # Thin strokes (text) have no core: their centre lines carry the colour.
                inside = cv2.erode(m8, CROSS).astype(bool) & (owner[ys_, xs_] == k)
            if inside.sum() < 0.25 * m8.sum():
                # Hairlines (small type) have not even a centre line: their pixels of
                # strongest contrast with what lies below, near each, are the ink.
                inside = m8.astype(bool) & (owner[ys_, xs_] == k)
                contrast = np.abs(image_f[ys_, xs_] - premul[ys_, xs_]).sum(axis=2)
                peak = cv2.dilate(np.where(inside, contrast, 0.0).astype(np.float32), kernel)
                inside &= contrast >= 0.8 * peak
            if edge.any() and inside.any():
                sub = colour[ys_, xs_].astype(np.float32) / 255.0
                fg, known = local_colour(sub, inside, sigma=float(2 * band))
                below = premul[ys_, xs_]
                a, ok = unblend_alpha(image_f[ys_, xs_], fg, below)
                sel = edge & ok & known
                a_sub = alpha[ys_, xs_]
                c_sub = colour[ys_, xs_]
                a_sub[sel] = np.rint(a[sel] * 255.0).astype(np.uint8)
                c_sub[sel] = np.clip(np.rint(fg[sel] * 255.0), 0, 255).astype(np.uint8)
        colours.append(colour)
        alphas.append(alpha)
        a_f = alpha.astype(np.float32) / 255.0
        premul = colour.astype(np.float32) / 255.0 * a_f[..., None] + premul * (
            1.0 - a_f[..., None]
        )
        acc = a_f + acc * (1.0 - a_f)
    return colours, alphas
