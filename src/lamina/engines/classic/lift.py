"""Full-resolution layers from layers made at a bounded rendering resolution.

Segmentation, fills and matting run on a copy of at most about one megapixel,
so their cost does not grow with the input. This module carries the finished
layers up to the input's size in strips of rows, which bounds the memory to
the output planes plus one strip of temporaries:

1. every layer is upsampled bilinearly (colour and alpha);
2. where a layer's alpha was not constant at the small size (its edges), the
   alpha is measured again on the full-size input by unblending it between the
   layer's colour and the composite of the layers below it
   (:func:`~lamina.engines.classic.matting.unblend_alpha`), so an edge is as
   sharp as it is in the input instead of as soft as the upsampling;
3. :func:`~lamina.engines.classic.exact.reconstruct_in_place` makes the strip
   composite back to the input; fully transparent pixels keep the upsampled
   colour (continuous across strips, unlike a per-strip bleed).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from lamina.engines.classic.exact import reconstruct_in_place
from lamina.engines.classic.matting import unblend_alpha

RGBA = NDArray[np.uint8]

STRIP_PIXELS = 1 << 20
"""Pixels per strip: the temporaries of one strip stay at a few tens of MiB."""


def downscale(image: RGBA, size: int) -> RGBA:
    """``image`` (``H x W x 4`` ``uint8``) at most ``size`` pixels on its long side, area-averaged.

    Colour is averaged premultiplied, so what transparent pixels hide never bleeds in.
    """
    h, w = image.shape[:2]
    scale = size / max(h, w)
    if scale >= 1.0:
        return image
    wh = (max(1, round(w * scale)), max(1, round(h * scale)))
    alpha = image[..., 3]
    if bool((alpha == 255).all()):
        return np.asarray(cv2.resize(image, wh, interpolation=cv2.INTER_AREA), np.uint8)
    premul = np.empty_like(image)
    premul[..., :3] = (image[..., :3].astype(np.uint16) * alpha[..., None] // 255).astype(np.uint8)
    premul[..., 3] = alpha
    small = cv2.resize(premul, wh, interpolation=cv2.INTER_AREA).astype(np.float32)
    a = small[..., 3:4]
    rgb = np.where(a > 0, small[..., :3] * 255.0 / np.maximum(a, 1e-6), 0.0)
    out = np.concatenate([np.clip(np.rint(rgb), 0, 255), a], axis=2)
    return out.astype(np.uint8)


def lift_layers(image: RGBA, small: list[RGBA], *, strip_pixels: int = STRIP_PIXELS) -> list[RGBA]:
    """The layers ``small`` (back to front, each ``h x w x 4`` ``uint8``) at ``image``'s size.

    ``image`` is the full-size ``H x W x 4`` ``uint8`` input they were made from
    (from a :func:`downscale` of it). The result composites back to ``image`` as
    :func:`~lamina.engines.classic.exact.reconstruct_exactly` promises.
    """
    if not small:
        raise ValueError("need at least one layer")
    h, w = image.shape[:2]
    sh, sw = small[0].shape[:2]
    if any(s.shape != (sh, sw, 4) for s in small):
        raise ValueError("every layer must have the same H x W x 4 shape")
    # Layers with nothing in them stay zero (black, as a bled empty layer is); the
    # background always takes part, since uncovered pixels go to it.
    live = [k for k, s in enumerate(small) if k == 0 or s[..., 3].any()]
    edges = [_edge_mask(small[k][..., 3]).astype(np.uint8) for k in live]
    out = [np.zeros((h, w, 4), np.uint8) for _ in small]
    map_x = ((np.arange(w, dtype=np.float32) + 0.5) * (sw / w) - 0.5).astype(np.float32)
    near_x = np.minimum((np.arange(w) * sw) // w, sw - 1).astype(np.float32)
    rows = max(1, strip_pixels // w)
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        ys = np.arange(y0, y1)
        map_y = ((ys.astype(np.float32) + 0.5) * (sh / h) - 0.5).astype(np.float32)
        mx = np.ascontiguousarray(np.broadcast_to(map_x, (y1 - y0, w)))
        my = np.ascontiguousarray(np.broadcast_to(map_y[:, None], (y1 - y0, w)))
        near_y = np.minimum((ys * sh) // h, sh - 1).astype(np.float32)
        nx = np.ascontiguousarray(np.broadcast_to(near_x, (y1 - y0, w)))
        ny = np.ascontiguousarray(np.broadcast_to(near_y[:, None], (y1 - y0, w)))
        strips = [out[k][y0:y1] for k in live]
        for k, strip in zip(live, strips, strict=True):
            cv2.remap(
                small[k], mx, my, cv2.INTER_LINEAR, dst=strip, borderMode=cv2.BORDER_REPLICATE
            )
        bands = [cv2.remap(e, nx, ny, cv2.INTER_NEAREST).astype(bool) for e in edges]
        _lift_strip(image[y0:y1], strips, bands)
    return out


def _edge_mask(alpha: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Pixels whose 3x3 neighbourhood holds more than one alpha value (edges, soft fades)."""
    kernel = np.ones((3, 3), np.uint8)
    return np.asarray(cv2.dilate(alpha, kernel) != cv2.erode(alpha, kernel))


def _lift_strip(image: RGBA, strips: list[RGBA], bands: list[NDArray[np.bool_]]) -> None:
    """One strip of upsampled layers, in place: edge alpha measured on the input, then exact."""
    edge = np.zeros(image.shape[:2], bool)
    for band in bands[1:]:
        edge |= band
    edge &= image[..., 3] == 255
    # Flat indices into row-major pixel arrays: a gather along one axis is several times
    # cheaper than (ys, xs) pairs, and on a page of text most pixels are edges.
    at = np.flatnonzero(edge)
    if at.size:
        target = _pixels(image, at)[:, :3].astype(np.float32) / 255.0
        premul = np.zeros(target.shape, np.float32)
        acc = np.zeros(at.size, np.float32)
        for k, strip in enumerate(strips):
            values = _pixels(strip, at)
            fg = values[:, :3].astype(np.float32) / 255.0
            a8 = values[:, 3]
            sel = bands[k].reshape(-1)[at] & (acc >= 1.0 - 1e-4) if k > 0 else None
            if sel is not None and sel.any():
                a, ok = unblend_alpha(target[sel], fg[sel], premul[sel] / acc[sel, None])
                a8[sel] = np.where(ok, np.rint(a * 255.0).astype(np.uint8), a8[sel])
                strip.reshape(-1, 4)[at, 3] = a8  # a view: strips are whole rows of a plane
            a_f = a8.astype(np.float32) / 255.0
            premul = fg * a_f[:, None] + premul * (1.0 - a_f[:, None])
            acc = a_f + acc * (1.0 - a_f)
    reconstruct_in_place(image, strips)


def _pixels(rgba: RGBA, at: NDArray[np.intp]) -> RGBA:
    """The ``N x 4`` pixels of ``rgba`` at flat indices ``at`` (a copy)."""
    return np.take(rgba.reshape(-1, 4), at, axis=0)
