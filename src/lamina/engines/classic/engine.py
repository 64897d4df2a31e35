"""``ClassicEngine``: the CPU decomposition engine, orchestrating the classic stages."""

from __future__ import annotations

import math
import time
from typing import cast, get_args

import cv2
import numpy as np
from numpy.typing import NDArray

from lamina.engines.base import ProgressCallback
from lamina.engines.classic.analyse import plan_layers
from lamina.engines.classic.exact import reconstruct_exactly
from lamina.engines.classic.lift import downscale, lift_layers
from lamina.engines.classic.render import render_layers
from lamina.types import DecomposeParams, Layer, LayerKind, LayerStack, alpha_bbox

WORK_SIZE = 512
"""Long side of the working copy on which segmentation and ordering run."""

RENDER_SIZE = 1024
"""Long side up to which layers are rendered directly; larger inputs are rendered at this
size and lifted to full size in strips (:mod:`~lamina.engines.classic.lift`), so time and
memory grow with the output planes only."""

_IGNORED = ("prompt", "negative_prompt", "num_inference_steps", "guidance_scale")


def validate_image(image: object) -> NDArray[np.uint8]:
    """Check the ``H x W x 4`` ``uint8`` contract; raise a precise ``ValueError`` otherwise."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, not {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, not {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 4:
        raise ValueError(f"image must be H x W x 4 RGBA, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError("image must have at least one pixel")
    return image


def ignored_parameter_notes(params: DecomposeParams) -> list[str]:
    """One note per generative parameter that was set but means nothing to this engine."""
    defaults = DecomposeParams()
    notes = []
    for name in _IGNORED:
        value = getattr(params, name)
        if value is not None and value != getattr(defaults, name):
            notes.append(f"classic engine ignores {name}")
    if params.seed != defaults.seed:
        notes.append(
            "classic engine is deterministic: seed only picks the pixel sample of its "
            "smooth-fill fits, so the layers rarely change with it"
        )
    return notes


def working_copy(
    image: NDArray[np.uint8], size: int
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Straight RGB (0..1) and an "opaque enough" mask, downscaled to ``size`` on the long side.

    Colour is averaged premultiplied so transparent pixels' hidden RGB never bleeds in.
    """
    h, w = image.shape[:2]
    scale = min(1.0, size / max(h, w))
    wh = (max(1, round(w * scale)), max(1, round(h * scale)))
    a = image[..., 3:4].astype(np.float32) / 255.0
    premul = np.concatenate([image[..., :3].astype(np.float32) / 255.0 * a, a], axis=2)
    if scale < 1.0:
        premul = cv2.resize(premul, wh, interpolation=cv2.INTER_AREA).reshape(wh[1], wh[0], 4)
    alpha = premul[..., 3]
    rgb = premul[..., :3] / np.maximum(alpha, 1e-6)[..., None]
    return np.clip(rgb, 0.0, 1.0).astype(np.float32), alpha >= 0.5


class ClassicEngine:
    """Segmentation-based decomposition that needs no weights and runs on a CPU.

    It reads only ``num_layers`` and ``seed`` from the parameters; ``prompt``,
    ``negative_prompt``, ``num_inference_steps`` and ``guidance_scale`` steer the
    generative engine only and are reported in the stack's notes when set.
    """

    name = "classic"

    def __init__(self, *, work_size: int = WORK_SIZE, render_size: int = RENDER_SIZE) -> None:
        if work_size < 16:
            raise ValueError("work_size must be at least 16")
        if render_size < work_size:
            raise ValueError("render_size must be at least work_size")
        self.work_size = work_size
        self.render_size = render_size

    def warm_up(self) -> None:
        """Run once on a tiny design so that first real calls pay no import or set-up cost."""
        demo = np.zeros((48, 48, 4), np.uint8)
        demo[..., :3] = (30, 90, 200)
        demo[..., 3] = 255
        demo[10:30, 12:40, :3] = (240, 200, 20)
        self.decompose(demo, DecomposeParams(num_layers=3))

    def decompose(
        self,
        image: NDArray[np.uint8],
        params: DecomposeParams,
        *,
        progress: ProgressCallback | None = None,
    ) -> LayerStack:
        """Split ``image`` into ``params.num_layers`` layers, back to front (see module doc)."""
        image = validate_image(image)
        report = progress or (lambda _fraction, _stage=None: None)
        timings: dict[str, float] = {}
        notes = ignored_parameter_notes(params)
        n = params.num_layers
        report(0.0, "segment")
        clock = time.perf_counter()
        alpha = image[..., 3]
        if n == 1 or not alpha.any():
            layers = [_layer(image.copy(), "background")]
            layers += [_layer(np.zeros_like(image), "empty") for _ in range(n - 1)]
            if not alpha.any():
                notes.append("the image is fully transparent")
            timings["total"] = time.perf_counter() - clock
            report(1.0)
            return LayerStack(layers, self.name, params, timings, notes)

        rendered = downscale(image, self.render_size)
        timings["downscale"] = _lap(clock)
        rgb_small, valid = working_copy(rendered, self.work_size)
        opaque = bool((alpha == 255).all())
        report(0.1)
        plans = plan_layers(rgb_small, valid, n, opaque=opaque, seed=params.seed)
        timings["analyse"] = _lap(clock) - sum(timings.values())
        report(0.6, "peel")
        scale = max(rendered.shape[:2]) / max(rgb_small.shape[:2])
        colours, alphas = render_layers(rendered, plans, band=max(2, math.ceil(scale) + 1))
        timings["render"] = _lap(clock) - sum(timings.values())
        report(0.8)
        planes = reconstruct_exactly(rendered, colours, alphas)
        timings["reconstruct"] = _lap(clock) - sum(timings.values())
        if rendered.shape != image.shape:
            report(0.9, "lift")
            planes = lift_layers(image, planes)
            timings["lift"] = _lap(clock) - sum(timings.values())
        layers = [_layer(rgba, plan.kind) for rgba, plan in zip(planes, plans, strict=True)]
        timings["total"] = _lap(clock)
        report(1.0)
        return LayerStack(_named(layers), self.name, params, timings, notes)


def _lap(start: float) -> float:
    return time.perf_counter() - start


def _layer(rgba: NDArray[np.uint8], kind: str) -> Layer:
    """A :class:`Layer` of the planned ``kind``, or an empty one when nothing shows."""
    bbox = alpha_bbox(rgba[..., 3])
    if bbox is None:
        return Layer(rgba=rgba, name="empty", kind="empty", bbox=None, empty=True)
    known: LayerKind = cast(LayerKind, kind) if kind in get_args(LayerKind) else "element"
    if known == "empty":
        known = "element"
    return Layer(rgba=rgba, name=kind, kind=known, bbox=bbox)


def _named(layers: list[Layer]) -> list[Layer]:
    """Give layers readable unique names: ``background``, ``text 1``, ``shape 2``, ..."""
    seen: dict[str, int] = {}
    for layer in layers:
        if layer.kind in ("background", "empty"):
            layer.name = layer.kind
            continue
        seen[layer.kind] = seen.get(layer.kind, 0) + 1
        layer.name = f"{layer.kind} {seen[layer.kind]}"
    return layers
