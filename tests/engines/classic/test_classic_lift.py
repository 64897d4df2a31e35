"""The full-size lift: inputs larger than the rendering size are rendered small, then lifted
in strips; the layers must still add up to the input, with edges as sharp as the input's,
and the memory must grow with the output planes only."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import cv2
import numpy as np
from numpy.typing import NDArray

from lamina.engines.classic import ClassicEngine
from lamina.engines.classic.exact import bleed
from lamina.engines.classic.lift import downscale, lift_layers
from lamina.imaging.composite import composite_uint8
from lamina.types import DecomposeParams

RGBA = NDArray[np.uint8]
SMALL = ClassicEngine(work_size=64, render_size=96)
"""Renders at 96 px, so a 600 px test image is lifted 6.25x."""


def card(h: int = 400, w: int = 600) -> RGBA:
    """A blue page, a yellow card and a dark disc on the card (hard edges)."""
    image = np.zeros((h, w, 4), np.uint8)
    image[..., :3] = (30, 70, 160)
    image[..., 3] = 255
    image[100:300, 150:450, :3] = (245, 205, 40)
    cv2.circle(image, (300, 200), 60, (20, 20, 20, 255), -1, lineType=cv2.LINE_AA)
    return image


def test_lifted_layers_composite_back_to_the_input() -> None:
    image = card()
    stack = SMALL.decompose(image, DecomposeParams(num_layers=3))
    assert "lift" in stack.timings
    assert len(stack.layers) == 3
    out = composite_uint8([layer.rgba for layer in stack.layers])
    err = np.abs(out[..., :3].astype(int) - image[..., :3])
    assert err.max() <= 3 and err.mean() <= 0.5


def test_lifted_edges_are_as_sharp_as_the_input() -> None:
    image = card()
    stack = SMALL.decompose(image, DecomposeParams(num_layers=3))
    cards = [layer for layer in stack.layers if layer.bbox == (150, 100, 450, 300)]
    assert len(cards) == 1, [layer.bbox for layer in stack.layers]
    alpha = cards[0].rgba[..., 3]
    # 6x upsampling alone would spread the edge over about 12 pixels.
    assert (alpha[100:300, 152:158] == 255).all() and (alpha[100:300, 142:148] == 0).all()
    assert (alpha[102:108, 150:450] == 255).all() and (alpha[92:98, 150:450] == 0).all()


def test_lift_keeps_transparent_colours_continuous_across_strips() -> None:
    image = card(120, 200)
    small = downscale(image, 50)
    layers = [small.copy(), np.zeros_like(small)]
    layers[1][10:20, 10:30] = (200, 10, 10, 255)
    layers[1][..., :3] = bleed(layers[1][..., :3], layers[1][..., 3])
    lifted = lift_layers(image, layers, strip_pixels=200 * 7)
    top = lifted[1]
    clear = top[..., 3] == 0
    # Where the top layer shows nothing it carries its own (upsampled) colour, never black.
    assert (top[clear, 0] > 100).all()
    out = composite_uint8(lifted)
    assert np.abs(out[..., :3].astype(int) - image[..., :3]).max() <= 3


def test_twelve_megapixels_decompose_in_bounded_memory() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import cv2, numpy as np
        from lamina.engines.classic import ClassicEngine
        from lamina.types import DecomposeParams
        rng = np.random.default_rng(0)
        small = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
        photo = cv2.resize(small, (4000, 3000), interpolation=cv2.INTER_CUBIC)
        image = np.dstack([photo, np.full((3000, 4000), 255, np.uint8)])
        image[800:2200, 1000:3000, :3] = (250, 250, 250)
        del small, photo
        stack = ClassicEngine().decompose(image, DecomposeParams(num_layers=4))
        hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")]
        print(json.dumps({"layers": len(stack.layers), "peak_kib": hwm[0]}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["layers"] == 4
    # Input 46 MiB and four output planes 183 MiB; the bound for 12 MP is 1.5 GB.
    assert result["peak_kib"] < 1.0 * 1024 * 1024, result
