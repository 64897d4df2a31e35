"""Photos with a known foreground: cut-outs pasted on scikit-image's bundled photos.

No PyPI or npm package we can use ships alpha mattes, so the foregrounds are
ones whose alpha is known exactly: OpenMoji stickers (resvg renders) and the
scikit-image logo (``sticker``), and elliptical, feathered crops of other
photos (``cutout``). Layer 0 is the background photo; placement is seeded by
the sample's name, so the set is the same on every machine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from bench.real import svg
from bench.real.common import MAX_SIDE, RGBA, RealSample, fit_layers, make_sample

PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "colorwheel",
)
SAMPLES = 30


def _photo(name: str, max_side: int) -> RGBA:
    rgb = getattr(data, name)()
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    rgb = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha1(name.encode()).hexdigest()[:8], 16))


def ellipse_cutout(photo: RGBA, rng: np.random.Generator, side: int) -> RGBA:
    """A ``side``-tall elliptical crop of ``photo`` with a few pixels of feathered edge."""
    h, w = photo.shape[:2]
    ch = min(side, h)
    cw = min(round(ch * rng.uniform(0.7, 1.3)), w)
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    crop = photo[y : y + ch, x : x + cw].copy()
    yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float64)
    r = np.hypot((yy + 0.5 - ch / 2) / (ch / 2), (xx + 0.5 - cw / 2) / (cw / 2))
    feather = 3.0 / (min(ch, cw) / 2)
    crop[..., 3] = np.clip(np.rint((1.0 - r) / feather * 255), 0, 255).astype(np.uint8)
    return crop


def trim(rgba: RGBA) -> RGBA:
    """``rgba`` cropped to the bounding box of its non-transparent pixels."""
    ys, xs = np.nonzero(rgba[..., 3])
    return rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def paste(canvas_shape: tuple[int, ...], item: RGBA, rng: np.random.Generator) -> RGBA:
    """``item`` placed at a random spot fully inside a transparent canvas of ``canvas_shape``."""
    h, w = canvas_shape[:2]
    ih, iw = item.shape[:2]
    layer = np.zeros((h, w, 4), np.uint8)
    y = int(rng.integers(0, h - ih + 1))
    x = int(rng.integers(0, w - iw + 1))
    layer[y : y + ih, x : x + iw] = item
    return layer


def _scaled(item: RGBA, height: int) -> RGBA:
    return fit_layers([item], height)[0]


def build(
    cache: Path, *, max_side: int = MAX_SIDE, kinds: tuple[str, ...] = ("sticker", "cutout")
) -> tuple[list[RealSample], dict[str, str]]:
    """The photo set (``SAMPLES`` composites, or those of ``kinds``) and a one-line log per
    sample. Only stickers need the OpenMoji package (npm); cut-outs use bundled photos."""
    photos = {name: _photo(name, max_side) for name in PHOTOS}
    files: dict[str, str] = {}
    emoji: list[str] = []
    if "sticker" in kinds:
        files = svg.members(svg.npm_tarball(svg.PACKAGES["openmoji"], cache), "package/color/svg/")
        emoji = svg.spread(list(files), "photo-stickers")[:SAMPLES]
    logo = trim(np.asarray(data.logo()))
    samples: list[RealSample] = []
    log: dict[str, str] = {}
    for i in range(SAMPLES):
        kind = "sticker" if i % 2 == 0 else "cutout"
        if kind not in kinds:
            continue
        name = f"photo/{i:02d}-{kind}"
        rng = _rng(name)
        back_name = PHOTOS[i % len(PHOTOS)]
        back = photos[back_name]
        short = min(back.shape[:2])
        items: list[tuple[str, RGBA]] = []
        for j in range(1 + i % 3 // 2 + (i % 5 == 0)):
            size = int(short * rng.uniform(0.3, 0.55))
            if kind == "sticker":
                if j == 1 and i % 4 == 0:
                    items.append(("logo", _scaled(logo, size)))
                else:
                    code = emoji[(i + 7 * j) % len(emoji)]
                    items.append((code, trim(svg.render(files[code], size))))
            else:
                other = PHOTOS[(i + 3 + 2 * j) % len(PHOTOS)]
                items.append((other, ellipse_cutout(photos[other], rng, size)))
        layers = [back, *(paste(back.shape, item, rng) for _, item in items)]
        what = ", ".join(label for label, _ in items)
        samples.append(
            make_sample(
                name, "photo", kind, layers, source=f"skimage.data.{back_name}", foregrounds=what
            )
        )
        log[name] = f"kept: {back_name} + {what}"
    return samples, log
