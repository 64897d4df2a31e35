"""The qwen engine on a tiny random Qwen-Image-Layered pipeline, on CPU."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import sys
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from tests.support.qwen import PipelineSpy

from lamina.engines import get_engine
from lamina.engines.qwen import QwenEngine, fit_layers, working_size
from lamina.errors import EngineError, EngineUnavailable, InvalidImage
from lamina.types import DecomposeParams, LayerStack

FAST = {"num_inference_steps": 2, "prompt": "a blue panel on a cream backdrop"}


def test_layers_come_back_at_input_size_back_to_front(
    engine: QwenEngine, design: NDArray[np.uint8], spy: PipelineSpy
) -> None:
    stack = engine.decompose(design, DecomposeParams(num_layers=3, seed=1, **FAST))
    # The VAE decodes one layer at a time (slicing), untiled at 768x512.
    assert spy.vae_batches == [1, 1, 1]
    assert spy.tiled_decodes == 0
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
    engine: QwenEngine, design: NDArray[np.uint8], spy: PipelineSpy
) -> None:
    params = DecomposeParams(num_layers=1, num_inference_steps=1, prompt="x", seed=-3)
    unguided = engine.decompose(design, replace(params, guidance_scale=1.0, negative_prompt="b"))
    assert len(unguided.layers) == 1
    assert spy.calls[0]["true_cfg_scale"] == 1.0
    assert spy.calls[0]["negative_prompt"] is None
    assert len(spy.image_tokens) == 1, "one step without guidance is one transformer pass"
    # The count can tell: with guidance the same step runs the transformer twice.
    engine.decompose(design, replace(params, guidance_scale=4.0))
    assert spy.calls[1]["true_cfg_scale"] == 4.0
    assert spy.calls[1]["negative_prompt"] == " "
    assert len(spy.image_tokens) == 3


def test_request_resolution_overrides_the_engine_default(
    engine: QwenEngine, design: NDArray[np.uint8], spy: PipelineSpy
) -> None:
    assert engine.resolution == 640
    params = DecomposeParams(
        num_layers=1, num_inference_steps=1, guidance_scale=1.0, prompt="x", resolution=1024
    )
    stack = engine.decompose(design, params)
    assert "working size 1248x832" in stack.notes
    assert stack.layers[0].rgba.shape == (64, 96, 4)
    assert [call["resolution"] for call in spy.calls] == [1024]
    # What the transformer saw: (layers + 1) generated frames and the input's, 16 px a token.
    assert spy.image_tokens == [(1 + 2) * (1248 // 16) * (832 // 16)]
    assert spy.tiled_decodes == 1, "a working side over 1024 px decodes in tiles"


def test_without_a_caption_processor_an_empty_prompt_is_a_clear_error(
    engine: QwenEngine, design: NDArray[np.uint8], spy: PipelineSpy
) -> None:
    for prompt in (None, "", "  "):
        with pytest.raises(EngineError, match=r"lamina\[qwen-caption\].*give a prompt"):
            engine.decompose(design, DecomposeParams(num_inference_steps=1, prompt=prompt))
    assert spy.calls == []


def test_a_too_elongated_image_is_refused_before_the_model_runs(engine: QwenEngine) -> None:
    strip = np.full((1, 2000, 4), 255, dtype=np.uint8)
    with pytest.raises(EngineError, match="too elongated"):
        engine.decompose(strip, DecomposeParams(num_inference_steps=1, **{"prompt": "x"}))


def test_a_non_rgba_array_is_invalid_image(engine: QwenEngine) -> None:
    with pytest.raises(InvalidImage):
        engine.decompose(np.zeros((8, 8, 3), np.uint8), DecomposeParams(**FAST))


def test_a_pipeline_failure_is_an_engine_error_and_the_worker_goes_on(
    tiny_model: Path,
    engine: QwenEngine,
    design: NDArray[np.uint8],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # RoPE axes that no longer add up to the attention head size: the weights
    # load, the transformer fails on its first step.
    broken = shutil.copytree(tiny_model, tmp_path / "broken")
    config_path = broken / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["axes_dims_rope"] = [4, 4, 4]
    config_path.write_text(json.dumps(config))
    failing = QwenEngine(model=str(broken), device="cpu")
    internal = r"internal error \(ref [0-9a-f]{12}\)"
    with (
        caplog.at_level(logging.ERROR, logger="lamina"),
        pytest.raises(EngineError, match=internal) as raised,
    ):
        failing.decompose(design, DecomposeParams(num_layers=1, **FAST))
    # the user reads a reference; the log has it next to the pipeline's own words
    assert "size of tensor" not in str(raised.value)
    ref = str(raised.value).split("ref ")[1][:12]
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)
    stack = engine.decompose(
        design, DecomposeParams(num_layers=1, num_inference_steps=1, prompt="x")
    )
    assert len(stack.layers) == 1


def test_warm_up_runs_the_pipeline_once(fresh_engine: QwenEngine, spy: PipelineSpy) -> None:
    fresh_engine.warm_up()
    fresh_engine.warm_up()
    assert len(spy.calls) == 1
    assert (spy.calls[0]["layers"], spy.calls[0]["num_inference_steps"]) == (1, 1)
    assert len(spy.image_tokens) == 2, "one guided step: two transformer passes"


class OffloadTracker:
    """Which components accelerate's model-offload hooks have put on the device.

    The hooks are diffusers' own (``enable_model_cpu_offload``); here the device is the CPU,
    where every move is a no-op, so the hooks' moves are followed instead of tensor devices.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from accelerate.hooks import CpuOffload

        self.on_device: set[str] = set()
        onload, offload = CpuOffload.pre_forward, CpuOffload.init_hook

        def spied_onload(hook: Any, module: Any, *args: Any, **kwargs: Any) -> Any:
            self.on_device.add(type(module).__name__)
            return onload(hook, module, *args, **kwargs)

        def spied_offload(hook: Any, module: Any) -> Any:
            self.on_device.discard(type(module).__name__)
            return offload(hook, module)

        monkeypatch.setattr(CpuOffload, "pre_forward", spied_onload)
        monkeypatch.setattr(CpuOffload, "init_hook", spied_offload)


