"""Golden floor on photo cut-outs: feathered crops of scikit-image's bundled photos pasted
on others (the real photo set's 15 ``cutout`` samples; no download).

The classic engine must keep the figures it reached once a photo's page was cut along
anti-aliased seams too, ahead of k-means in the same run: soft IoU 0.713 / RGB L1 0.072
against k-means 0.608 / 0.094 at 0 merges (0.669 / 0.076 before the cut: a cut-out's
feathered rim joined it to the photo, so it stayed in layer 0).
"""

from __future__ import annotations

import numpy as np
import pytest
from bench.baselines import kmeans_layers
from bench.layerd_eval import evaluate
from bench.real.common import default_cache
from bench.real.photo import build

from lamina.engines.classic import ClassicEngine
from lamina.types import DecomposeParams


@pytest.mark.slow
def test_classic_on_photo_cutouts_keeps_its_floor_and_beats_kmeans() -> None:
    samples, _ = build(default_cache(), kinds=("cutout",))
    assert len(samples) == 15
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
    iou = float(np.mean([s.alpha_iou for s in ours]))
    l1 = float(np.mean([s.rgb_l1 for s in ours]))
    assert iou >= 0.70 and l1 <= 0.075, (iou, l1)
    assert iou > float(np.mean([s.alpha_iou for s in theirs]))
    assert l1 < float(np.mean([s.rgb_l1 for s in theirs]))
