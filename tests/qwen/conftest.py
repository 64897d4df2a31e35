"""Fixtures: one tiny Qwen-Image-Layered pipeline on disk and one engine loaded from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench.qwen_tiny import save_tiny_pipeline
from numpy.typing import NDArray

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
