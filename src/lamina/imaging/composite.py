"""Porter-Duff "over" compositing of straight-alpha layers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def composite(layers: Sequence[NDArray[np.uint8]]) -> NDArray[np.float64]:
    """Composite ``H x W x 4`` ``uint8`` straight-alpha layers back to front.

    Returns a float ``H x W x 4`` straight-alpha image with values in ``[0, 1]``
    (un-quantised, so callers can measure reconstruction error exactly); pixels
    no layer covers are ``(0, 0, 0, 0)``. Layers are not modified. Works on
    premultiplied colour updated in place, so memory stays at a few ``H x W``
    float planes however many layers there are.
    """
    if not layers:
        raise ValueError("need at least one layer")
    shape = layers[0].shape
    if len(shape) != 3 or shape[2] != 4:
        raise ValueError(f"layers must be H x W x 4, got shape {shape}")
    height, width = shape[:2]
    premul = np.zeros((height, width, 3), dtype=np.float64)
    alpha = np.zeros((height, width), dtype=np.float64)
    for layer in layers:
        if layer.shape != shape or layer.dtype != np.uint8:
            raise ValueError("layers must share one H x W x 4 uint8 shape")
        a = layer[..., 3] * (1.0 / 255.0)
        keep = 1.0 - a
        premul *= keep[..., None]
        premul += layer[..., :3] * (a * (1.0 / 255.0))[..., None]
        alpha *= keep
        alpha += a
    out = np.zeros((height, width, 4), dtype=np.float64)
    covered = alpha > 0
    out[covered, :3] = premul[covered] / alpha[covered, None]
    np.clip(out[..., :3], 0.0, 1.0, out=out[..., :3])
    out[..., 3] = alpha
    return out


def composite_uint8(layers: Sequence[NDArray[np.uint8]]) -> NDArray[np.uint8]:
    """:func:`composite`, rounded to ``uint8``."""
    return np.clip(np.rint(composite(layers) * 255.0), 0, 255).astype(np.uint8)
