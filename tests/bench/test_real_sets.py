"""The real-content sets' pure parts: keep rule, split, SVG element splitting, cache round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench.contact_sheet import pick, sheet
from bench.real.common import (
    RealSample,
    fit_layers,
    keeps,
    load_set,
    make_sample,
    on_opaque_background,
    psnr_on_white,
    save_set,
    split_of,
)
from bench.real.photo import ellipse_cutout, paste, trim
from bench.real.svg import render, split_svg, svg_layers

SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 20">
  <defs><linearGradient id="g"><stop offset="0" stop-color="#00f"/></linearGradient></defs>
  <g clip-path="none">
    <rect width="40" height="20" fill="#fff"/>
    <g id="empty"/>
    <rect x="5" y="5" width="10" height="10" fill="url(#g)"/>
    <circle cx="30" cy="10" r="5" fill="#f00"/>
  </g>
</svg>"""


def _layer(h: int, w: int, rgb: tuple[int, int, int], alpha: int) -> np.ndarray:
    out = np.zeros((h, w, 4), np.uint8)
    out[..., :3] = rgb
    out[..., 3] = alpha
    return out


def test_psnr_keep_rule_threshold() -> None:
    back = _layer(8, 8, (10, 20, 30), 255)
    assert psnr_on_white(back, back) == float("inf")
    off = back.copy()
    off[0, 0, 0] += 30  # one channel of one pixel of 64: 41.4 dB
    assert 40 < psnr_on_white(off, back) < 42
    assert keeps([off], back)
    worse = off.copy()
    worse[1, 1, 1] += 60
    assert not keeps([worse], back)


def test_psnr_ignores_colour_under_full_transparency() -> None:
    a = _layer(4, 4, (255, 0, 0), 0)
    b = _layer(4, 4, (0, 255, 0), 0)
    assert psnr_on_white(a, b) == float("inf")


def test_split_is_deterministic_and_about_70_30() -> None:
    names = [f"sample-{i}" for i in range(1000)]
    first = [split_of(n) for n in names]
    assert first == [split_of(n) for n in names]
    assert 0.65 < first.count("tune") / len(first) < 0.75


def test_split_svg_looks_through_a_lone_wrapper_and_keeps_defs() -> None:
    docs = split_svg(SVG)
    assert len(docs) == 3  # the empty group paints nothing
    for doc in docs:
        assert "linearGradient" in doc and "clip-path" in doc
    assert "circle" in docs[2] and "circle" not in docs[0]


def test_svg_layers_composite_back_to_the_render() -> None:
    full, layers = svg_layers(SVG, max_side=80)
    assert full.shape == (40, 80, 4)
    assert len(layers) == 3
    assert keeps(layers, full)
    assert render(split_svg(SVG)[2], 80)[20, 60, 0] == 255  # the red circle alone


def test_opaque_background_is_added_only_when_needed() -> None:
    sticker = _layer(4, 4, (255, 0, 0), 0)
    sticker[1, 1, 3] = 255
    assert len(on_opaque_background([sticker])) == 2
    assert len(on_opaque_background([_layer(4, 4, (0, 0, 0), 255), sticker])) == 2
    # Stripes that tile the canvas let the backdrop show only at a seam: it is folded in.
    left, right = _layer(40, 40, (255, 0, 0), 0), _layer(40, 40, (0, 120, 0), 0)
    left[:, :20, 3], right[:, 20:, 3] = 255, 255
    left[0, 19, 3] = 128
    folded = on_opaque_background([left, right])
    assert len(folded) == 2 and folded[0][..., 3].min() == 255
    assert np.abs(folded[0][0, 19, :3].astype(int) - (255, 128, 128)).max() <= 1
    sample = make_sample("x", "svg", "emoji", [sticker])
    assert sample.image[..., 3].min() == 255 and sample.image[0, 0, 0] == 255


def test_fit_layers_keeps_colour_at_soft_edges() -> None:
    layer = _layer(64, 32, (200, 100, 50), 0)
    layer[:, :16, 3] = 255
    small = fit_layers([layer], 16)[0]
    assert small.shape == (16, 8, 4)
    edge = small[..., 3] > 0
    assert np.all(np.abs(small[edge][:, :3].astype(int) - (200, 100, 50)) <= 1)


def test_cutout_and_paste_stay_inside_the_canvas() -> None:
    rng = np.random.default_rng(0)
    photo = _layer(50, 80, (1, 2, 3), 255)
    cut = ellipse_cutout(photo, rng, 30)
    assert cut.shape[0] == 30 and cut[15, cut.shape[1] // 2, 3] == 255 and cut[0, 0, 3] == 0
    layer = paste((50, 80, 4), trim(cut), rng)
    assert layer[..., 3].sum() == cut[..., 3].sum()


def test_cache_round_trip_and_stale_key(tmp_path: Path) -> None:
    sample = make_sample("a", "svg", "flag", [_layer(4, 6, (9, 9, 9), 255)], source="s", k="v")
    save_set(tmp_path, [sample], {"key": {"v": 1}, "log": {"a": "kept"}})
    (back,) = load_set(tmp_path, {"v": 1}) or pytest.fail("cache miss")
    assert back.name == "a" and back.meta == {"k": "v"} and back.split == sample.split
    assert np.array_equal(back.image, sample.image)
    assert load_set(tmp_path, {"v": 2}) is None


def test_contact_sheet_mixes_sets_and_kinds() -> None:
    def sample(name: str, set_name: str, kind: str) -> RealSample:
        return make_sample(name, set_name, kind, [_layer(4, 4, (0, 0, 0), 255)])

    sets = {
        "svg": [sample(f"e{i}", "svg", "emoji") for i in range(5)] + [sample("f", "svg", "flag")],
        "photo": [sample(f"p{i}", "photo", "cutout") for i in range(5)],
    }
    chosen = pick(sets, rows=6)
    assert [s.set for s in chosen] == ["svg", "photo"] * 3
    assert "f" in [s.name for s in chosen]
    image = sheet([("x", chosen[0].image, chosen[0].layers * 12)])
    assert image.size[0] < 1200
