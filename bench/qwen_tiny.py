"""A tiny, randomly initialised Qwen-Image-Layered pipeline, and a CPU benchmark of it.

:func:`save_tiny_pipeline` builds the same component classes as the released
model (QwenImageTransformer2DModel with the layered 3D RoPE and the extra
timestep condition, an RGBA AutoencoderKLQwenImage, a Qwen2.5-VL text encoder,
the flow-matching scheduler and a Qwen2 byte-level tokenizer), at widths of a
few channels, built locally because the hub is out of reach. It is the test
fixture of ``tests/engines/qwen``, built in ``tests/support/qwen_model.py``, and the
subject of this benchmark: its output is noise, so it measures the plumbing (loading,
the 640 bucket's token counts, VAE, resizing), never quality.

It has no caption processor: transformers' Qwen2-VL processor needs
torchvision, which has no CPU build for this torch on our package index.

Run from the repository root::

    .venv/bin/python -m bench.qwen_tiny --repeat 5

It prints a Markdown table of median seconds per image for the tiny qwen
engine and, as the baseline, the classic engine on the same images.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from tests.support.qwen_model import save_tiny_pipeline

if TYPE_CHECKING:
    from lamina.engines import Engine
    from lamina.types import DecomposeParams


def _median_seconds(
    engine: Engine, image: NDArray[np.uint8], params: DecomposeParams, repeat: int
) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        engine.decompose(image, params)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Time the tiny qwen engine against the classic engine on synthetic designs."""
    from lamina.engines import get_engine
    from lamina.types import DecomposeParams

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per image (median taken)")
    parser.add_argument("--steps", type=int, default=2, help="qwen inference steps")
    parser.add_argument("--layers", type=int, default=4, help="layers per image")
    args = parser.parse_args(argv)

    images = _bench_images()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        model = save_tiny_pipeline(Path(tmp) / "tiny")
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        qwen = get_engine("qwen", model=str(model), device="cpu")
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        qwen.warm_up()
        warm_s = time.perf_counter() - started
        classic = get_engine("classic")
        classic.warm_up()
        for name, image in images:
            for resolution in (640, 1024):
                params = DecomposeParams(
                    num_layers=args.layers,
                    num_inference_steps=args.steps,
                    prompt="a poster",
                    resolution=resolution,
                )
                q = _median_seconds(qwen, image, params, args.repeat)
                c = _median_seconds(classic, image, params, args.repeat)
                h, w = image.shape[:2]
                rows.append((name, f"{w}x{h}", resolution, q, c))
    print(f"tiny pipeline: built {build_s:.1f} s, loaded {load_s:.1f} s, warm-up {warm_s:.1f} s")
    print(f"{args.layers} layers, {args.steps} steps, median of {args.repeat} runs, CPU\n")
    print("| image | size | resolution | qwen tiny s | classic s | qwen / classic |")
    print("|---|---|---|---|---|---|")
    for name, size, resolution, q, c in rows:
        print(f"| {name} | {size} | {resolution} | {q:.2f} | {c:.2f} | {q / c:.1f}x |")
    return 0


def _bench_images() -> list[tuple[str, NDArray[np.uint8]]]:
    """A square and a wide design from the shared synthetic generator."""
    from bench.synth import generate

    return [
        ("panels, square", generate(0, size=(512, 512), category="panels").image),
        ("text, wide", generate(1, size=(960, 540), category="text").image),
    ]


if __name__ == "__main__":
    sys.exit(main())