def test_a_run_stopped_mid_denoising_under_model_offload_leaves_nothing_on_the_device(
    fresh_engine: QwenEngine,
    design: NDArray[np.uint8],
    reference_stack: LayerStack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracker = OffloadTracker(monkeypatch)
    # The engine refuses offload on a CPU device; diffusers takes the CPU as the device.
    fresh_engine._pipe.enable_model_cpu_offload(device="cpu")
    seen: list[str] = []

    def stop_after_the_first_step(fraction: float) -> None:
        seen.extend(sorted(tracker.on_device))
        raise Stop(fraction)

    with pytest.raises(Stop):
        fresh_engine.decompose(design, reference_stack.params, progress=stop_after_the_first_step)
    assert "QwenImageTransformer2DModel" in seen, "the transformer was on the device mid-run"
    assert tracker.on_device == set()
    # The next job runs on the same hooks and gives what an engine without offload gives.
    again = fresh_engine.decompose(design, reference_stack.params)
    for a, b in zip(reference_stack.layers, again.layers, strict=True):
        np.testing.assert_array_equal(a.rgba, b.rgba)
    assert tracker.on_device == set()


def test_nan_output_fails_the_job_instead_of_returning_empty_layers(
    fresh_engine: QwenEngine, design: NDArray[np.uint8]
) -> None:
    with torch.no_grad():
        fresh_engine._pipe.vae.post_quant_conv.bias.fill_(float("nan"))
    params = DecomposeParams(num_layers=1, num_inference_steps=1, prompt="x")
    with pytest.raises(EngineError, match="NaN pixels"):
        fresh_engine.decompose(design, params)


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
        ({"device": "cpu", "dtype": "float16"}, "NaN in float16"),
        ({"device": "cpu", "dtype": "fp16"}, "NaN in float16"),
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


@pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed"
)
def test_without_torchvision_a_model_with_a_processor_loads_without_it(
    tiny_model: Path, tmp_path: Path, design: NDArray[np.uint8], caplog: pytest.LogCaptureFixture
) -> None:
    # As the released model is saved: its index names the processor (the folder here has
    # none, so loading it would fail).
    with_processor = shutil.copytree(tiny_model, tmp_path / "with-processor")
    index_path = with_processor / "model_index.json"
    index = json.loads(index_path.read_text())
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    index_path.write_text(json.dumps(index))
    with caplog.at_level(logging.INFO, logger="lamina.engines.qwen"):
        loaded = QwenEngine(model=str(with_processor), device="cpu")
    assert "every request needs a prompt" in caplog.text
    assert loaded._pipe.processor is None
    with pytest.raises(EngineError, match="give a prompt"):
        loaded.decompose(design, DecomposeParams(num_inference_steps=1))


def test_a_diffusers_without_the_layered_pipeline_is_engine_unavailable(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What diffusers 0.36 is to ``from diffusers import QwenImageLayeredPipeline``.
    monkeypatch.setitem(sys.modules, "diffusers", types.ModuleType("diffusers"))
    with pytest.raises(EngineUnavailable, match=r"needs diffusers >= 0\.37"):
        QwenEngine(model=str(tiny_model), device="cpu")


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
