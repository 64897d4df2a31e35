"""Deterministic synthetic graphic designs with exact ground-truth layers.

No design data set can be downloaded here, so the quality benchmark builds its
own. A :class:`Sample` is a stack of straight-alpha RGBA layers (layer 0 is an
opaque background) plus the composite of exactly those layers, so a
decomposition can be scored against the truth with :mod:`bench.layerd_eval`.

A sample depends only on ``(seed, category, size)`` and on the fonts installed
on the machine (a fixed list of DejaVu and Liberation fonts, those present, plus
Pillow's bundled font). Drop shadows
are drawn into their element's layer, as design tools export a layer with its
"drop shadow" effect; every element keeps at least half of its alpha visible.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from lamina.imaging.composite import composite_uint8

CATEGORIES: tuple[str, ...] = ("text", "shapes", "cutouts", "panels", "photos")
"""Reporting categories: mostly text, vector shapes, photo cut-outs, translucent
panels, and a photo background with few elements."""

FloatArray = NDArray[np.float32]
Box = tuple[int, int, int, int]


class _Element(NamedTuple):
    """A candidate layer: float RGB and alpha in ``[0, 1]``, its kind and its box."""

    rgb: FloatArray
    alpha: FloatArray
    kind: str
    box: Box


_SUPERSAMPLE = 4
_MIN_VISIBLE = 0.5
# A fixed set, so that designs do not change when some package installs more fonts:
# Debian's fonts-dejavu-core/extra and fonts-liberation (scripts/test installs both).
_FONTS = (
    "dejavu/DejaVuSans-Bold.ttf",
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSansCondensed.ttf",
    "dejavu/DejaVuSansMono.ttf",
    "dejavu/DejaVuSerif.ttf",
    "dejavu/DejaVuSerifCondensed.ttf",
    "liberation/LiberationMono-Regular.ttf",
    "liberation/LiberationSans-Regular.ttf",
)
_FONT_DIR = Path("/usr/share/fonts/truetype")
_WORDS = (
    "SALE",
    "Summer",
    "Open Day",
    "50% OFF",
    "New Arrivals",
    "Join us",
    "Coffee & Co.",
    "Grand Opening",
    "Lamina",
    "Free Shipping",
    "Workshop",
    "Save the date",
    "Hello",
    "Book now",
    "Fresh",
    "Limited edition",
    "Weekend",
    "Live music",
)


@dataclass(frozen=True)
class Sample:
    """One synthetic design.

    ``image`` is the ``H x W x 4`` ``uint8`` composite (opaque);
    ``layers`` are ``H x W x 4`` ``uint8`` straight-alpha layers, back to
    front, layer 0 opaque; ``composite_uint8(layers) == image`` exactly.
    ``kinds`` names each layer (``background``, ``text``, ``shape``,
    ``image``, ``panel``).
    """

    image: NDArray[np.uint8]
    layers: tuple[NDArray[np.uint8], ...]
    kinds: tuple[str, ...]
    category: str
    seed: int

    @property
    def num_layers(self) -> int:
        """Number of ground-truth layers, background included."""
        return len(self.layers)


def generate(seed: int, *, size: tuple[int, int] = (512, 512), category: str) -> Sample:
    """Build the design for ``(seed, category)`` at ``size = (width, height)``.

    Raises ``ValueError`` for a negative seed, an unknown category or a side
    under 64 pixels.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError("seed must be a non-negative integer")
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose one of {', '.join(CATEGORIES)}")
    width, height = size
    if min(width, height) < 64:
        raise ValueError("size must be at least 64 x 64")
    rng = np.random.default_rng([seed, CATEGORIES.index(category)])
    design = _Design(rng, height, width)
    _RECIPES[category](design)
    layers = tuple(design.layers_uint8())
    return Sample(
        image=composite_uint8(layers),
        layers=layers,
        kinds=tuple(design.kinds),
        category=category,
        seed=seed,
    )


def dataset(
    n: int,
    *,
    seed: int = 0,
    size: tuple[int, int] = (512, 512),
    categories: tuple[str, ...] = CATEGORIES,
) -> Iterator[Sample]:
    """``n`` samples, seeds ``seed .. seed + n - 1``, cycling through ``categories``."""
    if n < 0:
        raise ValueError("n must be non-negative")
    if not categories:
        raise ValueError("need at least one category")
    for i in range(n):
        yield generate(seed + i, size=size, category=categories[i % len(categories)])


