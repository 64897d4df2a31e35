"""The LayerD metric on hand-made layer stacks whose scores can be worked out on paper."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from bench.layerd_eval import (
    alpha_soft_iou,
    dtw_path,
    evaluate,
    group_levels,
    layer_cost,
    mean_scores,
    rgb_l1,
)
from bench.synth import generate
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lamina.imaging.composite import composite_uint8

H = W = 20
GREY = (128, 128, 128)
RED = (255, 0, 0)
BLUE = (0, 0, 255)


def _layer(colour: tuple[int, int, int], rows: slice, cols: slice, alpha: int = 255) -> np.ndarray:
    out = np.zeros((H, W, 4), np.uint8)
    out[rows, cols, :3] = colour
    out[rows, cols, 3] = alpha
    return out


BG = _layer(GREY, slice(None), slice(None))
A = _layer(RED, slice(5, 15), slice(0, 10))  # 100 px
B = _layer(BLUE, slice(5, 15), slice(5, 15))  # 100 px, 50 of them over A


def test_ground_truth_against_itself_is_perfect_at_every_edit_count() -> None:
    sample = generate(2, size=(128, 128), category="panels")
    results = evaluate(list(sample.layers), list(sample.layers), max_edits=5)
    assert [r.edits for r in results] == [0, 1, 2, 3, 4, 5]
    for r in results:
        assert r.rgb_l1 == pytest.approx(0.0, abs=1e-9)
        assert r.alpha_iou == pytest.approx(1.0)
        assert r.cost == pytest.approx(0.0, abs=1e-9)


def test_pair_scores_on_known_cases() -> None:
    # RGB L1 counts only pixels where the ground truth is visible.
    tinted = A.copy()
    tinted[..., 0] = 225
    tinted[..., 3] = 255
    assert rgb_l1(tinted, A) == pytest.approx(30 / 255 / 3)
    # Two 10 x 10 squares, one shifted by 2 px: overlap 80, union 120.
    shifted = _layer(RED, slice(5, 15), slice(2, 12))
    assert alpha_soft_iou(shifted, A) == pytest.approx(80 / 120)
    # The two missing columns are black in the prediction: 1/3 error on 20 of 100 px.
    assert rgb_l1(shifted, A) == pytest.approx(20 / 3 / 100)
    assert layer_cost(shifted, A) == pytest.approx((1 / 15 + 1 / 3) / 2)
    # Soft alpha: half-opaque copy.
    half = _layer(RED, slice(5, 15), slice(0, 10), alpha=128)
    assert alpha_soft_iou(half, A) == pytest.approx(128 / 255)
    # Empty layers.
    empty = np.zeros_like(A)
    assert alpha_soft_iou(empty, empty) == 0.0
    assert rgb_l1(A, empty) == 0.0
    assert layer_cost(A, A) == 0.0


def test_shifted_layer() -> None:
    shifted = _layer(RED, slice(5, 15), slice(2, 12))
    results = evaluate([BG, shifted], [BG, A], max_edits=2)
    for r in results:  # two levels on each side: nothing to merge
        assert r.applied == 0
        assert r.rgb_l1 == pytest.approx((0 + 1 / 15) / 2)
        assert r.alpha_iou == pytest.approx((1 + 2 / 3) / 2)


def test_missing_layer() -> None:
    # DTW matches bg-bg, A-A and A-B; IoU(A, B) = 50/150, L1(A, B) = 1/2.
    # Merging A and B in the ground truth does not pay under the reference gain, so scores stay.
    results = evaluate([BG, A], [BG, A, B], max_edits=5)
    for r in results:
        assert r.applied == 0
        assert r.rgb_l1 == pytest.approx(0.5 / 3)
        assert r.alpha_iou == pytest.approx((1 + 1 + 1 / 3) / 3)


def test_merged_layer_is_forgiven_after_one_merge() -> None:
    merged = composite_uint8([A, B])
    results = evaluate([BG, merged], [BG, A, B], max_edits=3)
    # No merge: AB is matched to A (L1 1/3, IoU 2/3) and to B (L1 0, IoU 2/3).
    assert results[0].rgb_l1 == pytest.approx(1 / 9)
    assert results[0].alpha_iou == pytest.approx(7 / 9)
    # One ground-truth merge of A and B makes the sequences identical.
    for r in results[1:]:
        assert r.applied == 1
        assert r.rgb_l1 == pytest.approx(0.0, abs=1e-9)
        assert r.alpha_iou == pytest.approx(1.0)


def test_single_layer_prediction_scores_below_the_truth() -> None:
    sample = generate(0, size=(128, 128), category="shapes")
    results = evaluate([sample.image], list(sample.layers), max_edits=5)
    assert results[0].alpha_iou < 0.8
    assert all(r.alpha_iou < 1.0 and r.rgb_l1 > 0.0 for r in results)
    # Scores never get worse than the no-merge ones here, and merges are counted.
    assert results[-1].alpha_iou >= results[0].alpha_iou
    assert results[-1].applied >= 1


def test_level_grouping() -> None:
    far = _layer(BLUE, slice(16, 20), slice(16, 20))
    # A and far overlap nothing above them: one level above the background.
    assert group_levels([BG, A, far]) == [[0], [1, 2]]
    # B overlaps A: three levels.
    assert group_levels([BG, A, B]) == [[0], [1], [2]]
    # Levels are peeled from the front: far joins B (the front), not A.
    assert group_levels([BG, A, B, far]) == [[0], [1], [2, 3]]
    # An empty layer overlaps nothing, so it sits in the front level.
    assert group_levels([BG, np.zeros_like(A), A, B]) == [[0], [2], [1, 3]]


def test_dtw_prefers_order_over_a_cheaper_crossing() -> None:
    crossing = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert dtw_path(crossing) == [(0, 0), (1, 1)]
    assert dtw_path(np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])) == [(0, 0), (0, 1), (1, 2)]
    assert dtw_path(np.array([[0.3]])) == [(0, 0)]


def _all_paths(n: int, m: int) -> list[list[tuple[int, int]]]:
    def walk(i: int, j: int) -> list[list[tuple[int, int]]]:
        if (i, j) == (n - 1, m - 1):
            return [[(i, j)]]
        out = []
        for di, dj in ((1, 1), (1, 0), (0, 1)):
            if i + di < n and j + dj < m:
                out += [[(i, j), *rest] for rest in walk(i + di, j + dj)]
        return out

    return walk(0, 0)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 4)),
        elements=st.floats(0, 1, allow_nan=False),
    )
)
def test_dtw_path_is_a_minimal_monotone_alignment(cost: np.ndarray) -> None:
    path = dtw_path(cost)
    n, m = cost.shape
    assert path[0] == (0, 0) and path[-1] == (n - 1, m - 1)
    for (i0, j0), (i1, j1) in itertools.pairwise(path):
        assert (i1 - i0, j1 - j0) in {(1, 1), (1, 0), (0, 1)}
    best = min(sum(cost[p] for p in candidate) for candidate in _all_paths(n, m))
    assert sum(cost[p] for p in path) == pytest.approx(best)


def test_mean_scores_average_each_edit_count() -> None:
    a = evaluate([BG, A], [BG, A], max_edits=1)
    b = evaluate([BG, _layer(RED, slice(5, 15), slice(2, 12))], [BG, A], max_edits=1)
    mean = mean_scores([a, b])
    assert len(mean) == 2
    assert mean[0].alpha_iou == pytest.approx((1.0 + 5 / 6) / 2)
    assert mean[1].rgb_l1 == pytest.approx((0 + 1 / 30) / 2)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        evaluate([], [BG])
    with pytest.raises(ValueError):
        evaluate([BG[:10]], [BG])
    with pytest.raises(ValueError):
        evaluate([BG.astype(np.float32)], [BG])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        evaluate([BG], [BG], max_edits=-1)
    with pytest.raises(ValueError):
        dtw_path(np.zeros((0, 3)))
    with pytest.raises(ValueError):
        rgb_l1(BG[:10], BG)
