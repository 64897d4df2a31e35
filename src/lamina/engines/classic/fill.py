"""Completing what an element hid, from the colour model of the layer underneath.

Design fills are flat or smooth gradients, so the first choice is a
low-order polynomial of ``(x, y)`` fitted to the layer's visible pixels; it
continues a gradient exactly under a large hole, where inpainting smears.
When no polynomial fits (photos, patterns), OpenCV's Telea inpainting runs on
the working-resolution image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

FloatImage = NDArray[np.float32]
Mask = NDArray[np.bool_]

MAX_DEGREE = 3
FIT_TOLERANCE = 0.025
"""Largest RMS residual (RGB in 0..1) for which a polynomial counts as the layer's model."""


@dataclass(frozen=True)
class SmoothModel:
    """RGB as a polynomial of normalised coordinates ``u = (x + .5) / W``, ``v = (y + .5) / H``."""

    degree: int
    coefficients: NDArray[np.float64]
    residual: float

    def evaluate(self, u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float32]:
        """RGB (``len(u) x 3``, clipped to 0..1) at the given normalised coordinates."""
        rgb = poly_terms(u, v, self.degree) @ self.coefficients
        return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def poly_terms(u: NDArray[np.float64], v: NDArray[np.float64], degree: int) -> NDArray[np.float64]:
    """Design matrix of all monomials ``u^i v^j`` with ``i + j <= degree``."""
    cols = [u**i * v ** (d - i) for d in range(degree + 1) for i in range(d + 1)]
    return np.stack(cols, axis=1)


def normalised_coords(
    ys: NDArray[np.integer], xs: NDArray[np.integer], shape: tuple[int, int]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(u, v)`` of pixel centres in an image of ``shape = (H, W)``."""
    h, w = shape
    return (xs.astype(np.float64) + 0.5) / w, (ys.astype(np.float64) + 0.5) / h


def fit_smooth(
    rgb: FloatImage, known: Mask, *, seed: int = 0, max_samples: int = 20000
) -> SmoothModel | None:
    """The lowest-degree polynomial that fits ``rgb`` (``H x W x 3``, 0..1) on ``known``.

    The fit is judged on its best 90% of pixels. Returns ``None`` when there are
    too few known pixels or no degree up to :data:`MAX_DEGREE` fits within
    :data:`FIT_TOLERANCE`.
    """
    ys, xs = np.nonzero(known)
    if ys.size < 16:
        return None
    if ys.size > max_samples:
        pick = np.random.default_rng(seed).choice(ys.size, max_samples, replace=False)
        ys, xs = ys[pick], xs[pick]
    u, v = normalised_coords(ys, xs, known.shape)
    target = rgb[ys, xs].astype(np.float64)
    for degree in range(MAX_DEGREE + 1):
        terms = poly_terms(u, v, degree)
        if terms.shape[1] * 4 > ys.size:
            break
        coef, *_ = np.linalg.lstsq(terms, target, rcond=None)
        # Trimmed refit: stray pixels (a soft shadow, edge mixtures) must not veto a model.
        err = ((terms @ coef - target) ** 2).sum(axis=1)
        keep = err <= np.quantile(err, 0.9)
        coef, *_ = np.linalg.lstsq(terms[keep], target[keep], rcond=None)
        residual = float(np.sqrt(np.mean((terms[keep] @ coef - target[keep]) ** 2)))
        if residual <= FIT_TOLERANCE:
            return SmoothModel(degree, np.asarray(coef, np.float64), residual)
    return None


TELEA_REACH = 6.0
"""Pixels up to this far into a hole take Telea's fill (continues edges and fine texture);
deeper ones blend into the pyramid fill, which never streaks."""


def inpaint(rgb: FloatImage, hole: Mask, *, radius: int = 3) -> FloatImage:
    """Fill ``hole`` in ``rgb`` (``H x W x 3`` float 0..1) from its surround; other pixels kept.

    Telea's method continues edges well near the rim of a hole but drags colours
    across a wide one in streaks and facets (a person cut out of a photo leaves
    a fan of polygons). Deeper than :data:`TELEA_REACH` pixels the fill blends
    into :func:`pyramid_fill`, a smooth average of the surround.
    """
    if not hole.any():
        return rgb.copy()
    if hole.all():
        return np.broadcast_to(rgb.reshape(-1, 3).mean(axis=0), rgb.shape).astype(np.float32)
    img8 = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    telea = cv2.inpaint(img8, hole.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    out = rgb.copy()
    near = telea[hole].astype(np.float32) / 255.0
    deep = depth[hole] > 1.0
    if deep.any():
        smooth = pyramid_fill(rgb, ~hole)[hole]
        w = np.clip((depth[hole] - 1.0) / TELEA_REACH, 0.0, 1.0)[:, None]
        near = near * (1.0 - w) + smooth * w
    out[hole] = near
    return out


def pyramid_fill(rgb: FloatImage, known: Mask) -> FloatImage:
    """Every pixel of ``rgb`` filled from the ``known`` ones by push-pull over a pyramid.

    Known colours are averaged down (weighted by how much of each coarse pixel is
    known) until nothing is missing, then carried back up, each level keeping what
    it knows. The result holds only averages of nearby known colours: no streaks.
    Known pixels keep their colour.
    """
    colour = (rgb * known[..., None]).astype(np.float32)
    weight = known.astype(np.float32)
    levels: list[tuple[FloatImage, NDArray[np.float32]]] = []
    while min(weight.shape) > 1 and (weight <= 1e-6).any():
        levels.append((colour, weight))
        size = (max(1, weight.shape[1] // 2), max(1, weight.shape[0] // 2))
        colour = np.asarray(cv2.resize(colour, size, interpolation=cv2.INTER_AREA), np.float32)
        colour = colour.reshape(size[1], size[0], 3)
        weight = np.asarray(cv2.resize(weight, size, interpolation=cv2.INTER_AREA), np.float32)
        weight = weight.reshape(size[1], size[0])
    if (weight <= 1e-6).all():
        mean = rgb[known].mean(axis=0) if known.any() else np.zeros(3, np.float32)
        filled = np.broadcast_to(mean, (*weight.shape, 3)).astype(np.float32)
    else:
        filled = (colour / np.maximum(weight, 1e-6)[..., None]).astype(np.float32)
        if (weight <= 1e-6).any():
            filled[weight <= 1e-6] = filled[weight > 1e-6].mean(axis=0)
    for c, w in reversed(levels):
        up = cv2.resize(filled, (w.shape[1], w.shape[0]), interpolation=cv2.INTER_LINEAR)
        up = up.reshape(w.shape[0], w.shape[1], 3)
        own = c / np.maximum(w, 1e-6)[..., None]
        trust = np.clip(w, 0.0, 1.0)[..., None]
        filled = (own * trust + up * (1.0 - trust)).astype(np.float32)
    out = np.asarray(filled, np.float32)
    out[known] = rgb[known]
    return out


def flat_colour(rgb: FloatImage, known: Mask) -> NDArray[np.float32]:
    """Median RGB of the known pixels (robust to stray anti-aliased edge pixels)."""
    return np.median(rgb[known], axis=0).astype(np.float32)
