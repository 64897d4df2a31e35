"""The qwen engine on a tiny random Qwen-Image-Layered pipeline, on CPU."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from lamina.engines import get_engine
from lamina.engines.qwen import QwenEngine, fit_layers, working_size
from lamina.errors import EngineError, EngineUnavailable, InvalidImage
from lamina.types import DecomposeParams, LayerStack

FAST = {"num_inference_steps": 2, "prompt": "a blue panel on a cream backdrop"}


def test_layers_come_back_at_input_size_back_to_front(
    engine: QwenEngine, design: NDArray[np.uint8]
) -> None:
    stack = engine.decompose(design, DecomposeParams(num_layers=3, seed=1, **FAST))
    assert stack.engine == "qwen"
    assert len(stack.layers) == 3
    assert [layer.kind for layer in stack.layers] == ["background", "element", "element"]
    for layer in stack.layers:
        assert layer.rgba.shape == (64, 96, 4)
        assert layer.rgba.dtype == np.uint8
        assert layer.empty == (layer.bbox is None)
    assert "working size 768x512" in stack.notes
    assert stack.timings["inference_s"] > 0


def test_same_seed_same_layers_other_seed_other_layers(
    engine: QwenEngine, design: NDArray[np.uint8], reference_stack: LayerStack
) -> None:
    asked = reference_stack.params
    again = engine.decompose(design, asked)
    other = engine.decompose(design, replace(asked, seed=asked.seed + 1))
    for a, b in zip(reference_stack.layers, again.layers, strict=True):
        np.testing.assert_array_equal(a.rgba, b.rgba)
    pairs = zip(reference_stack.layers, other.layers, strict=True)
    assert any(not np.array_equal(a.rgba, c.rgba) for a, c in pairs)


def test_progress_reports_each_step_up_to_one(
    engine: QwenEngine, design: NDArray[np.uint8]
) -> None:
    seen: list[float] = []
    params = DecomposeParams(num_layers=1, num_inference_steps=3, prompt="a poster")
    engine.decompose(design, params, progress=seen.append)
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])


class Stop(Exception):
    """What a caller raises from ``progress`` to stop a run."""


def test_an_exception_from_progress_comes_back_unchanged(
    engine: QwenEngine, design: NDArray[np.uint8]
) -> None:
    def stop(fraction: float) -> None:
        raise Stop(fraction)

    with pytest.raises(Stop):
        engine.decompose(design, DecomposeParams(num_inference_steps=3, prompt="x"), progress=stop)


def test_guidance_one_runs_without_classifier_free_guidance(
    engine: QwenEngine, design: NDArray[np.uint8]
) -> None:
    params = DecomposeParams(num_layers=1, num_inference_steps=1, guidance_scale=1.0, seed=-3)
    stack = engine.decompose(design, replace(params, prompt="x", negative_prompt="blurry"))
    assert len(stack.layers) == 1


def test_request_resolution_overrides_the_engine_default(engine: QwenEngine) -> None:
    square = np.full((40, 40, 4), 255, dtype=np.uint8)
    params = DecomposeParams(num_layers=1, num_inference_steps=1, prompt="x", resolution=1024)
    stack = engine.decompose(square, params)
    assert "working size 1024x1024" in stack.notes
    assert stack.layers[0].rgba.shape == (40, 40, 4)


def test_without_a_caption_processor_an_empty_prompt_is_a_clear_error(
    engine: QwenEngine, design: NDArray[np.uint8]
) -> None:
    for prompt in (None, "", "  "):
        with pytest.raises(EngineError, match="give a prompt"):
            engine.decompose(design, DecomposeParams(num_inference_steps=1, prompt=prompt))


def test_a_too_elongated_image_is_refused_before_the_model_runs(engine: QwenEngine) -> None:
    strip = np.full((1, 2000, 4), 255, dtype=np.uint8)
    with pytest.raises(EngineError, match="too elongated"):
        engine.decompose(strip, DecomposeParams(num_inference_steps=1, **{"prompt": "x"}))


def test_a_non_rgba_array_is_invalid_image(engine: QwenEngine) -> None:
    with pytest.raises(InvalidImage):
        engine.decompose(np.zeros((8, 8, 3), np.uint8), DecomposeParams(**FAST))


def test_a_pipeline_failure_is_an_engine_error_and_the_worker_goes_on(
    tiny_model: Path, engine: QwenEngine, design: NDArray[np.uint8], tmp_path: Path
) -> None:
    # RoPE axes that no longer add up to the attention head size: the weights
    # load, the transformer fails on its first step.
    broken = shutil.copytree(tiny_model, tmp_path / "broken")
    config_path = broken / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["axes_dims_rope"] = [4, 4, 4]
    config_path.write_text(json.dumps(config))
    failing = QwenEngine(model=str(broken), device="cpu")
    with pytest.raises(EngineError, match="the qwen pipeline failed: RuntimeError"):
        failing.decompose(design, DecomposeParams(num_layers=1, **FAST))
    stack = engine.decompose(
        design, DecomposeParams(num_layers=1, num_inference_steps=1, prompt="x")
    )
    assert len(stack.layers) == 1


def test_warm_up_runs_once(engine: QwenEngine) -> None:
    engine.warm_up()
    engine.warm_up()
    assert engine._warm


def test_get_engine_builds_the_qwen_engine_from_a_folder(tiny_model: Path) -> None:
    built = get_engine("qwen", model=str(tiny_model), device="cpu", dtype="float32")
    assert isinstance(built, QwenEngine)
    assert built.dtype.is_floating_point and str(built.dtype) == "torch.float32"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "cuda:99"}, "cuda:99"),
        ({"device": "nonsense"}, "unknown torch device"),
        ({"device": "cpu", "dtype": "int8"}, "unknown dtype"),
        ({"device": "cpu", "cpu_offload": "model"}, "needs a GPU"),
        ({"device": "cpu", "cpu_offload": "disk"}, "cpu_offload must be"),
        ({"device": "cpu", "resolution": 512}, "640 or 1024"),
    ],
)
def test_unusable_options_are_engine_unavailable(
    tiny_model: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(EngineUnavailable, match=message):
        QwenEngine(model=str(tiny_model), **options)  # type: ignore[arg-type]


def test_missing_weights_are_engine_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="no such directory"):
        get_engine("qwen", model=str(tmp_path / "nowhere"), device="cpu")
    with pytest.raises(EngineUnavailable, match=r"no model_index\.json"):
        get_engine("qwen", model=str(tmp_path), device="cpu")


def test_a_folder_missing_a_component_is_engine_unavailable(
    tiny_model: Path, tmp_path: Path
) -> None:
    partial = shutil.copytree(tiny_model, tmp_path / "partial")
    shutil.rmtree(partial / "transformer")
    with pytest.raises(EngineUnavailable, match="could not load Qwen-Image-Layered weights"):
        QwenEngine(model=str(partial), device="cpu")


def test_a_model_with_a_processor_needs_it_loadable(tiny_model: Path, tmp_path: Path) -> None:
    with_processor = shutil.copytree(tiny_model, tmp_path / "with-processor")
    index_path = with_processor / "model_index.json"
    index = json.loads(index_path.read_text())
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    index_path.write_text(json.dumps(index))
    with pytest.raises(EngineUnavailable, match=r"processor|torchvision"):
        QwenEngine(model=str(with_processor), device="cpu")


def test_working_size_follows_the_pipeline_buckets() -> None:
    assert working_size(96, 64, 640) == (768, 512)
    assert working_size(500, 500, 640) == (640, 640)
    assert working_size(500, 500, 1024) == (1024, 1024)
    assert working_size(1, 2000, 640) == (0, 28608)


def test_fit_layers_resamples_premultiplied_and_keeps_the_input() -> None:
    frames = np.zeros((1, 8, 8, 4), dtype=np.float32)
    frames[0, :, :4] = (1.0, 0.0, 0.0, 1.0)  # opaque red on the left
    frames[0, :, 4:] = (0.0, 1.0, 0.0, 0.0)  # invisible green on the right
    before = frames.copy()
    (small,) = fit_layers(frames, (4, 4))
    np.testing.assert_array_equal(frames, before)
    assert small.shape == (4, 4, 4) and small.dtype == np.uint8
    visible = small[..., 3] > 0
    assert visible.any()
    assert (small[visible, 1] == 0).all(), "transparent colour bled into visible pixels"
    assert (small[visible, 0] == 255).all()
    assert (small[~visible, :3] == 0).all()
    (big,) = fit_layers(frames, (16, 10))
    assert big.shape == (10, 16, 4)
    assert (big[:, :6, :] == (255, 0, 0, 255)).all()


def test_fit_layers_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        fit_layers(np.zeros((8, 8, 4), np.float32), (4, 4))
    with pytest.raises(ValueError):
        fit_layers(np.zeros((1, 8, 8, 4), np.float32), (0, 4))
