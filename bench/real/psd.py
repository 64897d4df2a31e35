"""Real PSDs: the top-level layers of layered documents, checked against their stored preview.

The documents are not shipped with lamina: pass folders (e.g. exports of the
psd-tools and ag-psd test folders, see ``docs/benchmarks.md``). A document is
kept when it is 8-bit RGB, at least :data:`MIN_SIDE` pixels on its shorter side,
with 2-16 visible top-level layers whose composites (psd-tools, full canvas)
laid "over" one another reproduce the preview Photoshop stored in the file at
>= 40 dB: that proves the layers are
a faithful decomposition (no blend modes, adjustments or effects they would
lose). Every other document is logged with the reason it was dropped.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from psd_tools import PSDImage
from psd_tools.api.layers import Layer

from bench.real.common import (
    KEEP_PSNR_DB,
    MAX_SIDE,
    RGBA,
    RealSample,
    composite_uint8,
    fit_layers,
    make_sample,
    psnr_on_white,
)

#: More than the engines return (10): they are asked for 10 and scored against all.
MAX_LAYERS = 16
#: Shorter side, in pixels, below which a document is a parser's test fixture (1x1 to 55x101
#: px files of masks and clipping in these folders), not a design a person would take apart:
#: an app icon is 64 px.
MIN_SIDE = 64
#: Distinct colours above which a pixel or smart-object layer counts as a photo.
_PHOTO_COLOURS = 4096


def find_psds(sources: Iterable[Path]) -> list[tuple[str, Path]]:
    """``(name, path)`` of every ``*.psd`` under ``sources``; names are ``SOURCE/relative``."""
    found = []
    for source in sources:
        for path in sorted(source.rglob("*.psd")):
            found.append((f"{source.name}/{path.relative_to(source).as_posix()}", path))
    return found


def classify(layers: Sequence[Layer]) -> str:
    """A document's kind: ``ui``, ``text``, ``photo-composite`` or ``illustration``.

    Artboards mean a UI mock-up; type layers a text design; a pixel or smart
    object layer with thousands of colours a photo composite.
    """
    every = list(_descend(layers))
    kinds = {layer.kind for layer in every}
    if "artboard" in kinds:
        return "ui"
    if "type" in kinds:
        return "text"
    for layer in every:
        if layer.kind in ("pixel", "smartobject") and _colours(layer) > _PHOTO_COLOURS:
            return "photo-composite"
    return "illustration"


def _descend(layers: Iterable[Layer]) -> Iterable[Layer]:
    for layer in layers:
        yield layer
        if layer.is_group():
            yield from _descend(layer)


def _colours(layer: Layer) -> int:
    image = layer.topil()
    if image is None:
        return 0
    rgb = np.asarray(image.convert("RGB")).reshape(-1, 3)
    packed = (rgb[:, 0].astype(np.int32) << 16) | (rgb[:, 1].astype(np.int32) << 8) | rgb[:, 2]
    return int(np.unique(packed).size)


def top_layers(psd: PSDImage) -> list[Layer]:
    """The visible top-level layers, looking through a lone group that holds everything.

    Designers often keep a whole design in one group; its children are then
    the layers a person would move.
    """
    top = [layer for layer in psd if layer.is_visible()]
    while len(top) == 1 and top[0].is_group():
        top = [layer for layer in top[0] if layer.is_visible()]
    return top


def document_layers(psd: PSDImage) -> tuple[list[RGBA], RGBA | None]:
    """Visible top-level layers as full-canvas RGBA, and the stored preview."""
    top = top_layers(psd)
    rendered = []
    for layer in top:
        image = layer.composite(viewport=psd.viewbox)
        if image is not None:
            rendered.append(np.asarray(image.convert("RGBA")))
    preview = psd.topil()
    return rendered, None if preview is None else np.asarray(preview.convert("RGBA"))


def load_document(name: str, path: Path, max_side: int = MAX_SIDE) -> RealSample | str:
    """The sample for one document, or the reason it was dropped."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            psd = PSDImage.open(path)
            if psd.color_mode.name != "RGB" or psd.depth != 8:
                return f"dropped: {psd.color_mode.name} {psd.depth}-bit (want 8-bit RGB)"
            if min(psd.width, psd.height) < MIN_SIDE:
                return f"dropped: {psd.width}x{psd.height} px, under {MIN_SIDE} px (a test fixture)"
            layers, preview = document_layers(psd)
            if preview is None:
                return "dropped: no stored preview"
            layers = [layer for layer in layers if layer[..., 3].any()]
            if not 2 <= len(layers) <= MAX_LAYERS:
                return f"dropped: {len(layers)} visible non-empty top-level layers"
            db = psnr_on_white(composite_uint8(layers), preview)
            if db < KEEP_PSNR_DB:
                return f"dropped: layers composite to the preview at {db:.1f} dB"
            kind = classify(list(psd))
    except Exception as exc:  # any file psd-tools cannot read is dropped and logged
        return f"dropped: psd-tools failed ({type(exc).__name__}: {exc})"[:160]
    return make_sample(
        name, "psd", kind, fit_layers(layers, max_side), source=str(path), psnr=f"{db:.1f}"
    )


def build(
    sources: Sequence[Path], *, max_side: int = MAX_SIDE
) -> tuple[list[RealSample], dict[str, str]]:
    """The PSD set from every document under ``sources`` (duplicates kept once) and the log."""
    samples: list[RealSample] = []
    log: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, path in find_psds(sources):
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        if digest in seen:
            log[name] = f"dropped: same file as {seen[digest]}"
            continue
        seen[digest] = name
        result = load_document(name, path, max_side)
        if isinstance(result, str):
            log[name] = result
            continue
        twin = next((s.name for s in samples if _same(s, result)), None)
        if twin is not None:
            log[name] = f"dropped: same layers as {twin}"
            continue
        samples.append(result)
        log[name] = f"kept: {len(result.layers)} layers, {result.kind}, {result.meta['psnr']} dB"
    return samples, log


def _same(a: RealSample, b: RealSample) -> bool:
    return (
        a.image.shape == b.image.shape
        and len(a.layers) == len(b.layers)
        and bool(np.array_equal(a.image, b.image))
    )
