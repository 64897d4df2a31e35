"""What the real-content sets share: the sample type, the keep rule, splitting and caching."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from lamina.imaging.composite import composite_uint8

RGBA = NDArray[np.uint8]
MAX_SIDE = 512
KEEP_PSNR_DB = 40.0
TUNE_SHARE = 70
#: Bump when a loader changes what it builds, so stale caches are rebuilt.
CACHE_VERSION = 4


@dataclass
class RealSample:
    """One benchmark image: the flat input and its true layers, back to front."""

    name: str
    set: str
    kind: str
    image: RGBA
    layers: list[RGBA]
    source: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def split(self) -> str:
        return split_of(self.name)


def default_cache() -> Path:
    """``$LAMINA_BENCH_CACHE`` or ``~/.cache/lamina-bench``: downloads and built sets."""
    return Path(os.environ.get("LAMINA_BENCH_CACHE", Path.home() / ".cache" / "lamina-bench"))


def split_of(name: str) -> str:
    """``"tune"`` or ``"heldout"``, ~70/30, from a hash of ``name`` (stable across runs)."""
    bucket = int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "tune" if bucket < TUNE_SHARE else "heldout"


def psnr_on_white(a: RGBA, b: RGBA) -> float:
    """PSNR in dB between two RGBA images seen over white (``inf`` when identical).

    Over white, so transparent areas compare whatever colour they store.
    """
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    diff = _on_white(a) - _on_white(b)
    mse = float(np.mean(diff * diff))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def keeps(layers: Sequence[RGBA], reference: RGBA, threshold: float = KEEP_PSNR_DB) -> bool:
    """Whether ``layers`` composited "over" reproduce ``reference`` at >= ``threshold`` dB."""
    return psnr_on_white(composite_uint8(list(layers)), reference) >= threshold


def _on_white(image: RGBA) -> NDArray[np.float64]:
    rgb = image[..., :3].astype(np.float64)
    alpha = image[..., 3:4].astype(np.float64) / 255.0
    return rgb * alpha + 255.0 * (1.0 - alpha)


def fit_layers(layers: Sequence[RGBA], max_side: int = MAX_SIDE) -> list[RGBA]:
    """``layers`` shrunk (premultiplied, area filter) so the long side is <= ``max_side``."""
    h, w = layers[0].shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return [layer.copy() for layer in layers]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return [_resize_rgba(layer, size) for layer in layers]


def _resize_rgba(layer: RGBA, size: tuple[int, int]) -> RGBA:
    alpha = layer[..., 3:4].astype(np.float32) / 255.0
    premul = np.concatenate([layer[..., :3].astype(np.float32) * alpha, alpha * 255.0], axis=2)
    small = cv2.resize(premul, size, interpolation=cv2.INTER_AREA)
    a = small[..., 3:4]
    rgb = np.where(a > 0, small[..., :3] * 255.0 / np.maximum(a, 1e-6), 0.0)
    out = np.concatenate([rgb, a], axis=2)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


BACKDROP_SHOWS = 0.005
"""Share of pixels through which the white backdrop must show to be a layer of its own."""


def on_opaque_background(layers: Sequence[RGBA]) -> list[RGBA]:
    """``layers`` made opaque over white: a white layer 0 added where the backdrop shows.

    The engines decompose flat pictures, so every input is opaque; the white
    backdrop it was seen on becomes the background layer. Where it shows only
    through anti-aliased seams and edges (flag stripes that tile the canvas), it
    is folded into layer 0 instead, so the truth holds no level no picture shows.
    """
    flat = composite_uint8(list(layers))
    showing = flat[..., 3] < 255
    if not showing.any():
        return list(layers)
    white = np.full_like(layers[0], 255)
    if showing.mean() >= BACKDROP_SHOWS:
        return [white, *layers]
    return [composite_uint8([white, layers[0]]), *layers[1:]]


def make_sample(
    name: str, set_name: str, kind: str, layers: Sequence[RGBA], **meta: str
) -> RealSample:
    """A sample whose input is the composite of its (opaque-backed) ``layers``."""
    stack = on_opaque_background(layers)
    return RealSample(
        name=name,
        set=set_name,
        kind=kind,
        image=composite_uint8(stack),
        layers=stack,
        source=meta.pop("source", ""),
        meta=dict(meta),
    )


# --- cache ------------------------------------------------------------------------------


def save_set(directory: Path, samples: Sequence[RealSample], report: dict[str, object]) -> None:
    """Write each sample as ``NAME.npz`` and ``manifest.json`` (build key, kept/dropped)."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.npz"):
        old.unlink()
    for i, s in enumerate(samples):
        np.savez_compressed(directory / f"{i:03d}.npz", image=s.image, layers=np.stack(s.layers))
    entries = [
        {
            "file": f"{i:03d}.npz",
            "name": s.name,
            "set": s.set,
            "kind": s.kind,
            "source": s.source,
            "meta": s.meta,
            "split": s.split,
            "layers": len(s.layers),
        }
        for i, s in enumerate(samples)
    ]
    manifest = {**report, "samples": entries}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")


def load_set(directory: Path, key: dict[str, object]) -> list[RealSample] | None:
    """The cached samples when ``manifest.json`` was built with ``key``, else ``None``."""
    path = directory / "manifest.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text("utf-8"))
    if manifest.get("key") != key:
        return None
    samples = []
    for e in manifest["samples"]:
        with np.load(directory / e["file"]) as data:
            samples.append(
                RealSample(
                    name=e["name"],
                    set=e["set"],
                    kind=e["kind"],
                    image=data["image"],
                    layers=list(data["layers"]),
                    source=e["source"],
                    meta=e["meta"],
                )
            )
    return samples
