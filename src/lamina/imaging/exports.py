"""Layered exports of a :class:`~lamina.types.LayerStack`: ZIP, PSD and PPTX bytes.

Pure functions (a stack in, file bytes out) so the CLI and the job worker share
them. Every export keeps every layer, empty ones included, so that layer ``i``
in any export is layer ``i`` of ``layers.json``. PSD layers and PPTX pictures are
cropped to their layer's bounding box and placed where it lies, as in a designer's
file: each selects, moves and aligns on its own instead of as a canvas-sized sheet.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lamina.defaults import EXPORT_KINDS, MEDIA_TYPES, ExportKind
from lamina.errors import ImageTooLarge
from lamina.imaging.codec import encode_image
from lamina.types import BBox, Layer, LayerStack

EXPORT_FILENAMES: dict[ExportKind, str] = {
    "zip": "layers.zip",
    "psd": "layers.psd",
    "pptx": "layers.pptx",
}
EXPORT_MEDIA_TYPES: dict[ExportKind, str] = {kind: MEDIA_TYPES[kind] for kind in EXPORT_KINDS}
MANIFEST_FILENAME = "layers.json"
PSD_MAX_SIDE = 30_000

_EMU_PER_PX = 914_400 // 96  # 96 dpi
_MIN_SLIDE_EMU = 914_400  # PowerPoint refuses slides under 1 inch ...
_MAX_SLIDE_EMU = 56 * 914_400  # ... or over 56 inches on a side.


def layer_filename(index: int, fmt: str) -> str:
    """``layer_00.png`` style name; names sort back to front (layer 0 = background)."""
    if fmt not in ("png", "webp"):
        raise ValueError(f"unsupported layer format {fmt!r}")
    if not 0 <= index < 100:
        raise ValueError(f"layer index {index} out of range 0..99")
    return f"layer_{index:02d}.{fmt}"


def manifest(stack: LayerStack, *, exports: Iterable[ExportKind] = ()) -> dict[str, Any]:
    """The body of ``layers.json``: :meth:`LayerStack.metadata` plus file names.

    Each layer gains ``file``; ``exports`` maps each export kind given to its file name.
    """
    body = stack.metadata()
    fmt = stack.params.output_format
    for entry in body["layers"]:
        entry["file"] = layer_filename(entry["index"], fmt)
    body["exports"] = {kind: EXPORT_FILENAMES[kind] for kind in exports}
    return body


def manifest_bytes(stack: LayerStack, *, exports: Iterable[ExportKind] = ()) -> bytes:
    """:func:`manifest` as indented UTF-8 JSON with a trailing newline."""
    return (json.dumps(manifest(stack, exports=exports), indent=2) + "\n").encode()


def layer_files(stack: LayerStack, encoded: Sequence[bytes] | None = None) -> list[bytes]:
    """Every layer encoded in ``stack.params.output_format``, or ``encoded`` once checked.

    Callers that already wrote the layer files pass their bytes as ``encoded``
    so that exports do not encode every layer again.
    """
    if encoded is None:
        return [encode_image(layer.rgba, stack.params.output_format) for layer in stack.layers]
    if len(encoded) != len(stack.layers):
        raise ValueError(f"{len(encoded)} encoded files for {len(stack.layers)} layers")
    return list(encoded)


def to_zip(stack: LayerStack, *, encoded: Sequence[bytes] | None = None) -> bytes:
    """A ZIP of the layer files (in ``output_format``) and ``layers.json``.

    Layer files are stored, not deflated: PNG and WebP are already compressed.
    ``encoded``: see :func:`layer_files`.
    """
    fmt = stack.params.output_format
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, data in enumerate(layer_files(stack, encoded)):
            zf.writestr(
                zipfile.ZipInfo(layer_filename(i, fmt), date_time=(1980, 1, 1, 0, 0, 0)),
                data,
                compress_type=zipfile.ZIP_STORED,
            )
        zf.writestr(
            zipfile.ZipInfo(MANIFEST_FILENAME, date_time=(1980, 1, 1, 0, 0, 0)),
            manifest_bytes(stack),
            compress_type=zipfile.ZIP_DEFLATED,
        )
    return buf.getvalue()


def export_names(stack: LayerStack) -> list[str]:
    """Layer names for the PSD and PPTX exports, from the layer kinds: ``background``,
    ``text 1``, ``text 2``, ``shape 1`` ... (numbered per kind, back to front, whenever a
    kind occurs more than once), so a layers panel reads like a designer's."""
    totals: dict[str, int] = {}
    for layer in stack.layers:
        totals[layer.kind] = totals.get(layer.kind, 0) + 1
    seen: dict[str, int] = {}
    names = []
    for layer in stack.layers:
        seen[layer.kind] = seen.get(layer.kind, 0) + 1
        unique = totals[layer.kind] == 1 and layer.kind in ("background", "empty")
        names.append(layer.kind if unique else f"{layer.kind} {seen[layer.kind]}")
    return names


def cropped(layer: Layer) -> tuple[BBox, NDArray[np.uint8]]:
    """The layer's bounding box and its pixels inside it; an empty layer is one
    transparent pixel at the origin (the formats have no zero-sized layer)."""
    if layer.bbox is None:
        return (0, 0, 1, 1), np.zeros((1, 1, 4), dtype=np.uint8)
    x0, y0, x1, y1 = layer.bbox
    return layer.bbox, layer.rgba[y0:y1, x0:x1]


