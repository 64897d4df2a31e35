"""The qwen engine's memory and speed options, on the tiny pipeline: each reaches the real
diffusers objects, from a flag and from its environment variable."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from lamina.cli import build_parser
from lamina.commands._settings import settings_from_args
from lamina.config import Settings
from lamina.engines.base import engine_from_settings
from lamina.engines.qwen import QwenEngine
from lamina.errors import EngineUnavailable
from lamina.types import DecomposeParams


def test_every_option_is_a_flag(tmp_path: Path) -> None:
    argv = ["serve", "--cpu-offload", "group", "--fp8", "--attention-backend", "native"]
    argv += ["--compile", "--lora", str(tmp_path / "style.safetensors")]
    settings = settings_from_args(build_parser().parse_args(argv))
    assert settings.cpu_offload == "group"
    assert settings.fp8 and settings.compile
    assert settings.attention_backend == "native"
    assert settings.lora == str(tmp_path / "style.safetensors")
    plain = settings_from_args(build_parser().parse_args(["serve"]))
    assert not plain.compile, "torch.compile is off unless asked for"


def test_options_from_the_environment_reach_the_transformer(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from diffusers.models.attention_dispatch import AttentionBackendName

    for name, value in {
        "LAMINA_ENGINE": "qwen",
        "LAMINA_MODEL": str(tiny_model),
        "LAMINA_DEVICE": "cpu",
        "LAMINA_FP8": "1",
        "LAMINA_ATTENTION_BACKEND": "native",
        "LAMINA_COMPILE": "true",
    }.items():
        monkeypatch.setenv(name, value)
    engine = engine_from_settings(Settings())
    assert isinstance(engine, QwenEngine)
    transformer = engine._pipe.transformer
    # fp8: the blocks' weights are stored in float8 and computed in the engine's dtype.
    block = transformer.transformer_blocks[0]
    assert block.img_mlp.net[2].weight.dtype == torch.float8_e4m3fn
    assert engine._pipe.text_encoder.dtype == torch.float32
    assert block.attn.processor._attention_backend == AttentionBackendName.NATIVE
    # compile: each repeated block is wrapped by torch.compile (compiled on first call).
    assert all(b._compiled_call_impl is not None for b in transformer.transformer_blocks)


def test_an_fp8_transformer_still_decomposes(tiny_model: Path, design: NDArray[np.uint8]) -> None:
    engine = QwenEngine(model=str(tiny_model), device="cpu", fp8=True)
    params = DecomposeParams(num_layers=1, num_inference_steps=1, guidance_scale=1.0, prompt="x")
    stack = engine.decompose(design, params)
    assert len(stack.layers) == 1


def test_an_unknown_attention_backend_is_engine_unavailable(tiny_model: Path) -> None:
    with pytest.raises(EngineUnavailable, match=r"attention backend 'warp'.*must be one of"):
        QwenEngine(model=str(tiny_model), device="cpu", attention_backend="warp")


def test_group_offload_needs_a_gpu(tiny_model: Path) -> None:
    with pytest.raises(EngineUnavailable, match="needs a GPU"):
        QwenEngine(model=str(tiny_model), device="cpu", cpu_offload="group")


def test_a_lora_without_peft_names_the_extra(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "peft" else real_find_spec(name, *args),
    )
    with pytest.raises(EngineUnavailable, match=r"lamina\[qwen-lora\]"):
        QwenEngine(model=str(tiny_model), device="cpu", lora=str(tmp_path / "x.safetensors"))


def test_a_lora_file_is_loaded_into_the_transformer(tiny_model: Path, tmp_path: Path) -> None:
    from diffusers import QwenImageLayeredPipeline
    from peft import LoraConfig, get_peft_model_state_dict

    base = QwenEngine(model=str(tiny_model), device="cpu")._pipe.transformer
    base.add_adapter(LoraConfig(r=2, target_modules=["to_q", "to_k", "to_v"]))
    QwenImageLayeredPipeline.save_lora_weights(
        tmp_path, transformer_lora_layers=get_peft_model_state_dict(base)
    )
    lora_file = tmp_path / "pytorch_lora_weights.safetensors"
    engine = QwenEngine(model=str(tiny_model), device="cpu", lora=str(lora_file))
    assert engine._pipe.get_list_adapters() == {"transformer": ["default_0"]}
    with pytest.raises(EngineUnavailable, match="could not load the LoRA"):
        QwenEngine(model=str(tiny_model), device="cpu", lora=str(tmp_path / "missing"))
