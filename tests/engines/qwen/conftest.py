"""Fixtures: one tiny Qwen-Image-Layered pipeline on disk, engines loaded from it, and a spy
on the real diffusers classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from tests.support.qwen import PipelineSpy
from tests.support.qwen_model import save_tiny_pipeline

from lamina.engines.qwen import QwenEngine
from lamina.types import DecomposeParams, LayerStack


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random pipeline saved with ``save_pretrained``, as a real model folder is."""
    return save_tiny_pipeline(tmp_path_factory.mktemp("qwen") / "tiny-qwen-image-layered")


@pytest.fixture(scope="session")
def engine(tiny_model: Path) -> QwenEngine:
    """The engine, loaded through its own loading code from ``tiny_model``."""
    return QwenEngine(model=str(tiny_model), device="cpu")


@pytest.fixture
def fresh_engine(tiny_model: Path) -> QwenEngine:
    """An engine of this test's own, for tests that change its state (warm-up, offload, weights)."""
    return QwenEngine(model=str(tiny_model), device="cpu")


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> PipelineSpy:
    """Wrap the pipeline's ``__call__``, the transformer's ``forward`` and the VAE's decoders."""
    from diffusers import (
        AutoencoderKLQwenImage,
        QwenImageLayeredPipeline,
        QwenImageTransformer2DModel,
    )

    record = PipelineSpy()
    call = QwenImageLayeredPipeline.__call__
    forward = QwenImageTransformer2DModel.forward
    decode = AutoencoderKLQwenImage._decode
    tiled_decode = AutoencoderKLQwenImage.tiled_decode

    def spied_call(pipe: Any, *args: Any, **kwargs: Any) -> Any:
        record.calls.append(kwargs)
        return call(pipe, *args, **kwargs)

    def spied_forward(model: Any, *args: Any, **kwargs: Any) -> Any:
        hidden_states = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
        record.image_tokens.append(hidden_states.shape[1])
        return forward(model, *args, **kwargs)

    def spied_decode(vae: Any, z: Any, *args: Any, **kwargs: Any) -> Any:
        record.vae_batches.append(z.shape[0])
        return decode(vae, z, *args, **kwargs)

    def spied_tiled_decode(vae: Any, *args: Any, **kwargs: Any) -> Any:
        record.tiled_decodes += 1
        return tiled_decode(vae, *args, **kwargs)

    monkeypatch.setattr(QwenImageLayeredPipeline, "__call__", spied_call)
    monkeypatch.setattr(QwenImageTransformer2DModel, "forward", spied_forward)
    monkeypatch.setattr(AutoencoderKLQwenImage, "_decode", spied_decode)
    monkeypatch.setattr(AutoencoderKLQwenImage, "tiled_decode", spied_tiled_decode)
    return record


@pytest.fixture(scope="session")
def design() -> NDArray[np.uint8]:
    """A read-only 96 x 64 RGBA design: a backdrop, a panel and a half-transparent corner."""
    rgba = np.zeros((64, 96, 4), dtype=np.uint8)
    rgba[...] = (230, 225, 210, 255)
    rgba[10:40, 20:70] = (30, 80, 150, 255)
    rgba[48:, 80:, 3] = 128
    rgba.flags.writeable = False
    return rgba


@pytest.fixture(scope="session")
def reference_stack(engine: QwenEngine, design: NDArray[np.uint8]) -> LayerStack:
    """The engine's own answer on ``design``, in this process; its ``params`` say what was
    asked, so the CLI and server tests can ask the same and compare pixels."""
    params = DecomposeParams(num_layers=2, num_inference_steps=2, seed=11, prompt="a blue panel")
    return engine.decompose(design, params)
