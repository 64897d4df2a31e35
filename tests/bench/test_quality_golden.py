"""Golden quality test: the classic engine on ten fixed synthetic designs (256 px).

It must beat both baselines under the LayerD protocol and stay above floors
set a little below what it measured when the floors were last raised (see
docs/benchmarks/quality.md for the full benchmark). A regression in the
engine's segmentation, ordering, matting or fill shows up here first.
"""

from __future__ import annotations

import pytest
from bench.baselines import kmeans_layers, single_layer
from bench.layerd_eval import EditScores, evaluate, mean_scores
from bench.synth import CATEGORIES, generate

from lamina.engines import get_engine
from lamina.types import DecomposeParams

SIZE = (256, 256)
SEEDS = range(10)  # two designs per category
METHODS = ("classic", "single", "kmeans")

# Per category, after up to 5 merges: (soft IoU floor, RGB L1 ceiling). Measured at commit
# 8b42aee: text (0.84, 0.041), shapes (0.99, 0.004), cutouts (0.99, 0.012),
# panels (0.75, 0.126), photos (0.85, 0.100).
FLOORS = {
    "text": (0.80, 0.06),
    "shapes": (0.95, 0.02),
    "cutouts": (0.95, 0.03),
    "panels": (0.70, 0.15),
    "photos": (0.80, 0.12),
}

Scores = dict[str, dict[str, list[list[EditScores]]]]


@pytest.fixture(scope="module")
def scores() -> Scores:
    engine = get_engine("classic")
    engine.warm_up()
    out: Scores = {m: {c: [] for c in CATEGORIES} for m in METHODS}
    for seed in SEEDS:
        category = CATEGORIES[seed % len(CATEGORIES)]
        sample = generate(seed, size=SIZE, category=category)
        stack = engine.decompose(sample.image, DecomposeParams(num_layers=sample.num_layers))
        assert len(stack.layers) == sample.num_layers
        outputs = {
            "classic": [layer.rgba for layer in stack.layers],
            "single": single_layer(sample.image),
            "kmeans": kmeans_layers(sample.image, sample.num_layers),
        }
        for method, layers in outputs.items():
            out[method][category].append(evaluate(layers, list(sample.layers)))
    return out


def _overall(scores: Scores, method: str) -> list[EditScores]:
    return mean_scores([r for per in scores[method].values() for r in per])


@pytest.mark.slow
def test_classic_beats_both_baselines(scores: Scores) -> None:
    classic = _overall(scores, "classic")
    for baseline in ("single", "kmeans"):
        other = _overall(scores, baseline)
        for edits in (0, 5):
            assert classic[edits].cost < other[edits].cost, (baseline, edits)
            assert classic[edits].alpha_iou > other[edits].alpha_iou, (baseline, edits)
    # RGB L1 alone is no contest against the input as one layer: it shows every visible
    # pixel in its true colour. Against k-means it is.
    assert classic[5].rgb_l1 < _overall(scores, "kmeans")[5].rgb_l1


@pytest.mark.slow
def test_classic_meets_overall_floors(scores: Scores) -> None:
    classic = _overall(scores, "classic")
    assert classic[0].alpha_iou >= 0.74
    assert classic[0].cost <= 0.17
    assert classic[5].alpha_iou >= 0.85
    assert classic[5].rgb_l1 <= 0.07


@pytest.mark.slow
@pytest.mark.parametrize("category", CATEGORIES)
def test_classic_meets_category_floors(scores: Scores, category: str) -> None:
    iou_floor, l1_ceiling = FLOORS[category]
    merged = mean_scores(scores["classic"][category])[5]
    assert merged.alpha_iou >= iou_floor
    assert merged.rgb_l1 <= l1_ceiling
