"""``lamina decompose --engine qwen --model DIR``: the real command on the tiny pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from lamina.types import LayerStack

LAMINA = Path(sys.executable).with_name("lamina")


def test_cli_decompose_with_the_qwen_engine(
    tiny_model: Path, design: NDArray[np.uint8], reference_stack: LayerStack, tmp_path: Path
) -> None:
    source = tmp_path / "design.png"
    Image.fromarray(design, "RGBA").save(source)
    outdir = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = [str(LAMINA), "decompose", "--engine", "qwen", "--model", str(tiny_model)]
    asked = reference_stack.params
    args += ["--device", "cpu", "-n", str(asked.num_layers), "--seed", str(asked.seed)]
    args += ["--steps", str(asked.num_inference_steps), "--prompt", str(asked.prompt)]
    result = subprocess.run(
        [*args, "-o", str(outdir), "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    folder = outdir / "design"
    meta = json.loads((folder / "layers.json").read_text())
    assert meta["engine"] == "qwen"
    assert (meta["width"], meta["height"]) == (96, 64)
    assert [layer["kind"] for layer in meta["layers"]] == ["background", "element"]

    # The same seed in this process gives the very same pixels: the CLI adds no noise.
    for i, layer in enumerate(reference_stack.layers):
        with Image.open(folder / f"layer_{i:02d}.png") as written:
            assert written.mode == "RGBA"
            assert written.size == (96, 64)
            np.testing.assert_array_equal(np.asarray(written), layer.rgba)


def test_cli_reports_missing_weights_and_exits_2(tmp_path: Path) -> None:
    source = tmp_path / "design.png"
    Image.new("RGBA", (32, 32), (1, 2, 3, 255)).save(source)
    missing = tmp_path / "no-weights-here"
    result = subprocess.run(
        [str(LAMINA), "decompose", "--engine", "qwen", "--model", str(missing), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 2
    assert "no Qwen-Image-Layered weights" in result.stderr
    assert "Traceback" not in result.stderr
