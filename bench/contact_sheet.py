"""Contact sheet of one engine on real images: input | each layer on a checkerboard.

Usage::

    python -m bench.contact_sheet --engine classic --psd-source DIR ... \\
        --out docs/benchmarks/contact-classic.png

Twelve images are taken from the cached real-content sets (``bench.real``),
a few per set, spread over their kinds, so one look shows how the engine
treats emoji, flags, PSD designs and photo composites. Each row also names the
sample and its true layer count; the engine is asked for that many layers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from bench.quality import build_methods
from bench.real.common import RealSample, default_cache
from bench.real.sets import SETS, load
from lamina.errors import LaminaError
from lamina.types import MAX_LAYERS

ROWS = 12
THUMB = 120
LABEL = 14
MAX_COLUMNS = 9


def pick(sets: dict[str, list[RealSample]], rows: int = ROWS) -> list[RealSample]:
    """``rows`` samples, sets taken in turn and, within a set, its kinds in turn."""
    queues: list[list[list[RealSample]]] = []
    for samples in sets.values():
        kinds: dict[str, list[RealSample]] = {}
        for s in samples:
            kinds.setdefault(s.kind, []).append(s)
        queues.append(list(kinds.values()))
    chosen: list[RealSample] = []
    turn = 0
    while len(chosen) < rows and any(any(q) for q in queues):
        per_set = queues[turn % len(queues)]
        live = [q for q in per_set if q]
        if live:
            chosen.append(live[(turn // len(queues)) % len(live)].pop(0))
        turn += 1
    return chosen


def checkerboard(h: int, w: int, cell: int = 8) -> NDArray[np.uint8]:
    """Light grey checks, so transparency reads at a glance."""
    yy, xx = np.mgrid[0:h, 0:w]
    grey = np.where((yy // cell + xx // cell) % 2 == 0, 255, 214).astype(np.uint8)
    return np.dstack([grey, grey, grey])


def tile(rgba: NDArray[np.uint8], side: int = THUMB) -> Image.Image:
    """``rgba`` fitted in a ``side`` square over a checkerboard."""
    image = Image.fromarray(rgba, "RGBA")
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    board = Image.fromarray(checkerboard(side, side)).convert("RGBA")
    board.alpha_composite(image, ((side - image.width) // 2, (side - image.height) // 2))
    return board.convert("RGB")


def sheet(rows: Sequence[tuple[str, NDArray[np.uint8], list[NDArray[np.uint8]]]]) -> Image.Image:
    """One row per ``(label, input, layers)``: the input, then up to 8 layers back to front."""
    gap = 4
    height = THUMB + LABEL + gap
    width = MAX_COLUMNS * (THUMB + gap) + gap
    out = Image.new("RGB", (width, len(rows) * height + gap), "white")
    draw = ImageDraw.Draw(out)
    for r, (label, image, layers) in enumerate(rows):
        y = gap + r * height
        draw.text((gap, y), label, fill="black")
        shown = layers[: MAX_COLUMNS - 1]
        for c, picture in enumerate([image, *shown]):
            out.paste(tile(picture), (gap + c * (THUMB + gap), y + LABEL))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.contact_sheet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--engine", default="classic")
    parser.add_argument("--psd-source", type=Path, nargs="+", default=[])
    parser.add_argument("--cache", type=Path, default=default_cache())
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    names = [n for n in SETS if n != "psd" or args.psd_source]
    sets = {n: load(n, args.cache, args.psd_source) for n in names}
    try:
        (method,) = build_methods([args.engine]).values()
    except LaminaError as exc:
        parser.error(str(exc))
    rows = []
    for sample in pick(sets):
        try:
            layers = method(sample.image.copy(), min(len(sample.layers), MAX_LAYERS))
        except LaminaError as exc:
            print(f"{sample.name}: {exc}", file=sys.stderr)
            layers = []
        label = f"{sample.name} [{sample.kind}, {len(sample.layers)} true, {len(layers)} out]"
        rows.append((label, sample.image, layers))
    out = args.out or Path(f"docs/benchmarks/contact-{args.engine}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet(rows).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
