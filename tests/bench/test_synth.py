"""The synthetic-design generator: deterministic, exact ground truth, every element visible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bench.synth import CATEGORIES, dataset, generate
from PIL import Image

from bench import synth
from lamina.imaging.composite import composite_uint8


@pytest.mark.parametrize("category", CATEGORIES)
def test_same_seed_same_design(category: str) -> None:
    a = generate(7, size=(160, 128), category=category)
    b = generate(7, size=(160, 128), category=category)
    assert a.kinds == b.kinds
    assert np.array_equal(a.image, b.image)
    assert all(np.array_equal(x, y) for x, y in zip(a.layers, b.layers, strict=True))


@pytest.mark.parametrize("category", CATEGORIES)
def test_layers_composite_exactly_to_the_image(category: str) -> None:
    for seed in range(3):
        sample = generate(seed, size=(160, 128), category=category)
        assert sample.image.shape == (128, 160, 4)
        assert sample.image.dtype == np.uint8
        assert len(sample.kinds) == sample.num_layers >= 2
        assert sample.kinds[0] == "background"
        assert (sample.layers[0][..., 3] == 255).all()
        for layer in sample.layers:
            assert layer.shape == (128, 160, 4) and layer.dtype == np.uint8
            assert layer[..., 3].any()
            assert not layer[layer[..., 3] == 0, :3].any()  # no colour where transparent
        assert np.array_equal(composite_uint8(sample.layers), sample.image)
        assert (sample.image[..., 3] == 255).all()


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_element_stays_mostly_visible(category: str) -> None:
    for seed in range(3):
        sample = generate(seed, size=(128, 128), category=category)
        alphas = [layer[..., 3].astype(np.float64) / 255.0 for layer in sample.layers]
        for i in range(1, len(alphas)):
            visible = alphas[i].copy()
            for above in alphas[i + 1 :]:
                visible *= 1.0 - above
            assert visible.sum() >= 0.45 * alphas[i].sum(), (seed, i, sample.kinds)


def test_seeds_and_categories_give_different_designs() -> None:
    images = [generate(s, size=(96, 96), category="shapes").image for s in range(4)]
    images.append(generate(0, size=(96, 96), category="text").image)
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            assert not np.array_equal(images[i], images[j])


def test_categories_hold_their_kind_of_element() -> None:
    for seed in range(4):
        kinds = {c: generate(seed, size=(192, 192), category=c).kinds for c in CATEGORIES}
        assert kinds["text"].count("text") >= 2
        assert kinds["shapes"].count("shape") >= 2
        assert "image" in kinds["cutouts"]
        assert "panel" in kinds["panels"]
        assert 2 <= len(kinds["photos"]) <= 3


def test_panels_are_translucent() -> None:
    sample = generate(1, size=(192, 192), category="panels")
    for layer, kind in zip(sample.layers, sample.kinds, strict=True):
        if kind == "panel":
            peak = int(layer[..., 3].max())
            assert 0.3 * 255 - 1 <= peak <= 0.8 * 255 + 1


def test_dataset_cycles_categories_with_consecutive_seeds() -> None:
    samples = list(dataset(7, seed=10, size=(64, 64)))
    assert [s.category for s in samples] == [*CATEGORIES, *CATEGORIES[:2]]
    assert [s.seed for s in samples] == list(range(10, 17))
    again = generate(13, size=(64, 64), category=CATEGORIES[3])
    assert np.array_equal(samples[3].image, again.image)


@pytest.mark.parametrize(
    ("seed", "size", "category"),
    [
        (-1, (64, 64), "text"),
        (0, (64, 64), "logos"),
        (0, (32, 64), "text"),
        (True, (64, 64), "text"),
    ],
)
def test_bad_arguments_are_refused(seed: int, size: tuple[int, int], category: str) -> None:
    with pytest.raises(ValueError):
        generate(seed, size=size, category=category)


def test_cli_writes_designs_that_decode_back(tmp_path: Path) -> None:
    assert synth.main(["--n", "2", "--size", "64", "--seed", "5", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "001-shapes-s6"
    meta = json.loads((folder / "sample.json").read_text())
    sample = generate(6, size=(64, 64), category="shapes")
    assert meta == {"seed": 6, "category": "shapes", "kinds": list(sample.kinds)}
    assert np.array_equal(np.asarray(Image.open(folder / "input.png")), sample.image)
    saved = [np.asarray(Image.open(p)) for p in sorted((folder / "layers").glob("*.png"))]
    assert len(saved) == sample.num_layers
    assert all(np.array_equal(a, b) for a, b in zip(saved, sample.layers, strict=True))