def write_layers(layers: Sequence[NDArray[np.uint8]], directory: Path) -> None:
    """Write RGBA ``layers`` as ``directory/00.png``, ``01.png``, ... (back to front)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, layer in enumerate(layers):
        Image.fromarray(layer, "RGBA").save(directory / f"{i:02d}.png")


def save_sample(sample: Sample, directory: Path) -> None:
    """Write ``input.png``, the truth as ``layers/NN.png`` and ``sample.json`` (kinds)."""
    directory.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sample.image, "RGBA").save(directory / "input.png")
    write_layers(sample.layers, directory / "layers")
    meta = {"seed": sample.seed, "category": sample.category, "kinds": list(sample.kinds)}
    (directory / "sample.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def sample_name(index: int, sample: Sample) -> str:
    """Folder name of ``sample``, the ``index``-th of a data set: ``003-panels-s3``."""
    return f"{index:03d}-{sample.category}-s{sample.seed}"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.synth --n 20 --out DIR``: write a data set as PNG folders."""
    parser = argparse.ArgumentParser(prog="python -m bench.synth", description=main.__doc__)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--size", type=int, default=512, help="square side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.n < 1 or args.size < 64 or args.seed < 0:
        parser.error("need --n >= 1, --size >= 64 and --seed >= 0")
    for i, sample in enumerate(dataset(args.n, seed=args.seed, size=(args.size, args.size))):
        save_sample(sample, args.out / sample_name(i, sample))
    print(f"wrote {args.n} designs to {args.out}")
    return 0


# --- the design under construction ------------------------------------------------------


class _Design:
    """Layers as float arrays while they are placed; checks visibility on each add."""

    def __init__(self, rng: np.random.Generator, height: int, width: int) -> None:
        self.rng = rng
        self.h = height
        self.w = width
        self.side = min(height, width)
        self.rgbs: list[FloatArray] = []
        self.alphas: list[FloatArray] = []
        self.visible: list[FloatArray] = []
        self.kinds: list[str] = []
        self.canvas = np.zeros((height, width, 3), np.float32)

    def set_background(self, rgb: FloatArray) -> None:
        self.rgbs = [rgb]
        self.alphas = [np.ones((self.h, self.w), np.float32)]
        self.visible = [self.alphas[0].copy()]
        self.kinds = ["background"]
        self.canvas = rgb.copy()

    def fits(self, alpha: FloatArray) -> bool:
        """Whether ``alpha`` is visible enough and leaves every element visible enough."""
        if float(alpha.sum()) < 0.002 * self.h * self.w:
            return False
        for vis, own in zip(self.visible[1:], self.alphas[1:], strict=True):
            if float((vis * (1.0 - alpha)).sum()) < _MIN_VISIBLE * float(own.sum()):
                return False
        return True

    def add(self, rgb: FloatArray, alpha: FloatArray, kind: str) -> None:
        self.visible = [vis * (1.0 - alpha) for vis in self.visible]
        self.rgbs.append(rgb)
        self.alphas.append(alpha)
        self.visible.append(alpha.copy())
        self.kinds.append(kind)
        self.canvas = rgb * alpha[..., None] + self.canvas * (1.0 - alpha[..., None])

    def place(self, make: Callable[[], _Element], tries: int = 8) -> _Element | None:
        """Add the first of up to ``tries`` candidates from ``make`` that :meth:`fits`."""
        for _ in range(tries):
            element = make()
            if self.fits(element.alpha):
                self.add(element.rgb, element.alpha, element.kind)
                return element
        return None

    def colour_against(self, alpha: FloatArray) -> FloatArray:
        """A colour that stands out from what lies under ``alpha``."""
        weight = alpha / max(float(alpha.sum()), 1e-6)
        under = (self.canvas * weight[..., None]).sum(axis=(0, 1))
        best, best_dist = _random_colour(self.rng), -1.0
        for _ in range(16):
            colour = _random_colour(self.rng)
            dist = float(np.abs(colour - under).mean())
            if dist > best_dist:
                best, best_dist = colour, dist
            if dist >= 0.3:
                break
        return best

    def box(
        self,
        width_frac: tuple[float, float],
        aspect: tuple[float, float],
        within: Box | None = None,
    ) -> Box:
        """A random box ``width_frac`` of the short side wide, inside ``within``."""
        margin = int(0.03 * self.side)
        x0, y0, x1, y1 = within or (margin, margin, self.w - margin, self.h - margin)
        bw = int(min(self.rng.uniform(*width_frac) * self.side, x1 - x0))
        bh = int(min(bw * self.rng.uniform(*aspect), y1 - y0))
        bw, bh = max(bw, 4), max(bh, 4)
        bx = int(self.rng.integers(x0, max(x0 + 1, x1 - bw + 1)))
        by = int(self.rng.integers(y0, max(y0 + 1, y1 - bh + 1)))
        return bx, by, bx + bw, by + bh

    def layers_uint8(self) -> Iterator[NDArray[np.uint8]]:
        for rgb, alpha in zip(self.rgbs, self.alphas, strict=True):
            a8 = np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
            rgb8 = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
            rgb8[a8 == 0] = 0
            yield np.dstack([rgb8, a8])


