"""Baselines recompose the input exactly; the benchmark runner writes its report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench.baselines import kmeans_layers, single_layer
from bench.synth import CATEGORIES, generate

from bench import quality
from lamina.imaging.composite import composite_uint8


@pytest.mark.parametrize("category", CATEGORIES)
def test_kmeans_layers_recompose_the_input(category: str) -> None:
    sample = generate(4, size=(96, 80), category=category)
    layers = kmeans_layers(sample.image, 4, seed=1)
    assert 1 <= len(layers) <= 4
    assert (layers[0][..., 3] == 255).all()
    assert all(layer.shape == sample.image.shape for layer in layers)
    assert np.array_equal(composite_uint8(layers), sample.image)
    # Foreground clusters are hard-alpha and disjoint.
    fronts = np.stack([layer[..., 3] for layer in layers[1:]]) if len(layers) > 1 else None
    if fronts is not None:
        assert set(np.unique(fronts)) <= {0, 255}
        assert ((fronts > 0).sum(axis=0) <= 1).all()
    again = kmeans_layers(sample.image, 4, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(layers, again, strict=True))


def test_kmeans_on_two_colours_finds_them() -> None:
    image = np.zeros((40, 40, 4), np.uint8)
    image[...] = (200, 30, 30, 255)
    image[10:20, 10:30] = (20, 20, 220, 255)
    layers = kmeans_layers(image, 3)
    assert len(layers) == 2  # only two distinct colours
    assert (layers[1][..., 3] > 0).sum() == 200
    # The background is filled under the removed square with its own colour.
    assert (layers[0][..., :3] == (200, 30, 30)).all()


def test_single_layer_is_a_copy() -> None:
    image = generate(0, size=(64, 64), category="text").image
    (layer,) = single_layer(image)
    assert np.array_equal(layer, image) and layer is not image


def test_baselines_refuse_bad_input() -> None:
    with pytest.raises(ValueError):
        kmeans_layers(np.zeros((8, 8, 3), np.uint8), 2)
    with pytest.raises(ValueError):
        kmeans_layers(np.zeros((8, 8, 4), np.uint8), 0)
    with pytest.raises(ValueError):
        single_layer(np.zeros((8, 8, 4), np.float32))  # type: ignore[arg-type]


def test_benchmark_cli_writes_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "q.md"
    argv = ["--n", "5", "--size", "64", "--layers", "gt", "3"]
    argv += ["--methods", "single", "kmeans", "--out", str(out), "--quiet"]
    assert quality.main(argv) == 0
    report = out.read_text()
    assert capsys.readouterr().out.strip() == report.strip()
    assert "## num_layers = ground-truth layer count" in report
    assert "## num_layers = 3 for every design" in report
    for category in CATEGORIES:
        assert f"| {category} (1) | kmeans | soft IoU" in report
    assert "python -m bench.quality --n 5 --size 64" in report


def test_benchmark_cli_rejects_unknown_engine(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        quality.main(["--methods", "nope", "--out", str(tmp_path / "q.md"), "--quiet"])
    assert exc.value.code == 2
    assert not (tmp_path / "q.md").exists()


def test_benchmark_compares_an_engine_with_the_baselines(tmp_path: Path) -> None:
    out = tmp_path / "q.md"
    argv = ["--n", "2", "--size", "64", "--layers", "gt", "--methods", "classic", "single"]
    argv += ["--save", str(tmp_path / "png")]
    assert quality.main([*argv, "--out", str(out), "--quiet"]) == 0
    saved = tmp_path / "png" / "001-shapes-s1"
    assert (saved / "input.png").is_file()
    assert len(list((saved / "classic-gt").glob("*.png"))) == len(
        list((saved / "layers").glob("*"))
    )
    assert len(list((saved / "single-gt").glob("*.png"))) == 1
    report = out.read_text()
    assert "| classic | RGB L1 ↓ |" in report
    assert "| classic / single |" in report
    assert "## num_layers = 4" not in report
