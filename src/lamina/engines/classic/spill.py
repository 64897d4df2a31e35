"""What elements cast on a smooth background beyond their outlines: shadows and feathering.

Both are translucent parts of the element's layer lying over the background,
``I = a * C + (1 - a) * B`` with ``B`` the background's smooth model. A drop
shadow pulls ``B`` towards a dark shade; a feathered edge pulls it towards the
element's own colour at its outline. Either way the pixel's opacity is the
unblending of ``I`` between ``B`` and ``C``, and the pixel belongs to the
layer of the nearest element.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, special

from lamina.engines.classic.fill import SmoothModel, normalised_coords

Mask = NDArray[np.bool_]
FloatImage = NDArray[np.float32]

SHADE = 0.05
"""Assumed colour (grey level, 0..1) of drop shadows; the exact pass corrects it."""
MIN_CONTRAST = 0.1
"""Least RGB distance between an element's edge colour and the background to unblend."""
MAX_SPREAD = 0.2
"""Most RMS distance (probit units) of measured opacities from a feather's fitted profile."""
_BLUR = 3.0
"""Blur (pixels) behind :func:`_smooth_depth`."""


def shadow_opacity(
    rgb: FloatImage, visible: Mask, background: SmoothModel, elements: Mask
) -> NDArray[np.float32] | None:
    """Per-pixel opacity of a dark shade over the smooth ``background`` (``H x W``).

    A drop shadow darkens all three channels of the background towards black;
    the opacity is the unblending of the pixel between the modelled background
    and :data:`SHADE`. Only pixels of ``visible`` darkened by more than 0.03
    count, in patches touching ``elements``: a shadow shows beside what casts it,
    while a dark mark standing apart (a frame's rule beside a line of text) is
    the background's own. ``None`` when there is no such pixel.
    """
    ys, xs = np.nonzero(visible)
    if ys.size == 0:
        return None
    u, v = normalised_coords(ys, xs, visible.shape)
    under = background.evaluate(u, v)
    seen = rgb[ys, xs]
    diff = under - seen
    darker = (diff > 0.015).all(axis=1) & (diff.mean(axis=1) > 0.03)
    if not darker.any():
        return None
    shade_dir = under - SHADE
    alpha = (diff * shade_dir).sum(axis=1) / np.maximum((shade_dir**2).sum(axis=1), 1e-6)
    out = np.zeros(visible.shape, np.float32)
    out[ys[darker], xs[darker]] = np.clip(alpha[darker], 0.0, 1.0)
    _keep_touching(out, elements)
    return out if out.any() else None


