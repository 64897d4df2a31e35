"""Porter-Duff "over" of straight-alpha layers, against closed-form values and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from lamina.imaging.composite import composite, composite_uint8


def _solid(rgba: tuple[int, int, int, int], shape: tuple[int, int] = (3, 4)) -> NDArray[np.uint8]:
    out = np.empty((*shape, 4), dtype=np.uint8)
    out[...] = rgba
    return out


def test_single_layer_is_itself_and_transparent_pixels_are_zero() -> None:
    layer = _solid((10, 20, 30, 255))
    layer[0, 0] = (99, 99, 99, 0)
    out = composite([layer])
    assert out.dtype == np.float64 and out.shape == (3, 4, 4)
    assert np.allclose(out[1, 1], np.array([10, 20, 30, 255]) / 255)
    assert np.array_equal(out[0, 0], [0, 0, 0, 0])


def test_half_transparent_over_opaque_matches_the_formula() -> None:
    back = _solid((100, 0, 0, 255))
    front = _solid((0, 200, 0, 128))
    a = 128 / 255
    expected = np.array([100 * (1 - a), 200 * a, 0]) / 255
    out = composite([back, front])
    assert np.allclose(out[..., :3], expected)
    assert np.allclose(out[..., 3], 1.0)


def test_two_translucent_layers_combine_alpha_and_straight_colour() -> None:
    a1, a2 = 100 / 255, 50 / 255
    out = composite([_solid((255, 0, 0, 100)), _solid((0, 0, 255, 50))])
    alpha = a2 + a1 * (1 - a2)
    assert np.allclose(out[..., 3], alpha)
    assert np.allclose(out[..., 0], a1 * (1 - a2) / alpha)
    assert np.allclose(out[..., 2], a2 / alpha)


def test_opaque_top_hides_everything_below() -> None:
    rng = np.random.default_rng(0)
    below = [rng.integers(0, 256, (5, 6, 4), dtype=np.uint8) for _ in range(3)]
    top = _solid((1, 2, 3, 255), (5, 6))
    assert np.array_equal(composite_uint8([*below, top]), top)


def test_layers_are_not_modified() -> None:
    layers = [_solid((10, 20, 30, 40)), _solid((50, 60, 70, 80))]
    copies = [layer.copy() for layer in layers]
    composite(layers)
    assert all(np.array_equal(a, b) for a, b in zip(layers, copies, strict=True))


@pytest.mark.parametrize(
    "layers",
    [
        [],
        [np.zeros((3, 4, 4), np.uint8), np.zeros((3, 5, 4), np.uint8)],
        [np.zeros((3, 4, 4), np.uint16)],
        [np.zeros((3, 4, 3), np.uint8)],
        [np.zeros((3, 4), np.uint8)],
    ],
)
def test_bad_stacks_raise_value_error(layers: list[NDArray[np.uint8]]) -> None:
    with pytest.raises(ValueError):
        composite(layers)


_layer = arrays(np.uint8, (4, 5, 4))


@settings(max_examples=100, deadline=None)
@given(st.lists(_layer, min_size=1, max_size=5))
def test_result_is_a_valid_image_whose_alpha_never_drops(layers: list[NDArray[np.uint8]]) -> None:
    out = composite(layers)
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-12
    top_alpha = np.max([layer[..., 3] for layer in layers], axis=0) / 255
    assert (out[..., 3] >= top_alpha - 1e-12).all()


@settings(max_examples=100, deadline=None)
@given(_layer, st.integers(min_value=1, max_value=6), st.integers(min_value=0))
def test_disjoint_split_reconstructs_exactly(
    image: NDArray[np.uint8], parts: int, seed: int
) -> None:
    owner = np.random.default_rng(seed).integers(0, parts, image.shape[:2])
    layers = [np.where((owner == k)[..., None], image, 0).astype(np.uint8) for k in range(parts)]
    out = composite_uint8(layers)
    visible = image[..., 3] > 0
    assert np.array_equal(out[..., 3], image[..., 3])
    assert np.array_equal(out[visible], image[visible])


@settings(max_examples=100, deadline=None)
@given(st.lists(_layer, min_size=2, max_size=4))
def test_empty_layers_change_nothing(layers: list[NDArray[np.uint8]]) -> None:
    empty = np.zeros_like(layers[0])
    with_empty = [empty, *layers[:1], empty, *layers[1:], empty]
    assert np.allclose(composite(with_empty), composite(layers))