# --- backgrounds and textures -----------------------------------------------------------


def _random_colour(rng: np.random.Generator) -> FloatArray:
    hsv = np.array(
        [[[rng.uniform(0, 180), rng.uniform(40, 255), rng.uniform(40, 255)]]], np.float32
    )
    rgb = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    return (rgb[0, 0].astype(np.float32) / 255.0).astype(np.float32)


def _coords(h: int, w: int) -> tuple[FloatArray, FloatArray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def _mix(a: FloatArray, b: FloatArray, t: FloatArray) -> FloatArray:
    return (a * (1.0 - t[..., None]) + b * t[..., None]).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, ch: int) -> FloatArray:
    """Value noise: a ``cells``-sized random grid upsampled bicubically to ``h x w``."""
    grid = rng.normal(size=(cells + 1, cells + 1, ch)).astype(np.float32)
    up = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.asarray(up, np.float32).reshape(h, w, ch)


def _bg_flat(d: _Design) -> FloatArray:
    return np.broadcast_to(_random_colour(d.rng), (d.h, d.w, 3)).astype(np.float32)


def _bg_linear(d: _Design) -> FloatArray:
    xs, ys = _coords(d.h, d.w)
    angle = d.rng.uniform(0, 2 * np.pi)
    proj = xs * np.cos(angle) + ys * np.sin(angle)
    t = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)
    return _mix(_random_colour(d.rng), _random_colour(d.rng), t)


def _bg_radial(d: _Design) -> FloatArray:
    xs, ys = _coords(d.h, d.w)
    cx, cy = d.rng.uniform(0, d.w), d.rng.uniform(0, d.h)
    radius = d.rng.uniform(0.5, 1.2) * d.side
    t = np.clip(np.hypot(xs - cx, ys - cy) / radius, 0, 1)
    return _mix(_random_colour(d.rng), _random_colour(d.rng), t)


def _bg_noise(d: _Design) -> FloatArray:
    base = _random_colour(d.rng)
    grain = d.rng.normal(0, d.rng.uniform(0.02, 0.06), (d.h, d.w, 1)).astype(np.float32)
    cloud = 0.08 * _smooth_noise(d.rng, d.h, d.w, 24, 1)
    return np.clip(base + grain + cloud, 0, 1).astype(np.float32)


def _bg_stripes(d: _Design) -> FloatArray:
    xs, ys = _coords(d.h, d.w)
    angle = d.rng.uniform(0, np.pi)
    period = d.rng.uniform(0.02, 0.1) * d.side
    wave = np.sin(2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle)) / period)
    t = np.clip(wave * d.rng.uniform(2, 12) * 0.5 + 0.5, 0, 1).astype(np.float32)
    return _mix(_random_colour(d.rng), _random_colour(d.rng), t)


