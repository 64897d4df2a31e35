"""Layered exports of a :class:`~lamina.types.LayerStack`: ZIP, PSD and PPTX bytes.

Pure functions (a stack in, file bytes out) so the CLI and the job worker share
them. Every export keeps every layer, empty ones included, so that layer ``i``
in any export is layer ``i`` of ``layers.json``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from lamina.errors import ImageTooLarge
from lamina.imaging.codec import encode_image
from lamina.types import LayerStack

ExportKind = Literal["zip", "psd", "pptx"]
EXPORT_KINDS: tuple[ExportKind, ...] = ("zip", "psd", "pptx")
EXPORT_FILENAMES: dict[ExportKind, str] = {
    "zip": "layers.zip",
    "psd": "layers.psd",
    "pptx": "layers.pptx",
}
EXPORT_MEDIA_TYPES: dict[ExportKind, str] = {
    "zip": "application/zip",
    "psd": "image/vnd.adobe.photoshop",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
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


def to_psd(stack: LayerStack) -> bytes:
    """A layered Photoshop file: one full-canvas RGBA pixel layer per layer, back to front.

    Layers (named after the stack's) and the merged preview are RLE-compressed;
    empty layers are kept (so indices match) but hidden. Raises
    :class:`~lamina.errors.ImageTooLarge` for a side over 30,000 px, the PSD
    format's limit (psd-tools cannot write such layers even as PSB).
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
    for layer in stack.layers:
        pixel_layer = psd.create_pixel_layer_from_array(layer.rgba, name=layer.name)
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
    """A one-slide PowerPoint deck: every layer a PNG picture covering the image, in order.

    The first picture (bottom of the z-order) is the background; each picture
    is named after its layer. See :func:`slide_geometry` for the slide size.
    ``encoded`` (see :func:`layer_files`) is reused when the output format is PNG.
    """
    from pptx import Presentation
    from pptx.util import Emu

    slide_w, slide_h, left, top, pic_w, pic_h = slide_geometry(*stack.size)
    deck = Presentation()
    deck.slide_width = Emu(slide_w)
    deck.slide_height = Emu(slide_h)
    blank = min(deck.slide_layouts, key=lambda layout: len(layout.placeholders))
    slide = deck.slides.add_slide(blank)
    if stack.params.output_format == "png":
        pngs = layer_files(stack, encoded)
    else:
        pngs = [encode_image(layer.rgba, "png") for layer in stack.layers]
    for layer, png in zip(stack.layers, pngs, strict=True):
        picture = slide.shapes.add_picture(
            io.BytesIO(png),
            Emu(left),
            Emu(top),
            Emu(pic_w),
            Emu(pic_h),
        )
        picture.name = layer.name
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


def export_bytes(
    stack: LayerStack, kind: ExportKind, *, encoded: Sequence[bytes] | None = None
) -> bytes:
    """The export called ``kind`` (``zip``, ``psd`` or ``pptx``) of ``stack``.

    ``encoded``: the layer files already encoded in ``output_format`` (see
    :func:`layer_files`), reused by the ZIP and, for PNG, the PPTX export.
    """
    if kind == "zip":
        return to_zip(stack, encoded=encoded)
    if kind == "psd":
        return to_psd(stack)
    if kind == "pptx":
        return to_pptx(stack, encoded=encoded)
    raise ValueError(f"unknown export {kind!r}; choose from {', '.join(EXPORT_KINDS)}")
