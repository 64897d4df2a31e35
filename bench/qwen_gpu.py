"""GPU smoke run of the real Qwen-Image-Layered: timings and peak GPU memory per memory mode.

One command on a machine with a CUDA GPU and the weights::

    .venv/bin/python -m bench.qwen_gpu --model /models/qwen-image-layered

For each mode (``none``, ``model``, ``group``, ``sequential``, each optionally
``+fp8`` and ``+compile``) it loads the engine, warms it up, and decomposes one
synthetic design at each resolution (640, 1024) into each layer count (3, 6,
10), recording the seconds of each run and the peak of
``torch.cuda.max_memory_allocated`` during it. A run that runs out of memory is
recorded as ``OOM`` and the next one goes on. It prints a Markdown table, the
one docs/qwen.md leaves as "not measured", and with ``--json`` writes the
figures too.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_MODES = "none,model,model+fp8,group,group+fp8"
_GIB = 2**30


def main(argv: list[str] | None = None) -> int:
    """Run every mode x resolution x layer count and print the table."""
    import torch

    from bench.synth import generate
    from lamina.engines.qwen import DEFAULT_MODEL, QwenEngine
    from lamina.errors import LaminaError
    from lamina.types import DecomposeParams

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="weights folder or repo id")
    parser.add_argument("--device", default="cuda", help="CUDA device (default cuda)")
    parser.add_argument("--modes", default=DEFAULT_MODES, help=f"default {DEFAULT_MODES}")
    parser.add_argument("--resolutions", default="640,1024")
    parser.add_argument("--layers", default="3,6,10")
    parser.add_argument("--steps", type=int, default=28, help="inference steps (default 28)")
    parser.add_argument("--attention-backend", default=None, help="e.g. flash, _flash_3, sage")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench.qwen_gpu: no CUDA GPU is usable here", file=sys.stderr)
        return 2

    image = generate(0, size=(1024, 768), category="panels").image
    resolutions = [int(r) for r in args.resolutions.split(",")]
    layer_counts = [int(n) for n in args.layers.split(",")]
    rows: list[dict[str, Any]] = []
    for mode in args.modes.split(","):
        offload, *flags = mode.split("+")
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(args.device)
        started = time.perf_counter()
        engine: QwenEngine | None = None
        try:
            engine = QwenEngine(
                model=args.model,
                device=args.device,
                cpu_offload=offload,
                fp8="fp8" in flags,
                compile="compile" in flags,
                attention_backend=args.attention_backend,
            )
            engine.warm_up()
        except (LaminaError, torch.OutOfMemoryError) as exc:
            print(f"{mode}: could not start: {exc}", file=sys.stderr)
            rows.append({"mode": mode, "error": str(exc)})
            del engine  # a warm-up that failed must not hold the GPU for the next mode
            continue
        load_s = time.perf_counter() - started
        for resolution in resolutions:
            for layers in layer_counts:
                params = DecomposeParams(
                    num_layers=layers,
                    num_inference_steps=args.steps,
                    prompt="a poster with panels and text",
                    resolution=resolution,
                )
                torch.cuda.synchronize(args.device)
                torch.cuda.reset_peak_memory_stats(args.device)
                row: dict[str, Any] = {
                    "mode": mode,
                    "resolution": resolution,
                    "layers": layers,
                    "load_s": round(load_s, 1),
                }
                started = time.perf_counter()
                try:
                    engine.decompose(image, params)
                    torch.cuda.synchronize(args.device)
                    row["seconds"] = round(time.perf_counter() - started, 1)
                except LaminaError as exc:  # out of memory comes back as an EngineError
                    row["error"] = "OOM" if "out of memory" in str(exc) else str(exc)
                peak = torch.cuda.max_memory_allocated(args.device)
                row["peak_gib"] = round(peak / _GIB, 1)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        del engine
    _print_table(rows, args.steps, torch.cuda.get_device_name(args.device))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def _print_table(rows: list[dict[str, Any]], steps: int, device: str) -> None:
    print(f"{device}, bfloat16, {steps} steps, guidance 5 (two transformer passes a step)\n")
    print("| mode | resolution | layers | seconds | peak GiB | load + warm-up s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        if "resolution" not in row:
            print(f"| {row['mode']} | - | - | {row['error']} | - | - |")
            continue
        seconds = row.get("seconds", row.get("error"))
        print(
            f"| {row['mode']} | {row['resolution']} | {row['layers']} | {seconds} "
            f"| {row['peak_gib']} | {row['load_s']} |"
        )


if __name__ == "__main__":
    sys.exit(main())
