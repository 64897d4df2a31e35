"""Golden floors on real content, each ahead of k-means in the same run, at 0 merges.

* Six OpenMoji emoji (fetched from npm at test time; the set's fixed spread-out pick) must
  keep the figures the engine reached once fills ran under their outlines, kept a layer
  apart from them and were cut from the page along anti-aliased seams: soft IoU 0.866 /
  RGB L1 0.056 against k-means 0.647 / 0.114 (0.822 / 0.064 before the page cut, 0.787 /
  0.067 with fills and outlines merged by colour, 0.72 / 0.09 before fills ran under).
* The real photo set's 15 cut-outs (feathered crops of scikit-image's bundled photos
  pasted on others; no download) must keep the figures reached once a photo's page was
  cut along anti-aliased seams too: 0.713 / 0.072 against k-means 0.608 / 0.094 (0.669 /
  0.076 before: a cut-out's feathered rim joined it to the photo, so it stayed in layer 0).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence

import numpy as np
import pytest
from bench.baselines import kmeans_layers
from bench.layerd_eval import evaluate
from bench.real import photo, svg
from bench.real.common import RealSample, default_cache

from lamina.engines.classic import ClassicEngine
from lamina.types import DecomposeParams


def mean_scores(samples: Sequence[RealSample]) -> tuple[float, float, float, float]:
    """Mean soft IoU and RGB L1 at 0 merges of the classic engine, then of k-means."""
    engine = ClassicEngine()
    ours, theirs = [], []
    for sample in samples:
        n = len(sample.layers)
        layers = [
            layer.rgba
            for layer in engine.decompose(sample.image, DecomposeParams(num_layers=n)).layers
        ]
        ours.append(evaluate(layers, sample.layers, max_edits=0)[0])
        theirs.append(evaluate(kmeans_layers(sample.image, n), sample.layers, max_edits=0)[0])
    return (
        float(np.mean([s.alpha_iou for s in ours])),
        float(np.mean([s.rgb_l1 for s in ours])),
        float(np.mean([s.alpha_iou for s in theirs])),
        float(np.mean([s.rgb_l1 for s in theirs])),
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm fetches the OpenMoji package")
def test_classic_on_openmoji_emoji_keeps_its_floor_and_beats_kmeans() -> None:
    samples, _ = svg.build(default_cache(), emoji=6, flags=0)
    assert len(samples) == 6
    iou, l1, kmeans_iou, kmeans_l1 = mean_scores(samples)
    assert iou >= 0.85 and l1 <= 0.06, (iou, l1)
    assert iou > kmeans_iou and l1 < kmeans_l1


@pytest.mark.slow
def test_classic_on_photo_cutouts_keeps_its_floor_and_beats_kmeans() -> None:
    samples, _ = photo.build(default_cache(), kinds=("cutout",))
    assert len(samples) == 15
    iou, l1, kmeans_iou, kmeans_l1 = mean_scores(samples)
    assert iou >= 0.70 and l1 <= 0.075, (iou, l1)
    assert iou > kmeans_iou and l1 < kmeans_l1
