"""Porter-Duff "over" compositing of straight-alpha layers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def composite(layers: Sequence[NDArray[np.uint8]]) -> NDArray[np.float64]:
    """Composite ``H x W x 4`` ``uint8`` straight-alpha layers back to front.

    Returns a float ``H x W x 4`` straight-alpha image with values in ``[0, 1]``
    (un-quantised, so callers can measure reconstruction error exactly).
    """
    if not layers:
        raise ValueError("need at least one layer")
    shape = layers[0].shape
    premul = np.zeros((*shape[:2], 3), dtype=np.float64)
    alpha = np.zeros(shape[:2], dtype=np.float64)
    for layer in layers:
        if layer.shape != shape or layer.dtype != np.uint8:
            raise ValueError("layers must share one H x W x 4 uint8 shape")
        a = layer[..., 3].astype(np.float64) / 255.0
        rgb = layer[..., :3].astype(np.float64) / 255.0
        premul = rgb * a[..., None] + premul * (1.0 - a[..., None])
        alpha = a + alpha * (1.0 - a)
    out = np.zeros((*shape[:2], 4), dtype=np.float64)
    nz = alpha > 0
    out[nz, :3] = premul[nz] / alpha[nz, None]
    out[..., 3] = alpha
    return out


def composite_uint8(layers: Sequence[NDArray[np.uint8]]) -> NDArray[np.uint8]:
    """:func:`composite`, rounded to ``uint8``."""
    return np.clip(np.rint(composite(layers) * 255.0), 0, 255).astype(np.uint8)