def _photo(d: _Design) -> FloatArray:
    """A photo-like image: multi-scale colour fields, blurred blobs, shaded objects, grain."""
    h, w, rng = d.h, d.w, d.rng
    lum = sum(
        amp * _smooth_noise(rng, h, w, cells, 1)
        for cells, amp in ((2, 0.5), (4, 0.3), (8, 0.15), (24, 0.06), (64, 0.03))
    )
    chroma = _smooth_noise(rng, h, w, 3, 3) + 0.3 * _smooth_noise(rng, h, w, 12, 3)
    base = rng.uniform(0.25, 0.75, 3).astype(np.float32)
    img = base + 0.25 * lum + 0.1 * chroma
    for _ in range(int(rng.integers(3, 8))):
        blob = np.zeros((h, w), np.float32)
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (int(rng.uniform(0.05, 0.3) * d.side), int(rng.uniform(0.05, 0.3) * d.side))
        cv2.ellipse(blob, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        blob = np.asarray(cv2.GaussianBlur(blob, (0, 0), rng.uniform(0.02, 0.08) * d.side))
        strength = rng.uniform(0.4, 0.9) * blob[..., None]
        img = img * (1.0 - strength) + _random_colour(rng) * strength
    for _ in range(int(rng.integers(1, 4))):  # sharp, shaded objects: photos have edges
        kind = ("polygon", "ellipse", "rect")[int(rng.integers(3))]
        mask = _shape_mask(d, d.box((0.15, 0.45), (0.5, 1.5)), kind)[..., None]
        shade = 0.8 + 0.2 * _smooth_noise(rng, h, w, 4, 1) + 0.05 * _smooth_noise(rng, h, w, 48, 1)
        img = img * (1.0 - mask) + _random_colour(rng) * shade * mask
    sigma = rng.uniform(0.4, 1.2) * d.side / 512  # a little defocus
    img = np.asarray(cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma), np.float32)
    img = img + rng.normal(0, 0.015, (h, w, 3)).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


_PLAIN_BACKGROUNDS: tuple[Callable[[_Design], FloatArray], ...] = (
    _bg_flat,
    _bg_linear,
    _bg_radial,
    _bg_noise,
    _bg_stripes,
)


def _plain_background(d: _Design) -> None:
    d.set_background(_PLAIN_BACKGROUNDS[int(d.rng.integers(len(_PLAIN_BACKGROUNDS)))](d))


# --- element masks ----------------------------------------------------------------------


def _draw_mask(d: _Design, draw: Callable[[ImageDraw.ImageDraw, int], None]) -> FloatArray:
    """Render ``draw`` at 4x and box-filter down: anti-aliased edges."""
    s = _SUPERSAMPLE
    img = Image.new("L", (d.w * s, d.h * s), 0)
    draw(ImageDraw.Draw(img), s)
    return np.asarray(img.reduce(s), np.float32) / 255.0


def _shape_mask(d: _Design, box: Box, kind: str) -> FloatArray:
    x0, y0, x1, y1 = box
    radius = d.rng.uniform(0.1, 0.4) * min(x1 - x0, y1 - y0)
    n = int(d.rng.integers(3, 9))
    turn = d.rng.uniform(0, 2 * np.pi)
    angles = turn + 2 * np.pi * np.arange(2 * n if kind == "star" else n) / (
        2 * n if kind == "star" else n
    )
    radii = np.ones_like(angles)
    if kind == "star":
        radii[1::2] = d.rng.uniform(0.4, 0.7)
    else:
        radii = radii * d.rng.uniform(0.8, 1.0, radii.shape)
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2

    def draw(canvas: ImageDraw.ImageDraw, s: int) -> None:
        scaled = [round(v * s) for v in box]
        if kind == "rect":
            canvas.rectangle(scaled, fill=255)
        elif kind == "rounded":
            canvas.rounded_rectangle(scaled, radius=round(radius * s), fill=255)
        elif kind == "ellipse":
            canvas.ellipse(scaled, fill=255)
        else:
            points = [
                (round((cx + rx * r * np.cos(a)) * s), round((cy + ry * r * np.sin(a)) * s))
                for a, r in zip(angles, radii, strict=True)
            ]
            canvas.polygon(points, fill=255)

    return _draw_mask(d, draw)


def _blob_mask(d: _Design, box: Box) -> FloatArray:
    """An organic closed outline: a circle with a few random low harmonics."""
    x0, y0, x1, y1 = box
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    r = np.ones_like(theta)
    for k in (2, 3, 4, 5):
        r += d.rng.uniform(0, 0.12) * np.cos(k * theta + d.rng.uniform(0, 2 * np.pi))
    r /= r.max()
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2

    def draw(canvas: ImageDraw.ImageDraw, s: int) -> None:
        canvas.polygon(
            [
                (round((cx + rx * ri * np.cos(t)) * s), round((cy + ry * ri * np.sin(t)) * s))
                for t, ri in zip(theta, r, strict=True)
            ],
            fill=255,
        )

    return _draw_mask(d, draw)


