"""The memory a job is expected to need at its peak, checked before the engine runs.

An engine may know its own needs: ``memory_estimate(width, height, num_layers) -> bytes``
(the whole job's peak in a worker: decoding, the engine, encoding and exports). For one
that does not, :func:`estimate_job_memory` uses figures measured with the classic engine in
a worker, rounded up (``docs/benchmarks.md``, "Memory per job": 12 MP and 4 layers with a
PSD peaked at 1.6 GiB, 40 MP and 10 layers, too big for a PSD, at 1.4 GiB).
"""

from __future__ import annotations

from lamina.errors import ImageTooLarge

BASE_BYTES = 256 * 2**20
"""Interpreter, libraries and engine state, whatever the image."""
BYTES_PER_PIXEL = 16
"""The decoded input, the engine's working copies and the composite, per input pixel."""
BYTES_PER_PIXEL_LAYER = 6
"""Each output layer (RGBA) and its encoded file, per pixel."""
PSD_BYTES_PER_PIXEL_LAYER = 24
"""The PSD export (psd-tools builds it in memory), per pixel and layer, when one is made."""
GIB = 2**30


def estimate_job_memory(
    width: int, height: int, num_layers: int, engine: object, *, psd_max_pixel_layers: int
) -> int:
    """Bytes a job on a ``width x height`` image with ``num_layers`` layers needs at its
    peak: the engine's own ``memory_estimate`` if it has one, else the measured default
    (with a PSD when ``width * height * num_layers <= psd_max_pixel_layers``)."""
    own = getattr(engine, "memory_estimate", None)
    if callable(own):
        return int(own(width, height, num_layers))
    pixels = width * height
    need = BASE_BYTES + pixels * (BYTES_PER_PIXEL + BYTES_PER_PIXEL_LAYER * num_layers)
    if pixels * num_layers <= psd_max_pixel_layers:
        need += pixels * num_layers * PSD_BYTES_PER_PIXEL_LAYER
    return need


def check_job_memory(
    width: int,
    height: int,
    *,
    num_layers: int,
    engine: object,
    limit: int,
    psd_max_pixel_layers: int,
) -> None:
    """Raise :class:`ImageTooLarge`, a readable refusal, when the job would need more than
    ``limit`` bytes."""
    need = estimate_job_memory(
        width, height, num_layers, engine, psd_max_pixel_layers=psd_max_pixel_layers
    )
    if need > limit:
        raise ImageTooLarge(
            f"decomposing this {width}x{height} image into {num_layers} layers would need "
            f"about {need / GIB:.1f} GiB, over this server's limit of {limit / GIB:.1f} GiB "
            "per job (max_job_memory); try a smaller image or fewer layers"
        )
