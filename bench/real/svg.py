"""Layered SVG art from npm: OpenMoji emoji and flag-icons flags.

Ground truth is each painted top-level element (or group) rendered alone in
paint order with resvg, over a white background layer; a drawing is kept only
when those renders composite back to the full render at >= 40 dB, which
drops files whose elements refer to one another (``<use>`` of a sibling) or
blend. Tarballs come from the npm registry through ``npm pack``.
"""

from __future__ import annotations

import copy
import hashlib
import io
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import resvg_py
from PIL import Image

from bench.real.common import MAX_SIDE, RGBA, RealSample, keeps, make_sample

SVG_NS = "http://www.w3.org/2000/svg"
PACKAGES = {"openmoji": "openmoji@17.0.0", "flag-icons": "flag-icons@7.5.0"}
#: Children that paint nothing by themselves; they stay in every per-element document.
_NOT_PAINTED = {
    "defs",
    "title",
    "desc",
    "metadata",
    "style",
    "clipPath",
    "mask",
    "linearGradient",
    "radialGradient",
    "pattern",
    "symbol",
    "filter",
    "marker",
    "script",
}
MAX_LAYERS = 8
#: Files looked at per wanted sample before a set gives up (bounds the build time).
_TRIES_PER_SAMPLE = 4

ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _painted(element: ET.Element) -> bool:
    if not isinstance(element.tag, str) or _local(element.tag) in _NOT_PAINTED:
        return False
    if element.get("display") == "none":
        return False
    return not (_local(element.tag) == "g" and len(element) == 0)


def split_svg(text: str) -> list[str]:
    """One SVG document per painted top-level element, in paint order.

    A lone wrapping group (e.g. a ``clip-path`` over the whole drawing) is
    looked through, keeping its attributes, so its children become the layers.
    Non-painting children (``defs``, ``style``...) stay in every document.
    """
    root = ET.fromstring(text)
    route: list[int] = []
    parent = root
    while True:
        painted = [i for i, child in enumerate(parent) if _painted(child)]
        if len(painted) == 1 and _local(parent[painted[0]].tag) == "g":
            route.append(painted[0])
            parent = parent[painted[0]]
            continue
        break
    documents = []
    for keep in painted:
        doc = copy.deepcopy(root)
        node = doc
        for step in route:
            node = node[step]
        for i in reversed(range(len(node))):
            if i != keep and _painted(node[i]):
                del node[i]
        documents.append(ET.tostring(doc, encoding="unicode"))
    return documents


def render(text: str, width: int) -> RGBA:
    """``text`` rendered by resvg at ``width`` pixels wide, as ``H x W x 4`` ``uint8``."""
    png = resvg_py.svg_to_bytes(svg_string=text, width=width)
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGBA"))


def svg_layers(text: str, max_side: int = MAX_SIDE) -> tuple[RGBA, list[RGBA]]:
    """The full render and the non-empty per-element renders, long side ``max_side``."""
    full = render(text, max_side)
    h, w = full.shape[:2]
    width = max_side if w >= h else round(max_side * w / h)
    if width != w:
        full = render(text, width)
    layers = [render(doc, width) for doc in split_svg(text)]
    return full, [layer for layer in layers if layer[..., 3].any()]


def npm_tarball(package: str, cache: Path) -> Path:
    """``package`` (``name@version``) fetched once with ``npm pack`` into ``cache/npm``."""
    folder = cache / "npm"
    name, version = package.rsplit("@", 1)
    path = folder / f"{name}-{version}.tgz"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "pack", package, "--silent"], cwd=folder, check=True, capture_output=True
        )
    return path


def members(tarball: Path, prefix: str) -> dict[str, str]:
    """``{path below prefix: SVG text}`` for the tarball's SVGs under ``prefix``."""
    with tarfile.open(tarball) as tar:
        out = {}
        for m in tar.getmembers():
            if m.isfile() and m.name.startswith(prefix) and m.name.endswith(".svg"):
                f = tar.extractfile(m)
                if f is not None:
                    out[m.name[len(prefix) :]] = f.read().decode("utf-8")
    return out


def _openmoji_groups(tarball: Path) -> dict[str, str]:
    """Hexcode -> OpenMoji group (``smileys-emotion``...), from the ``src/`` folder layout.

    The drawings themselves come from ``color/svg/``, which lacks the
    construction grid the ``src/`` files carry.
    """
    with tarfile.open(tarball) as tar:
        names = [m.name for m in tar.getmembers() if m.name.startswith("package/src/")]
    return {Path(n).name: n.split("/")[2] for n in names if n.endswith(".svg")}


def spread(names: list[str], salt: str) -> list[str]:
    """``names`` in a fixed pseudo-random order, so a prefix is a spread-out subset."""
    return sorted(names, key=lambda n: hashlib.sha1(f"{salt}:{n}".encode()).hexdigest())


def build(
    cache: Path, *, emoji: int = 24, flags: int = 16, max_side: int = MAX_SIDE
) -> tuple[list[RealSample], dict[str, str]]:
    """The SVG set and, per considered file, why it was kept or dropped."""
    samples: list[RealSample] = []
    log: dict[str, str] = {}
    wanted = [
        ("emoji", "openmoji", "package/color/svg/", emoji),
        ("flag", "flag-icons", "package/flags/4x3/", flags),
    ]
    for kind, package, prefix, count in wanted:
        tarball = npm_tarball(PACKAGES[package], cache)
        files = members(tarball, prefix)
        groups = _openmoji_groups(tarball) if kind == "emoji" else {}
        kept = 0
        for path in spread(list(files), package)[: count * _TRIES_PER_SAMPLE]:
            if kept >= count:
                break
            name = f"{package}/{path}"
            full, layers = svg_layers(files[path], max_side)
            if len(layers) < 2:
                log[name] = f"dropped: {len(layers)} painted element(s)"
            elif len(layers) > MAX_LAYERS:
                log[name] = f"dropped: {len(layers)} elements > {MAX_LAYERS}"
            elif not keeps(layers, full):
                log[name] = "dropped: elements alone do not composite to the render (< 40 dB)"
            else:
                category = groups.get(path, "other")
                samples.append(
                    make_sample(
                        name, "svg", kind, layers, source=PACKAGES[package], category=category
                    )
                )
                log[name] = f"kept: {len(layers)} elements"
                kept += 1
    return samples, log