@functools.lru_cache(maxsize=1)
def _font_paths() -> tuple[str | None, ...]:
    """The fonts of ``_FONTS`` that are installed, plus Pillow's own (``None``)."""
    found = [_FONT_DIR / name for name in _FONTS]
    return (*(str(path) for path in found if path.is_file()), None)


def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size)


def _text_mask(d: _Design, size_frac: tuple[float, float], within: Box | None) -> FloatArray:
    """A line (or, for small sizes, sometimes two) of text in a random font, fit to ``within``."""
    x0, y0, x1, y1 = within or (0, 0, d.w, d.h)
    margin = int(0.03 * d.side)
    x0, y0, x1, y1 = x0 + margin, y0 + margin, x1 - margin, y1 - margin
    text = _WORDS[int(d.rng.integers(len(_WORDS)))]
    if size_frac[1] <= 0.1 and d.rng.random() < 0.3:
        text += "\n" + _WORDS[int(d.rng.integers(len(_WORDS)))]
    paths = _font_paths()
    path = paths[int(d.rng.integers(len(paths)))]
    size = max(8, int(d.rng.uniform(*size_frac) * d.side))
    img = Image.new("L", (d.w, d.h), 0)
    canvas = ImageDraw.Draw(img)
    font = _font(path, size)
    left, top, right, bottom = canvas.textbbox((0, 0), text, font=font)
    room = max(x1 - x0, 8)
    if right - left > room:
        size = max(8, int(size * room / (right - left)))
        font = _font(path, size)
        left, top, right, bottom = canvas.textbbox((0, 0), text, font=font)
    tw, th = int(right - left), int(bottom - top)
    tx = int(d.rng.integers(x0, max(x0 + 1, x1 - tw + 1)))
    ty = int(d.rng.integers(y0, max(y0 + 1, y1 - th + 1)))
    canvas.text((tx - left, ty - top), text, font=font, fill=255)
    return np.asarray(img, np.float32) / 255.0


# --- elements: (rgb, alpha, kind) --------------------------------------------------------


def _fill(d: _Design, colour: FloatArray) -> FloatArray:
    """Solid ``colour``, or (one time in four) a gentle linear gradient from it."""
    if d.rng.random() < 0.75:
        return np.broadcast_to(colour, (d.h, d.w, 3)).astype(np.float32)
    xs, ys = _coords(d.h, d.w)
    angle = d.rng.uniform(0, 2 * np.pi)
    proj = xs * np.cos(angle) + ys * np.sin(angle)
    t = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)
    other = np.clip(colour + d.rng.uniform(-0.25, 0.25, 3), 0, 1).astype(np.float32)
    return _mix(colour, other, t)


