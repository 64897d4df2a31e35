"""Speed and memory of the classic engine, side by side with the k-means baseline.

Usage::

    python -m bench.speed_classic --repeats 5

The parent process renders the synthetic designs (text, shapes, cutouts,
panels and photos in turn) once per side and saves them as ``.npy`` files.
Each configuration (image side x layer count x method) then runs in a fresh
Python process that only loads them, so the peak resident set size it reports
belongs to that method alone (imports included). A process first decomposes
one untimed design (imports, caches), then the ``--repeats`` designs, and
reports the median wall time. The Markdown table is printed and written to
``--out``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bench.baselines import kmeans_layers
from bench.synth import CATEGORIES, generate

METHODS = ("classic", "kmeans")
DEFAULT_OUT = Path("docs/benchmarks/classic-speed.md")


def ink_left(image: np.ndarray, background: np.ndarray) -> float:
    """Share of a text page's ink (pixels darker than 100) still dark in layer 0."""
    ink = image[..., :3].max(axis=2) < 100
    return float((background[..., :3][ink].min(axis=1) < 128).mean()) if ink.any() else 0.0


def measure(method: str, folder: Path, layers: int) -> dict[str, float]:
    """Median seconds per image and peak RSS (MiB) of this process for one configuration,
    and the median :func:`ink_left` of layer 0 (meaningful on pages of text only).

    ``folder`` holds ``warm.npy`` and ``0.npy``, ``1.npy``, ... (RGBA designs).
    """
    from lamina.engines.classic import ClassicEngine
    from lamina.types import DecomposeParams

    engine = ClassicEngine()

    def run(name: str, seed: int) -> tuple[float, float]:
        image = np.load(folder / f"{name}.npy")
        start = time.perf_counter()
        if method == "classic":
            out = engine.decompose(image, DecomposeParams(num_layers=layers, seed=seed))
            background = out.layers[0].rgba
        else:
            background = kmeans_layers(image, layers, seed=seed)[0]
        return time.perf_counter() - start, ink_left(image, background)

    run("warm", 0)
    designs = sorted(int(p.stem) for p in folder.glob("[0-9]*.npy"))
    runs = [run(str(i), i) for i in designs]
    return {
        "median_s": statistics.median(t for t, _ in runs),
        "peak_rss_mib": _peak_rss_kib() / 1024.0,
        "ink_left": statistics.median(k for _, k in runs),
    }


def _peak_rss_kib() -> int:
    """This process's peak RSS. ``VmHWM`` restarts at ``exec`` (``ru_maxrss`` may not)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


RENDER_LIMIT = 2048
"""Designs larger than this are rendered at this side and upscaled (bicubic): the generator's
fonts and noise at 40 MP would cost minutes and measure nothing the engine does differently."""


TEXT_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed")


def text_page(seed: int, side: int) -> np.ndarray:
    """A white page of black body text, 14 px type per 1024 px of side, set line under line
    within margins: the input with the most elements per pixel (every letter is one), as
    a document scan or a slide of small print is."""
    size = max(8, round(14 * side / 1024))
    try:
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.truetype(TEXT_FONT, size)
    except OSError:
        font = ImageFont.load_default(size)
    page = Image.new("RGB", (side, side), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    rng = np.random.default_rng(seed)
    step = round(size * 1.25)
    for y in range(step, side - 2 * step, step):
        line = str(rng.choice(WORDS))
        while True:  # fill the line up to the right margin, as set body text does
            longer = f"{line} {rng.choice(WORDS)}"
            if draw.textlength(longer, font=font) > side - 2 * step:
                break
            line = longer
        draw.text((step, y), line, font=font, fill=(0, 0, 0))
    rgb = np.asarray(page)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def write_designs(folder: Path, size: int, repeats: int, content: str = "designs") -> None:
    """Render the inputs one configuration of ``size`` pixels uses into ``folder``:
    the synthetic designs (``designs``) or pages of body text (``text``)."""
    folder.mkdir(parents=True, exist_ok=True)
    cats = CATEGORIES

    def design(seed: int, category: str) -> np.ndarray:
        if content == "text":
            return text_page(seed, size)
        side = min(size, RENDER_LIMIT)
        image = generate(seed, size=(side, side), category=category).image
        if side == size:
            return image
        return np.asarray(cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC))

    np.save(folder / "warm.npy", design(1000, cats[0]))
    for i in range(repeats):
        np.save(folder / f"{i}.npy", design(i, cats[i % len(cats)]))


def _child(method: str, folder: Path, layers: int) -> dict[str, float]:
    cmd = [
        sys.executable,
        "-m",
        "bench.speed_classic",
        "--child",
        method,
        "--designs",
        str(folder),
        "--layers",
        str(layers),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def render(
    rows: Sequence[tuple[int, int, dict[str, float], dict[str, float]]], cmd: str, *, ink: bool
) -> str:
    """Markdown table: classic vs k-means, with the time ratio (and, for pages of text,
    the share of the ink each leaves in layer 0)."""
    extra = " | classic ink left in layer 0 | k-means ink left in layer 0" if ink else ""
    lines = [
        "# Classic engine: speed and memory",
        "",
        f"Command: `{cmd}`",
        "",
        "| side | MP | layers | classic median s | classic peak RSS MiB "
        f"| k-means median s | k-means peak RSS MiB | time ratio{extra} |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if ink else ""),
    ]
    for size, layers, c, k in rows:
        ratio = c["median_s"] / max(k["median_s"], 1e-9)
        left = f" | {c['ink_left']:.3f} | {k['ink_left']:.3f}" if ink else ""
        lines.append(
            f"| {size} | {size * size / 1e6:.1f} | {layers} | {c['median_s']:.3f} "
            f"| {c['peak_rss_mib']:.0f} "
            f"| {k['median_s']:.3f} | {k['peak_rss_mib']:.0f} | {ratio:.2f}{left} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed_classic", description=__doc__)
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[512, 1024, 2048, 3464, 6325],
        help="square sides in pixels (3464: 12 MP, 6325: 40 MP)",
    )
    parser.add_argument(
        "--layers",
        type=int,
        nargs="+",
        default=[2, 3, 4, 5, 6, 7, 8, 9, 10],
        help="layer counts, swept at 1024 px (or the only size given); other sizes use 4",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--content",
        choices=("designs", "text"),
        default="designs",
        help="synthetic designs (default) or pages of 14 px body text per 1024 px",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--designs", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1 or min(args.sizes) < 64 or not all(1 <= n <= 10 for n in args.layers):
        parser.error("need --repeats >= 1, sizes >= 64 and layers in 1..10")
    if args.child:
        print(json.dumps(measure(args.child, args.designs, args.layers[0])))
        return 0
    sweep_size = 1024 if 1024 in args.sizes else args.sizes[0]
    configs = [(s, 4) for s in args.sizes if s != sweep_size]
    configs += [(sweep_size, n) for n in args.layers]
    configs.sort()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lamina-speed-") as tmp:
        for size in sorted(set(args.sizes)):
            write_designs(Path(tmp) / str(size), size, args.repeats, args.content)
        for size, layers in configs:
            folder = Path(tmp) / str(size)
            classic = _child("classic", folder, layers)
            baseline = _child("kmeans", folder, layers)
            rows.append((size, layers, classic, baseline))
            print(
                f"{size} px, {layers} layers: classic {classic}, kmeans {baseline}", file=sys.stderr
            )
    cmd = "python -m bench.speed_classic " + " ".join(sys.argv[1:] if argv is None else argv)
    report = render(rows, cmd.strip(), ink=args.content == "text")
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
