"""Alpha at anti-aliased and soft edges by two-colour unblending.

Near an element's edge a pixel ``I`` is a mix ``a * F + (1 - a) * B`` of the
element's colour ``F`` and what lies under it, ``B``. Both are known here:
``F`` from the element's interior nearby, ``B`` from the completed layers
below. Projecting ``I - B`` on ``F - B`` gives ``a``; where the two colours are
too alike to tell apart the caller keeps its hard mask.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

FloatImage = NDArray[np.float32]
Mask = NDArray[np.bool_]


def local_colour(rgb: FloatImage, inside: Mask, *, sigma: float) -> tuple[FloatImage, Mask]:
    """Colour of the ``inside`` pixels spread outwards (normalised Gaussian convolution).

    Returns ``H x W x 3`` float colours and the mask where an estimate exists.
    """
    weight = inside.astype(np.float32)
    ksize = (0, 0)
    num = cv2.GaussianBlur(rgb * weight[..., None], ksize, sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(weight, ksize, sigma, borderType=cv2.BORDER_REFLECT)
    ok = den > 1e-3
    out = np.zeros_like(rgb)
    out[ok] = num[ok] / den[ok, None]
    return out, ok


def unblend_alpha(
    image: FloatImage, fg: FloatImage, bg: FloatImage, *, min_contrast: float = 0.08
) -> tuple[NDArray[np.float32], Mask]:
    """Per-pixel alpha of ``fg`` over ``bg`` explaining ``image`` (all ``... x 3``, 0..1).

    Returns alpha in ``[0, 1]`` and the mask of pixels where ``|fg - bg|`` is at
    least ``min_contrast`` (elsewhere the alpha is meaningless).
    """
    diff = fg - bg
    norm2 = (diff * diff).sum(axis=-1)
    ok = norm2 >= min_contrast * min_contrast
    alpha = ((image - bg) * diff).sum(axis=-1) / np.maximum(norm2, 1e-12)
    return np.clip(alpha, 0.0, 1.0).astype(np.float32), ok
