"""Making a layer stack composite back to its input exactly (to 8-bit rounding).

Segmentation and fills are estimates; the product promise is that the layers
add up to the input. At every pixel the topmost layer with any alpha takes the
residual: with the completed layers under it known, its colour is solved from
``a * F + (1 - a) * B = I``, its alpha raised just enough that ``F`` stays in
0..255 (un-premultiplied, so no dark or light fringes are invented). Where
the layers under a pixel are already more opaque than the input (possible
only for inputs with transparency), the top layer takes the pixel alone.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

_EPS = 1e-9
_ABSORB = 6.0 / 255.0
"""Most the background may move (per channel, 0..1) so a translucent pixel keeps its colour:
about 2%, a faint trace where the element was if it is moved away."""


def _min_alpha(target: NDArray[np.float64], below: NDArray[np.float64]) -> NDArray[np.float64]:
    """Smallest alpha ``a`` with ``below + (target - below) / a`` inside ``[0, 1]`` (``m``)."""
    up = np.where(target > below, (target - below) / np.maximum(1.0 - below, _EPS), 0.0)
    down = np.where(target < below, (below - target) / np.maximum(below, _EPS), 0.0)
    return np.clip(np.maximum(up, down).max(axis=-1), 0.0, 1.0)


def reconstruct_exactly(
    image: NDArray[np.uint8], rgb: list[NDArray[np.uint8]], alpha: list[NDArray[np.uint8]]
) -> list[NDArray[np.uint8]]:
    """Adjust layers so that their "over" composite equals ``image``.

    ``image`` is ``H x W x 4`` ``uint8`` straight RGBA; ``rgb[k]`` (``H x W x 3``)
    and ``alpha[k]`` (``H x W``) are the planned layers, back to front; they are
    not modified. Returns ``H x W x 4`` ``uint8`` layers whose composite matches
    ``image`` within half a level per channel (colours compared where alpha > 0).
    Pixels no layer covers go to layer 0; fully transparent pixels take the
    nearest visible colour (:func:`bleed`).
    """
    if not rgb or len(rgb) != len(alpha):
        raise ValueError("need as many colour planes as alpha planes, at least one")
    layers = [np.dstack([c, a]) for c, a in zip(rgb, alpha, strict=True)]
    reconstruct_in_place(image, layers)
    for layer in layers:
        layer[..., :3] = bleed(layer[..., :3], layer[..., 3])
    return layers


def reconstruct_in_place(image: NDArray[np.uint8], layers: list[NDArray[np.uint8]]) -> None:
    """:func:`reconstruct_exactly` on ``H x W x 4`` planned layers, edited in place.

    Fully transparent pixels keep whatever colour they had, so a caller can
    colour them its own way (the full-size lift keeps its upsampled colours).
    """
    n = len(layers)
    col = [layer[..., :3] for layer in layers]
    alp = [layer[..., 3] for layer in layers]
    top = np.full(image.shape[:2], -1, np.int8 if n < 128 else np.int64)
    top_alpha = np.zeros(image.shape[:2], np.uint8)
    live = [k for k in range(n) if alp[k].any()]
    for k in live:
        on = alp[k] > 0
        top[on] = k
        np.copyto(top_alpha, alp[k], where=on)
    top[(top < 0) & (image[..., 3] > 0)] = 0
    # An opaque top layer over an opaque pixel simply shows the input there; only the
    # other pixels (edges, tints, transparency) need solving, gathered as one column.
    easy = (top_alpha == 255) & (image[..., 3] == 255)
    for k in live:
        np.copyto(col[k], image[..., :3], where=(easy & (top == k))[..., None])
    ys, xs = np.nonzero(~easy)
    if ys.size:
        col_h = [c[ys, xs][:, None] for c in col]
        alp_h = [a[ys, xs][:, None] for a in alp]
        _solve(image[ys, xs][:, None], col_h, alp_h, top[ys, xs][:, None].astype(np.int64))
        for k in range(n):
            col[k][ys, xs] = col_h[k][:, 0]
            alp[k][ys, xs] = alp_h[k][:, 0]


def _solve(
    image: NDArray[np.uint8],
    col: list[NDArray[np.uint8]],
    alp: list[NDArray[np.uint8]],
    top: NDArray[np.int64],
) -> None:
    """:func:`reconstruct_exactly` on the pixels that need it (``col``, ``alp`` updated).

    ``top`` is the index of the topmost layer with any alpha at each pixel.
    """
    n = len(col)
    h, w = image.shape[:2]
    target = image[..., :3].astype(np.float64) / 255.0
    target_a = image[..., 3].astype(np.float64) / 255.0
    keep = _absorb_into_background(target, target_a, col, alp, top)

    premul = np.zeros((h, w, 3), np.float64)
    acc = np.zeros((h, w), np.float64)
    for k in range(n):
        sel = top == k
        if sel.any():
            ys, xs = np.nonzero(sel)
            t_rgb, t_a = target[ys, xs], target_a[ys, xs]
            p_b, a_b = premul[ys, xs], acc[ys, xs]
            own = alp[k][ys, xs].astype(np.float64) / 255.0
            opaque_below = a_b >= 1.0 - 1e-7
            new_a = np.empty_like(own)
            colour = np.empty_like(t_rgb)
            fallback = np.zeros(ys.size, bool)

            # Opaque below: out alpha is 1, so only an opaque target is reachable.
            ob = opaque_below
            fallback |= ob & (t_a < 1.0)
            need = _min_alpha(t_rgb[ob], p_b[ob])
            a_q = np.ceil(np.maximum(own[ob], need) * 255.0 - 1e-6) / 255.0
            a_q = np.maximum(a_q, 1.0 / 255.0)
            new_a[ob] = a_q
            colour[ob] = p_b[ob] + (t_rgb[ob] - p_b[ob]) / a_q[:, None]

            # Translucent below: the alpha is fixed by the target alpha.
            tb = ~opaque_below
            a_need = (t_a[tb] - a_b[tb]) / np.maximum(1.0 - a_b[tb], _EPS)
            a_q = np.rint(np.clip(a_need, 0.0, 1.0) * 255.0) / 255.0
            out_a = a_q + (1.0 - a_q) * a_b[tb]
            safe = np.maximum(a_q, _EPS)
            c = (t_rgb[tb] * out_a[:, None] - (1.0 - a_q[:, None]) * p_b[tb]) / safe[:, None]
            new_a[tb] = a_q
            colour[tb] = c
            bad = (a_need < -0.5 / 255.0) | (a_q <= 0.0) & (t_a[tb] > 0)
            bad |= ((c < -1e-6) | (c > 1.0 + 1e-6)).any(axis=1)
            tb_idx = np.flatnonzero(tb)
            fallback[tb_idx[bad]] = True

            # Fallback: this layer alone shows the input; lower layers clear here.
            if fallback.any():
                fy, fx = ys[fallback], xs[fallback]
                for j in range(k):
                    alp[j][fy, fx] = 0
                premul[fy, fx] = 0.0
                acc[fy, fx] = 0.0
                new_a[fallback] = t_a[fallback]
                colour[fallback] = t_rgb[fallback]
            kept = keep[ys, xs] & ~fallback
            new_a[kept] = own[kept]
            colour[kept] = col[k][ys[kept], xs[kept]] / 255.0
            a8 = np.rint(new_a * 255.0).astype(np.uint8)
            c8 = np.clip(np.rint(colour * 255.0), 0, 255).astype(np.uint8)
            clear = a8 == 0
            c8[clear] = col[k][ys[clear], xs[clear]]
            alp[k][ys, xs] = a8
            col[k][ys, xs] = c8
        a_k = alp[k].astype(np.float64) / 255.0
        premul = col[k].astype(np.float64) / 255.0 * a_k[..., None] + premul * (
            1.0 - a_k[..., None]
        )
        acc = a_k + acc * (1.0 - a_k)


def _absorb_into_background(
    target: NDArray[np.float64],
    target_a: NDArray[np.float64],
    col: list[NDArray[np.uint8]],
    alp: list[NDArray[np.uint8]],
    top: NDArray[np.int64],
) -> NDArray[np.bool_]:
    """Pixels whose translucent top layer keeps its planned colour; the background absorbs.

    Solving a translucent pixel's colour from the input divides the error by its
    alpha, so a faint shadow or feather tail would take arbitrary colours and an
    anti-aliased letter edge would carry the old backdrop's colour wherever the
    letter is moved. Where the top layer lies directly on the opaque background
    of an opaque pixel and the background can take the residual within
    :data:`_ABSORB`, it does so (``col[0]`` is updated in place) and the mask
    marks the pixel.
    """
    keep = np.zeros(top.shape, bool)
    if len(col) < 2:
        return keep
    base = (alp[0] == 255) & (target_a >= 1.0)
    between = np.zeros(top.shape, bool)
    for k in range(1, len(col)):
        sel = base & (top == k) & ~between & (alp[k] > 0) & (alp[k] < 255)
        between |= alp[k] > 0
        if not sel.any():
            continue
        ys, xs = np.nonzero(sel)
        a = alp[k][ys, xs, None] / 255.0
        want = (target[ys, xs] - a * (col[k][ys, xs] / 255.0)) / (1.0 - a)
        shift = np.abs(want - col[0][ys, xs] / 255.0).max(axis=1)
        ok = (shift <= _ABSORB) & (want >= 0.0).all(axis=1) & (want <= 1.0).all(axis=1)
        col[0][ys[ok], xs[ok]] = np.rint(want[ok] * 255.0).astype(np.uint8)
        keep[ys[ok], xs[ok]] = True
    return keep


def bleed(rgb: NDArray[np.uint8], alpha: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Colour of fully transparent pixels = colour of the nearest visible pixel.

    Invisible in the composite, but editors that resample or feather straight
    alpha then blend with the layer's own colour instead of black (no dark
    fringes). A layer with no visible pixel stays black.
    """
    clear = alpha == 0
    if not clear.any() or clear.all():
        out = rgb.copy()
        out[clear] = 0
        return out
    _, labels = cv2.distanceTransformWithLabels(
        clear.astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    ys, xs = np.nonzero(~clear)
    out = rgb.copy()
    out[clear] = rgb[ys, xs][labels[clear] - 1]
    return out
