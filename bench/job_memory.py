"""A worker job's peak memory next to :func:`lamina.budget.estimate_job_memory`.

Usage: ``.venv/bin/python -m bench.job_memory [--sizes 2000x1500x4,4000x3000x4,...]``. Each
size runs in its own process: one classic-engine job (a flat design: white background and
six coloured rectangles) through a real :class:`~lamina.jobs.worker.Worker` on a temporary
SQLite store and local storage, layers, exports and all; the peak is that process's
``ru_maxrss``. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from lamina.jobs.worker import PSD_MAX_PIXEL_LAYERS

MIB = 2**20
_CHILD = """
import json, resource, sys, tempfile, threading, time
from pathlib import Path
import numpy as np
from lamina.budget import estimate_job_memory
from lamina.config import Settings
from lamina.engines.base import get_engine
from lamina.imaging.codec import encode_image
from lamina.jobs.store import JobStore
from lamina.jobs.worker import PSD_MAX_PIXEL_LAYERS, Worker
from lamina.storage import LocalStorage

width, height, layers = (int(v) for v in sys.argv[1:4])
image = np.full((height, width, 4), 255, np.uint8)
rng = np.random.default_rng(0)
for _ in range(6):
    x, y = rng.integers(0, width // 2), rng.integers(0, height // 2)
    image[y : y + height // 4, x : x + width // 4, :3] = rng.integers(0, 255, 3)
png = encode_image(image)
del image
tmp = Path(tempfile.mkdtemp())
settings = Settings(data_dir=tmp)
store = JobStore(settings.resolved_database_url)
store.migrate()
storage = LocalStorage(tmp / "files", b"k" * 32)
storage.put("inputs/a.png", png, "image/png")
job = store.submit(owner="k", model_id="m", params={"num_layers": layers}, input_key="inputs/a.png")
engine = get_engine("classic")
start = time.perf_counter()
Worker(store, storage, lambda: engine, settings).run(threading.Event(), max_jobs=1)
print(json.dumps({
    "state": store.get(job.id).state.value,
    "s": time.perf_counter() - start,
    "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "estimate": estimate_job_memory(
        width, height, layers, engine, psd_max_pixel_layers=PSD_MAX_PIXEL_LAYERS
    ),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes", default="2000x1500x4,4000x3000x4,4000x3000x10,6300x6300x4,6300x6300x10"
    )
    args = parser.parse_args()
    print("| input | layers | PSD made | job | peak RSS | estimate | estimate / peak |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        width, height, layers = (int(v) for v in size.split("x"))
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(width), str(height), str(layers)],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        psd = "yes" if width * height * layers <= PSD_MAX_PIXEL_LAYERS else "no"
        print(
            f"| {width}x{height} ({width * height / 1e6:.0f} MP) | {layers} | {psd} "
            f"| {row['state']}, {row['s']:.1f} s | {row['peak'] / MIB:,.0f} MiB "
            f"| {row['estimate'] / MIB:,.0f} MiB | {row['estimate'] / row['peak']:.2f} |"
        )


if __name__ == "__main__":
    main()
