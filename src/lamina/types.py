"""Core value types shared by engines, the CLI, the job queue and the API.

Images are NumPy arrays: ``H x W x 4`` ``uint8`` RGBA with *straight*
(un-premultiplied) alpha. Layer order is always back to front; layer 0 is the
background.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from lamina.errors import InvalidParams

OutputFormat = Literal["png", "webp"]
LayerKind = Literal["background", "text", "shape", "image", "panel", "shadow", "element", "empty"]

MIN_LAYERS = 1
MAX_LAYERS = 10


@dataclass(frozen=True, kw_only=True)
class DecomposeParams:
    """The seed API's input schema, minus ``image_url``; validated on construction.

    ``resolution`` is used by the Qwen engine only (640 or 1024; ``None`` means
    the engine's configured default).
    """

    num_layers: int = 4
    seed: int = 0
    prompt: str | None = None
    negative_prompt: str | None = None
    num_inference_steps: int = 28
    guidance_scale: float = 5.0
    output_format: OutputFormat = "png"
    resolution: int | None = None

    def __post_init__(self) -> None:
        _check_int("num_layers", self.num_layers, MIN_LAYERS, MAX_LAYERS)
        _check_int("num_inference_steps", self.num_inference_steps, 1, 50)
        _check_int("seed", self.seed, -(2**63), 2**63 - 1)
        if isinstance(self.guidance_scale, bool) or not isinstance(
            self.guidance_scale, int | float
        ):
            raise InvalidParams("guidance_scale must be a number")
        if not 1.0 <= float(self.guidance_scale) <= 20.0:
            raise InvalidParams("guidance_scale must be between 1 and 20")
        if self.output_format not in ("png", "webp"):
            raise InvalidParams("output_format must be 'png' or 'webp'")
        if self.resolution is not None and self.resolution not in (640, 1024):
            raise InvalidParams("resolution must be 640 or 1024")
        for name in ("prompt", "negative_prompt"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidParams(f"{name} must be a string")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as recorded in ``layers.json`` and job rows."""
        return {
            "num_layers": self.num_layers,
            "seed": self.seed,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": float(self.guidance_scale),
            "output_format": self.output_format,
            "resolution": self.resolution,
        }


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParams(f"{name} must be an integer")
    if not lo <= value <= hi:
        raise InvalidParams(f"{name} must be between {lo} and {hi}")


BBox = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixels, end-exclusive."""


@dataclass
class Layer:
    """One RGBA layer the size of the input image.

    ``empty`` marks a layer with no visible pixel, allowed only when the image
    holds fewer separable elements than layers were asked for.
    """

    rgba: NDArray[np.uint8]
    name: str
    kind: LayerKind
    bbox: BBox | None = None
    empty: bool = False

    def metadata(self, index: int) -> dict[str, Any]:
        """JSON-ready description, without the pixels."""
        return {
            "index": index,
            "name": self.name,
            "kind": self.kind,
            "bbox": list(self.bbox) if self.bbox is not None else None,
            "empty": self.empty,
        }


@dataclass
class LayerStack:
    """An engine's answer: layers back to front plus what produced them."""

    layers: list[Layer]
    engine: str
    params: DecomposeParams
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of every layer."""
        h, w = self.layers[0].rgba.shape[:2]
        return w, h

    def metadata(self) -> dict[str, Any]:
        """JSON-ready description of the stack (the body of ``layers.json``)."""
        width, height = self.size
        return {
            "width": width,
            "height": height,
            "engine": self.engine,
            "parameters": self.params.to_dict(),
            "layers": [layer.metadata(i) for i, layer in enumerate(self.layers)],
            "timings": dict(self.timings),
            "notes": list(self.notes),
        }


def alpha_bbox(alpha: NDArray[np.uint8]) -> BBox | None:
    """Tight bounding box of the non-zero pixels of ``alpha`` (``H x W``), or ``None``."""
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(alpha.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
