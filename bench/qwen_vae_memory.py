"""Memory of one layer's VAE decode with the real-size RGBA VAE of Qwen-Image-Layered, on CPU.

The engine decodes layers one at a time (VAE slicing), so this per-layer figure,
not the layer count, sets the VAE's share of the peak. The VAE is built with
random weights from diffusers' ``AutoencoderKLQwenImage`` defaults (the released
architecture) with a 4-channel (RGBA) input; each resolution is measured in a
fresh process as the growth of its peak resident memory over one decode. On a
GPU the caching allocator's figure may differ. Run from the repository root::

    .venv/bin/python -m bench.qwen_vae_memory
"""

from __future__ import annotations

import argparse
import subprocess
import sys

_ONE = """
import gc, resource, time
import torch
from diffusers import AutoencoderKLQwenImage
torch.manual_seed(0)
dtype = getattr(torch, {dtype!r})
vae = AutoencoderKLQwenImage(input_channels=4).to(dtype).eval()
z = torch.randn(1, vae.config.z_dim, 1, {side} // 8, {side} // 8, dtype=dtype)
gc.collect()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
with torch.no_grad():
    vae.decode(z)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((peak - before) / 2**20, time.perf_counter() - started)
"""


def main(argv: list[str] | None = None) -> int:
    """Print a Markdown table of GiB and seconds per layer decode at each side."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", default="640,1024", help="working sides (default 640,1024)")
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args(argv)
    print(f"| side | GiB per layer decode ({args.dtype}, CPU peak RSS growth) | seconds |")
    print("|---|---|---|")
    for side in (int(s) for s in args.sides.split(",")):
        code = _ONE.format(dtype=args.dtype, side=side)
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        gib, seconds = (float(v) for v in result.stdout.split())
        print(f"| {side} | {gib:.2f} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