def _with_shadow(d: _Design, rgb: FloatArray, alpha: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Put a soft drop shadow under ``alpha`` inside the same layer."""
    dx, dy = d.rng.uniform(0.005, 0.02, 2) * d.side
    shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    moved = np.asarray(cv2.warpAffine(alpha, shift, (d.w, d.h)), np.float32)
    blurred = cv2.GaussianBlur(moved, (0, 0), d.rng.uniform(0.008, 0.025) * d.side)
    shadow = np.asarray(blurred, np.float32) * np.float32(d.rng.uniform(0.3, 0.6))
    shade = np.full(3, d.rng.uniform(0.0, 0.15), np.float32)
    under = shadow * (1.0 - alpha)
    out_alpha = alpha + under
    premul = rgb * alpha[..., None] + shade * under[..., None]
    safe = np.where(out_alpha > 0, out_alpha, 1.0)
    return (premul / safe[..., None]).astype(np.float32), out_alpha.astype(np.float32)


def _shape(d: _Design, shadow_p: float = 0.35) -> _Element:
    kinds = ("rect", "rounded", "ellipse", "polygon", "star")
    kind = kinds[int(d.rng.integers(len(kinds)))]
    box = d.box((0.15, 0.5), (0.5, 1.5))
    alpha = _shape_mask(d, box, kind)
    rgb = _fill(d, d.colour_against(alpha))
    if d.rng.random() < shadow_p:
        rgb, alpha = _with_shadow(d, rgb, alpha)
    return _Element(rgb, alpha, "shape", box)


def _text(
    d: _Design, size_frac: tuple[float, float] = (0.05, 0.14), within: Box | None = None
) -> _Element:
    alpha = _text_mask(d, size_frac, within)
    rgb = np.broadcast_to(d.colour_against(alpha), (d.h, d.w, 3)).astype(np.float32)
    if d.rng.random() < 0.2:
        rgb, alpha = _with_shadow(d, rgb, alpha)
    return _Element(rgb, alpha, "text", within or (0, 0, d.w, d.h))


def _cutout(d: _Design) -> _Element:
    """A photo cut-out: textured content under a blob mask, hard or feathered."""
    box = d.box((0.25, 0.55), (0.6, 1.4))
    alpha = _blob_mask(d, box) if d.rng.random() < 0.7 else _shape_mask(d, box, "rounded")
    if d.rng.random() < 0.5:
        sigma = d.rng.uniform(0.004, 0.012) * d.side
        alpha = np.asarray(cv2.GaussianBlur(alpha, (0, 0), sigma), np.float32)
    rgb = _photo(d)
    if d.rng.random() < 0.3:
        rgb, alpha = _with_shadow(d, rgb, alpha)
    return _Element(rgb, alpha, "image", box)


def _panel(d: _Design) -> _Element:
    """A translucent panel (opacity 0.3-0.8): a card or a full-width band."""
    if d.rng.random() < 0.6:
        box = d.box((0.45, 0.8), (0.35, 0.9))
    else:
        band = int(d.rng.uniform(0.2, 0.4) * d.h)
        top = int(d.rng.integers(0, d.h - band))
        box = (0, top, d.w, top + band)
    mask = _shape_mask(d, box, "rounded" if d.rng.random() < 0.5 else "rect")
    tones = (np.ones(3, np.float32), np.zeros(3, np.float32), _random_colour(d.rng))
    colour = tones[int(d.rng.integers(3))]
    rgb = np.broadcast_to(colour, (d.h, d.w, 3)).astype(np.float32)
    return _Element(rgb, (mask * d.rng.uniform(0.3, 0.8)).astype(np.float32), "panel", box)


# --- recipes per category ---------------------------------------------------------------


def _recipe_text(d: _Design) -> None:
    _plain_background(d)
    if d.rng.random() < 0.5:
        d.place(lambda: _shape(d))
    d.place(lambda: _text(d, (0.1, 0.18)))
    for _ in range(int(d.rng.integers(1, 3))):
        d.place(lambda: _text(d, (0.05, 0.1)))


def _recipe_shapes(d: _Design) -> None:
    _plain_background(d)
    for _ in range(int(d.rng.integers(3, 6))):
        d.place(lambda: _shape(d))


def _recipe_cutouts(d: _Design) -> None:
    _plain_background(d)
    for _ in range(int(d.rng.integers(1, 3))):
        d.place(lambda: _cutout(d))
    if d.rng.random() < 0.6:
        d.place(lambda: _text(d) if d.rng.random() < 0.5 else _shape(d))


def _recipe_panels(d: _Design) -> None:
    d.set_background(_photo(d) if d.rng.random() < 0.5 else _bg_linear(d))
    for _ in range(int(d.rng.integers(1, 3))):
        panel = d.place(lambda: _panel(d))
        if panel is not None:
            on_panel = functools.partial(_text, d, (0.05, 0.12), panel.box)
            for _ in range(int(d.rng.integers(1, 3))):
                d.place(on_panel)
    if d.rng.random() < 0.4:
        d.place(lambda: _shape(d))


def _recipe_photos(d: _Design) -> None:
    d.set_background(_photo(d))
    for _ in range(int(d.rng.integers(1, 3))):
        d.place(lambda: _text(d) if d.rng.random() < 0.6 else _shape(d))


_RECIPES: dict[str, Callable[[_Design], None]] = {
    "text": _recipe_text,
    "shapes": _recipe_shapes,
    "cutouts": _recipe_cutouts,
    "panels": _recipe_panels,
    "photos": _recipe_photos,
}


if __name__ == "__main__":
    raise SystemExit(main())
