"""One decomposition from input bytes to checked layers, and writing them to a folder.

The CLI and the job worker both call :func:`decompose_image`; it is the one
place that decodes with limits, runs an engine and refuses an engine answer
that breaks the :class:`~lamina.engines.base.Engine` contract, so a buggy
engine becomes a readable :class:`EngineError` instead of corrupt files. An
exception the engine did not mean (a bug, a library's error) passes through
unchanged: its text is for the log, and :func:`lamina.errors.user_message`
decides what the user reads.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lamina.engines.base import Engine, ProgressCallback
from lamina.errors import EngineError, ImageTooLarge, user_message
from lamina.imaging.codec import DEFAULT_MAX_PIXELS, MEDIA_TYPES, DecodedImage, decode_image
from lamina.imaging.exports import (
    EXPORT_FILENAMES,
    EXPORT_MEDIA_TYPES,
    MANIFEST_FILENAME,
    ExportKind,
    export_bytes,
    layer_filename,
    layer_files,
    manifest,
)
from lamina.types import DecomposeParams, Layer, LayerStack, alpha_bbox

__all__ = [
    "OutputFile",
    "Outputs",
    "build_outputs",
    "decompose_image",
    "layer_filename",
    "write_outputs",
]

_OUTPUT_NAME = re.compile(r"layer_\d\d\.(png|webp)|layers\.(json|zip|psd|pptx)")


def decompose_image(
    data: bytes | DecodedImage,
    params: DecomposeParams,
    *,
    engine: Engine,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    admit: Callable[[int, int], None] | None = None,
    progress: ProgressCallback | None = None,
) -> LayerStack:
    """Decode ``data`` (unless already decoded), decompose it with ``engine`` and check the answer.

    Returns a stack of exactly ``params.num_layers`` ``H x W x 4`` ``uint8``
    layers of the input's size, with ``bbox`` and ``empty`` recomputed from
    each layer's alpha (so they always agree with the pixels) and the timings
    ``decode``, ``engine`` and ``total`` in seconds added to the engine's own.

    Raises :class:`~lamina.errors.InvalidImage` / :class:`ImageTooLarge` for bad
    input and :class:`EngineError` when the engine refuses the input or breaks its
    contract; any other exception from the engine propagates as it is.
    ``admit(width, height)`` is called once the image is decoded, before the engine runs;
    what it raises refuses the input (a worker's memory budget, :mod:`lamina.budget`).
    An exception raised by ``progress`` (how a caller stops a run) propagates
    unchanged, whatever the engine does with it.
    """
    start = time.perf_counter()
    if isinstance(data, DecodedImage):
        image = data
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"image is {width}x{height} = {width * height} pixels, "
                f"over the limit of {max_pixels}"
            )
    else:
        image = decode_image(data, max_pixels=max_pixels)
    decoded = time.perf_counter()
    if admit is not None:
        admit(*image.size)

    # The engine must not modify its input; a read-only view makes a violation loud.
    pixels = image.rgba.view()
    pixels.flags.writeable = False
    name = getattr(engine, "name", type(engine).__name__)
    stopped: list[BaseException] = []
    report: ProgressCallback | None = None
    if progress is not None:
        callback = progress

        def report(fraction: float, stage: str | None = None, /) -> None:
            try:
                if stage is None:
                    callback(fraction)
                else:
                    callback(fraction, stage)
            except BaseException as exc:
                stopped.append(exc)
                raise

    try:
        stack = engine.decompose(pixels, params, progress=report)
    except BaseException as exc:
        # The caller's callback stopped the run (e.g. a cancelled job): give the caller its
        # own exception back, even when the engine wrapped it in one of its own.
        if stopped and exc is not stopped[0]:
            raise stopped[0] from exc
        raise
    finished = time.perf_counter()

    _check_stack(stack, name, params.num_layers, image.rgba.shape[0], image.rgba.shape[1])
    stack.timings.update(
        decode=decoded - start, engine=finished - decoded, total=time.perf_counter() - start
    )
    return stack


def _check_stack(stack: object, engine: str, num_layers: int, height: int, width: int) -> None:
    """Raise :class:`EngineError` unless ``stack`` keeps the Engine contract; fix bbox/empty."""
    if not isinstance(stack, LayerStack):
        raise EngineError(f"engine {engine!r} returned {type(stack).__name__}, not a LayerStack")
    if len(stack.layers) != num_layers:
        raise EngineError(
            f"engine {engine!r} returned {len(stack.layers)} layers; {num_layers} were asked for"
        )
    for i, layer in enumerate(stack.layers):
        if not isinstance(layer, Layer):
            raise EngineError(f"engine {engine!r}: layer {i} is {type(layer).__name__}")
        rgba = layer.rgba
        if not isinstance(rgba, np.ndarray) or rgba.dtype != np.uint8:
            raise EngineError(f"engine {engine!r}: layer {i} is not a uint8 array")
        if rgba.shape != (height, width, 4):
            raise EngineError(
                f"engine {engine!r}: layer {i} has shape {rgba.shape}, "
                f"expected {(height, width, 4)}"
            )
        layer.bbox = alpha_bbox(rgba[..., 3])
        layer.empty = layer.bbox is None


@dataclass(frozen=True)
class OutputFile:
    """One file of a decomposition's outputs: its lamina name, bytes and media type."""

    name: str
    data: bytes
    media_type: str


@dataclass
class Outputs:
    """A decomposition's files, built in memory: layers back to front, then the exports.

    ``notes`` says which exports were left out and why; :meth:`manifest` adds them to the
    engine's own notes in ``layers.json``.
    """

    layers: list[OutputFile]
    exports: dict[ExportKind, OutputFile]
    notes: list[str] = field(default_factory=list)

    def manifest(self, stack: LayerStack, **timings: float) -> OutputFile:
        """``layers.json`` for these files, with ``timings`` added to the stack's own."""
        body = manifest(stack, exports=tuple(self.exports))
        body["notes"] = [*body["notes"], *self.notes]
        body["timings"] = {**body["timings"], **timings}
        data = (json.dumps(body, indent=2) + "\n").encode()
        return OutputFile(MANIFEST_FILENAME, data, "application/json")


def build_outputs(
    stack: LayerStack,
    exports: Iterable[ExportKind] = (),
    *,
    best_effort: bool = False,
    psd_max_pixel_layers: int | None = None,
) -> Outputs:
    """Encode the layers and make the ``exports`` asked for, in memory.

    The CLI asks for exports by name, so one that cannot be made raises (e.g. a PSD over
    30,000 px). A worker makes every export with ``best_effort``: the layers matter more
    than one format, so a PSD past the format's size, past ``psd_max_pixel_layers``
    (width x height x layers, a memory budget) or failing is left out with a note instead.
    """
    kinds = list(dict.fromkeys(exports))
    for kind in kinds:
        if kind not in EXPORT_FILENAMES:
            raise ValueError(f"unknown export {kind!r}")
    fmt = stack.params.output_format
    encoded = layer_files(stack)
    outputs = Outputs(
        layers=[
            OutputFile(layer_filename(i, fmt), data, MEDIA_TYPES[fmt])
            for i, data in enumerate(encoded)
        ],
        exports={},
    )
    for kind in kinds:
        reason = _psd_refusal(stack, psd_max_pixel_layers) if kind == "psd" else None
        if reason is None:
            try:
                data = export_bytes(stack, kind, encoded=encoded)
            except Exception as exc:
                if not (best_effort and kind == "psd"):
                    raise
                reason = user_message(exc, "a PSD export failed")
            else:
                media_type = EXPORT_MEDIA_TYPES[kind]
                outputs.exports[kind] = OutputFile(EXPORT_FILENAMES[kind], data, media_type)
                continue
        if not best_effort:
            raise ImageTooLarge(f"no PSD export: {reason}")
        outputs.notes.append(f"no {kind.upper()} export: {reason}")
    return outputs


def _psd_refusal(stack: LayerStack, max_pixel_layers: int | None) -> str | None:
    """Why no PSD is made for ``stack`` under a ``max_pixel_layers`` budget, or ``None``
    (the format's own limit is :func:`~lamina.imaging.exports.to_psd`'s to say)."""
    width, height = stack.size
    pixel_layers = width * height * len(stack.layers)
    if max_pixel_layers is not None and pixel_layers > max_pixel_layers:
        return (
            f"{width}x{height} px x {len(stack.layers)} layers is over this server's PSD "
            f"budget of {max_pixel_layers:,} pixel-layers"
        )
    return None


def write_outputs(
    stack: LayerStack, outdir: str | Path, *, exports: Iterable[ExportKind] = ()
) -> list[Path]:
    """Write the layer files, ``layers.json`` and the ``exports`` asked for into ``outdir``.

    ``outdir`` is created if needed. Files a previous run left there under
    lamina's own names (``layer_NN.*``, ``layers.*``) are removed first, so the
    folder never mixes two runs; nothing else in it is touched. All files are
    built in memory first (:func:`build_outputs`), so an export that fails (e.g. a PSD
    over 30,000 px) raises before ``outdir`` is created or changed. Returns the written
    paths: layers back to front, then ``layers.json``, then exports.
    """
    outputs = build_outputs(stack, exports)
    files = [*outputs.layers, outputs.manifest(stack), *outputs.exports.values()]
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_file() and _OUTPUT_NAME.fullmatch(old.name):
            old.unlink()
    written = []
    for file in files:
        path = out / file.name
        path.write_bytes(file.data)
        written.append(path)
    return written
