"""``--engine auto``: qwen only with the extra, a CUDA GPU and the weights."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lamina.engines import get_engine
from lamina.engines.auto import resolve_auto, weights_present


def test_auto_picks_qwen_only_with_a_cuda_gpu(
    tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expected = "qwen" if torch.cuda.is_available() else "classic"
    with caplog.at_level(logging.INFO, logger="lamina.engines.auto"):
        assert resolve_auto(model=str(tiny_model), device=None) == expected
    assert f"engine auto -> {expected}" in caplog.text


def test_auto_with_a_cpu_device_is_classic(
    tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="lamina.engines.auto"):
        assert resolve_auto(model=str(tiny_model), device="cpu") == "classic"
    assert "is not a CUDA GPU" in caplog.text
    assert get_engine("auto", model=str(tiny_model), device="cpu").name == "classic"


def test_auto_without_weights_is_classic(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="lamina.engines.auto"):
        choice = resolve_auto(model=str(tmp_path / "nowhere"), device=None)
    assert choice == "classic"
    if torch.cuda.is_available():
        assert "no Qwen-Image-Layered weights" in caplog.text


def test_auto_with_a_diffusers_before_the_layered_pipeline_is_classic(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        return "0.36.0" if name == "diffusers" else real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    with caplog.at_level(logging.INFO, logger="lamina.engines.auto"):
        assert get_engine("auto", model=str(tiny_model), device=None).name == "classic"
    assert "diffusers 0.36.0 has no QwenImageLayeredPipeline" in caplog.text
    assert ">= 0.37" in caplog.text


AUTO_IN_A_FRESH_PROCESS = """
import sys
{block}
from lamina.engines.auto import resolve_auto
print(resolve_auto(model=None, device={device!r}), sys.modules.get("torch") is not None)
"""


@pytest.mark.parametrize(
    ("block", "device", "expected"),
    [
        ("sys.modules['torch'] = None; sys.modules['diffusers'] = None", None, "classic False"),
        ("", "cpu", "classic False"),
    ],
)
def test_auto_does_not_import_torch_without_need(block: str, device: str, expected: str) -> None:
    # sys.modules[name] = None is how Python itself marks a package as not importable.
    code = AUTO_IN_A_FRESH_PROCESS.format(block=block, device=device)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == expected


def test_weights_present_for_local_folders(tiny_model: Path, tmp_path: Path) -> None:
    assert weights_present(str(tiny_model))
    assert not weights_present(str(tmp_path))
    assert not weights_present(str(tmp_path / "nowhere"))
    assert not weights_present("not a repo id")


def test_weights_present_in_the_hugging_face_cache(tiny_model: Path, tmp_path: Path) -> None:
    # The hub cache layout: models--OWNER--NAME/{refs/main, snapshots/<revision>/...}.
    repo = tmp_path / "models--acme--layered"
    snapshot = repo / "snapshots" / "0123abcd"
    shutil.copytree(tiny_model, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    assert weights_present("acme/layered", cache_dir=str(tmp_path))
    assert not weights_present("acme/other", cache_dir=str(tmp_path))
    shutil.rmtree(snapshot / "transformer")
    assert not weights_present("acme/layered", cache_dir=str(tmp_path))
    index = json.loads((snapshot / "model_index.json").read_text())
    assert index["transformer"][0] == "diffusers"
