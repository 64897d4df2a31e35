"""The salient object of a photo: what differs from the photo's own border, cut out whole.

Region growing breaks a photographed object into fragments of similar colour
(a suit in five pieces, a face in halves), and the fragments it keeps are often
parts of the backdrop. An object in a picture is instead what its border does
not look like: the border prior of salient-object detection. Every pixel is
scored by its Lab distance to the nearest of a few colour clusters of the
image border; Otsu's threshold of that score seeds GrabCut, with the border
itself as sure background, whose colour models and graph cut then give the
object whole, along its real edges. When unsure (the two disagree, or the
backdrop is unlike its own border), nothing is claimed.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

FloatImage = NDArray[np.float32]
Mask = NDArray[np.bool_]

BORDER_CLUSTERS = 8
"""Colour clusters of the border that a backdrop pixel lies close to."""

GRABCUT_ROUNDS = 4
"""GrabCut iterations (each refits both colour models and recuts)."""

BACKDROP_DISTANCE = 8.0
"""Largest median Lab distance from the rest of the image to the border's colours: beyond
it the backdrop is too varied for its border to tell what stands out (a collage, a
busy scene), and no object is claimed."""

MIN_AGREEMENT = 0.7
"""Least IoU between the thresholded score and GrabCut's cut for the object to count: where
the two disagree, nothing stands out from the border clearly enough."""


def salient_object(lab: FloatImage, *, seed: int = 0) -> Mask:
    """Pixels of the object that stands out from the image border; empty when none does.

    ``lab`` is an ``H x W x 3`` ``float32`` CIE Lab image (L in 0..100). Deterministic
    for a given ``seed``. Images under 32 pixels a side have no object.
    """
    if lab.ndim != 3 or lab.shape[2] != 3:
        raise ValueError(f"lab must be H x W x 3, got shape {lab.shape}")
    h, w = lab.shape[:2]
    if min(h, w) < 32:
        return np.zeros((h, w), bool)
    blurred = cv2.GaussianBlur(lab.astype(np.float32), (0, 0), 2.0)
    band = max(4, min(h, w) // 40)
    border = np.concatenate(
        [
            blurred[:band].reshape(-1, 3),
            blurred[-band:].reshape(-1, 3),
            blurred[:, :band].reshape(-1, 3),
            blurred[:, -band:].reshape(-1, 3),
        ]
    )
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, 20, 0.5)
    clusters = min(BORDER_CLUSTERS, len(border))
    _, _, centres = cv2.kmeans(border, clusters, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    distance = np.full((h, w), np.inf, np.float32)
    for centre in centres:
        np.minimum(distance, np.linalg.norm(blurred - centre, axis=2), out=distance)
    score = np.clip(cv2.GaussianBlur(distance, (0, 0), 3.0) * 2.0, 0, 255).astype(np.uint8)
    _, seeded = cv2.threshold(score, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    rough = seeded > 0
    if rough.sum() < 0.005 * h * w or float(np.median(distance[~rough])) > BACKDROP_DISTANCE:
        return np.zeros((h, w), bool)
    mask = np.where(rough, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    mask[:band], mask[-band:], mask[:, :band], mask[:, -band:] = (cv2.GC_BGD,) * 4
    scaled = np.stack([lab[..., 0] * 2.55, lab[..., 1] + 128.0, lab[..., 2] + 128.0], axis=2)
    image = np.clip(scaled, 0, 255).astype(np.uint8)
    background_model = np.zeros((1, 65), np.float64)
    object_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(seed)
    rect = (0, 0, w, h)  # unused: the mask initialises the cut
    cv2.grabCut(
        image, mask, rect, background_model, object_model, GRABCUT_ROUNDS, cv2.GC_INIT_WITH_MASK
    )
    cut = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    agreement = (cut & rough).sum() / max(int((cut | rough).sum()), 1)
    return cut if agreement >= MIN_AGREEMENT else np.zeros((h, w), bool)