def nearest_element(owner: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Distance from every pixel to the nearest element pixel (``owner > 0``, at least
    one), and the layer of that pixel: who a spilled pixel belongs to."""
    gap, (iy, ix) = ndimage.distance_transform_edt(owner <= 0, return_indices=True)
    return gap, owner[iy, ix]


def feather_opacity(
    rgb: FloatImage,
    owner: NDArray[np.int64],
    background: SmoothModel,
    nearest: tuple[NDArray[np.float64], NDArray[np.int64]],
    *,
    reach: float,
) -> tuple[NDArray[np.float32], FloatImage] | None:
    """Opacity and colour of feathered edges spilling over the background (``owner == 0``).

    ``owner`` maps pixels to layers (0 = background, at least one element);
    ``nearest`` is its :func:`nearest_element`. A background pixel within
    ``reach`` pixels of an element counts when it lies between the modelled
    background and the colour of the nearest element pixel two pixels inside
    its outline: its deviation from the model exceeds the model's noise and the
    two-colour mix explains at least half of it. Only spills touching an
    element are kept. Where the feathering fades below what 8-bit colour can
    show, each layer's fitted profile (:func:`_extend_profile`) carries on.
    Returns ``(alpha, colour)`` (``H x W`` and ``H x W x 3``), or ``None``.
    """
    elements = owner > 0
    core = elements & ~ndimage.binary_dilation(~elements, iterations=2)
    _, (iy, ix) = ndimage.distance_transform_edt(
        ~(core if core.any() else elements), return_indices=True
    )
    gap, nearest_layer = nearest
    ys, xs = np.nonzero((owner == 0) & (gap <= reach))
    if ys.size == 0:
        return None
    u, v = normalised_coords(ys, xs, owner.shape)
    under = background.evaluate(u, v)
    seen = rgb[ys, xs]
    edge = rgb[iy[ys, xs], ix[ys, xs]]
    towards = edge - under
    norm2 = (towards * towards).sum(axis=1)
    alpha = np.clip(((seen - under) * towards).sum(axis=1) / np.maximum(norm2, 1e-12), 0.0, 1.0)
    miss = np.linalg.norm(under + alpha[:, None] * towards - seen, axis=1)
    deviation = np.linalg.norm(seen - under, axis=1)
    noise = max(0.008, 3.0 * background.residual)
    contrast = norm2 >= MIN_CONTRAST**2
    found = contrast & (deviation > noise) & (miss < 0.5 * deviation) & (alpha > 0.02)
    out = np.zeros(owner.shape, np.float32)
    out[ys[found], xs[found]] = alpha[found]
    _keep_touching(out, elements)
    alpha = out[ys, xs]
    layer = nearest_layer[ys, xs]
    depth = _smooth_depth(np.maximum(elements, out), ys, xs, _BLUR)
    for k in np.unique(layer):
        mine = layer == k
        model = _extend_profile(depth[mine], alpha[mine])
        if model is None:
            continue
        fits = np.linalg.norm(under[mine] + model[:, None] * towards[mine] - seen[mine], axis=1)
        grow = (alpha[mine] == 0) & (model >= 0.5 / 255.0) & (fits <= noise) & contrast[mine]
        alpha[np.flatnonzero(mine)[grow]] = model[grow]
    if not alpha.any():
        return None
    out[ys, xs] = alpha
    colour = np.zeros((*owner.shape, 3), np.float32)
    colour[ys, xs] = edge
    return out, colour


def _keep_touching(alpha: NDArray[np.float32], elements: Mask) -> None:
    """Zero, in place, the connected patches of ``alpha > 0`` that touch no ``elements``."""
    parts, _ = ndimage.label(alpha > 0)
    touching = np.unique(parts[ndimage.binary_dilation(elements) & (parts > 0)])
    alpha[~np.isin(parts, touching[touching > 0])] = 0.0


def _smooth_depth(
    coverage: NDArray[np.float32], ys: NDArray[np.intp], xs: NDArray[np.intp], blur: float
) -> NDArray[np.float64]:
    """A smooth stand-in for the distance outside the soft ``coverage`` (0..1) at ``(ys, xs)``.

    Pixel distances to a staircase outline jump by up to a pixel between
    neighbours (3.0 straight out, 3.2 beside it), too coarse for a fade a few
    pixels wide. Blurred by ``blur`` pixels, a soft edge stays a ``Phi`` of the
    distance, so ``-blur * probit(blurred)`` grows with it evenly in every direction.
    """
    size = 2 * int(np.ceil(4.0 * blur)) + 1
    blurred = cv2.GaussianBlur(coverage.astype(np.float64), (size, size), blur)
    return np.asarray(-blur * special.ndtri(np.clip(blurred[ys, xs], 1e-300, 1.0)), np.float64)


def _extend_profile(
    depth: NDArray[np.float64], alpha: NDArray[np.float32]
) -> NDArray[np.float64] | None:
    """Opacity at each ``depth`` (:func:`_smooth_depth`) if the measured ``alpha`` is feathering.

    A Gaussian feather fades as ``Phi`` of the distance, and so, near enough,
    of the smooth depth: its probit falls along a line, fitted on opacities
    from 3% to 50% (the outer half, which the tail continues). ``None`` when
    there are too few, or they stray from the line by more than
    :data:`MAX_SPREAD` (a drop shadow, offset from its element, or a crisp
    anti-aliased outline, whose few mixtures follow no such law).
    """
    fit = (alpha > 0.03) & (alpha < 0.5)
    if fit.sum() < 50 or np.ptp(depth[fit]) < 1.0:
        return None
    z = special.ndtri(alpha[fit].astype(np.float64))
    slope, intercept = np.polyfit(depth[fit], z, 1)
    spread = float(np.sqrt(np.mean((intercept + slope * depth[fit] - z) ** 2)))
    if slope >= 0.0 or spread > MAX_SPREAD:
        return None
    return np.asarray(special.ndtr(intercept + slope * depth), np.float64)


def attach_spill(
    alpha: NDArray[np.float32],
    nearest: tuple[NDArray[np.float64], NDArray[np.int64]],
    *,
    reach: float,
    skip: Mask,
) -> dict[int, NDArray[np.float32]]:
    """Each layer's share of ``alpha``: pixels nearest one of its elements (``nearest``,
    from :func:`nearest_element`), within ``reach``.

    Layers flagged in ``skip`` (translucent panels cast nothing) and shares of
    under 16 pixels are left out.
    """
    distance, layer = nearest
    spilled = (alpha > 0) & (distance <= reach)
    out = {}
    for k in range(1, skip.size):
        mine = spilled & (layer == k)
        if mine.sum() >= 16 and not skip[k]:
            out[k] = np.where(mine, alpha, 0.0).astype(np.float32)
    return out