def to_psd(stack: LayerStack) -> bytes:
    """A layered Photoshop file: one RGBA pixel layer per layer, back to front, each cropped
    to its bounding box at its position and named by :func:`export_names`.

    Layers and the merged preview are RLE-compressed; empty layers are kept (so indices
    match) but hidden. Raises :class:`~lamina.errors.ImageTooLarge` for a side over
    30,000 px, the PSD format's limit (psd-tools cannot write such layers even as PSB).
    """
    from psd_tools import PSDImage
    from psd_tools.constants import Compression

    # An RGB document, as Photoshop writes layered files (an RGBA one shows a stray "Alpha 1"
    # channel); layers built from 4-channel arrays keep alpha as their transparency channel
    # rather than as a layer mask. The merged preview is composited over white.
    width, height = stack.size
    if max(width, height) > PSD_MAX_SIDE:
        raise ImageTooLarge(
            f"a PSD export holds at most {PSD_MAX_SIDE} px per side; this image is {width}x{height}"
        )
    psd = PSDImage.new("RGB", stack.size, color=(255, 255, 255), compression=Compression.RLE)
    for layer, name in zip(stack.layers, export_names(stack), strict=True):
        (x0, y0, _, _), pixels = cropped(layer)
        pixel_layer = psd.create_pixel_layer_from_array(
            np.ascontiguousarray(pixels), name=name, top=y0, left=x0
        )
        if layer.empty:
            pixel_layer.visible = False
    buf = io.BytesIO()
    psd.save(buf)
    return buf.getvalue()


def slide_geometry(width: int, height: int) -> tuple[int, int, int, int, int, int]:
    """Slide and picture geometry in EMU for a ``width x height`` px image at 96 dpi.

    Returns ``(slide_w, slide_h, left, top, pic_w, pic_h)``. The picture keeps
    the image's aspect ratio; it is scaled down when a side would exceed
    PowerPoint's 56-inch limit and up (as far as that limit allows) when a side
    would be under 1 inch. A slide side is clamped to ``[1, 56]`` inches and the
    picture centred on it, which only leaves margins for extreme aspect ratios.
    """
    if width < 1 or height < 1:
        raise ValueError("image size must be positive")
    pic_w, pic_h = width * _EMU_PER_PX, height * _EMU_PER_PX
    scale = min(1.0, _MAX_SLIDE_EMU / max(pic_w, pic_h))
    if min(pic_w, pic_h) * scale < _MIN_SLIDE_EMU:
        scale = min(_MIN_SLIDE_EMU / min(pic_w, pic_h), _MAX_SLIDE_EMU / max(pic_w, pic_h))
    pic_w = max(1, min(_MAX_SLIDE_EMU, round(pic_w * scale)))
    pic_h = max(1, min(_MAX_SLIDE_EMU, round(pic_h * scale)))
    slide_w = max(_MIN_SLIDE_EMU, pic_w)
    slide_h = max(_MIN_SLIDE_EMU, pic_h)
    return slide_w, slide_h, (slide_w - pic_w) // 2, (slide_h - pic_h) // 2, pic_w, pic_h


def to_pptx(stack: LayerStack, *, encoded: Sequence[bytes] | None = None) -> bytes:
    """A one-slide PowerPoint deck: every layer a PNG picture cropped to its bounding box
    and placed where it lies, in z-order (the first picture is the background).

    Pictures are named by :func:`export_names`; an empty layer is a hidden one-pixel
    picture, so picture ``i`` is still layer ``i``. See :func:`slide_geometry` for the
    slide size. A picture's edges are rounded to EMU from the image's pixel edges, so
    neighbouring layers neither gap nor overlap. ``encoded`` (see :func:`layer_files`) is
    reused for a PNG layer that covers the whole canvas, as a background usually does.
    """
    from pptx import Presentation
    from pptx.util import Emu

    width, height = stack.size
    slide_w, slide_h, left, top, pic_w, pic_h = slide_geometry(width, height)
    deck = Presentation()
    deck.slide_width = Emu(slide_w)
    deck.slide_height = Emu(slide_h)
    blank = min(deck.slide_layouts, key=lambda layout: len(layout.placeholders))
    slide = deck.slides.add_slide(blank)
    full = (0, 0, width, height)
    reusable = stack.params.output_format == "png" and encoded is not None
    pngs = layer_files(stack, encoded) if reusable else [b""] * len(stack.layers)
    for layer, name, png in zip(stack.layers, export_names(stack), pngs, strict=True):
        (x0, y0, x1, y1), pixels = cropped(layer)
        if not png or layer.bbox != full:
            png = encode_image(pixels, "png")
        x_emu = [left + round(x * pic_w / width) for x in (x0, x1)]
        y_emu = [top + round(y * pic_h / height) for y in (y0, y1)]
        picture = slide.shapes.add_picture(
            io.BytesIO(png),
            Emu(x_emu[0]),
            Emu(y_emu[0]),
            Emu(max(1, x_emu[1] - x_emu[0])),
            Emu(max(1, y_emu[1] - y_emu[0])),
        )
        picture.name = name
        if layer.empty:
            picture._element.nvPicPr.cNvPr.set("hidden", "1")
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


def export_bytes(
    stack: LayerStack, kind: ExportKind, *, encoded: Sequence[bytes] | None = None
) -> bytes:
    """The export called ``kind`` (``zip``, ``psd`` or ``pptx``) of ``stack``.

    ``encoded``: the layer files already encoded in ``output_format`` (see
    :func:`layer_files`), reused by the ZIP and, for canvas-sized PNG layers, the PPTX.
    """
    if kind == "zip":
        return to_zip(stack, encoded=encoded)
    if kind == "psd":
        return to_psd(stack)
    if kind == "pptx":
        return to_pptx(stack, encoded=encoded)
    raise ValueError(f"unknown export {kind!r}; choose from {', '.join(EXPORT_KINDS)}")
