"""A tiny, randomly initialised Qwen-Image-Layered pipeline, and a CPU benchmark of it.

:func:`save_tiny_pipeline` builds the same component classes as the released
model (QwenImageTransformer2DModel with the layered 3D RoPE and the extra
timestep condition, an RGBA AutoencoderKLQwenImage, a Qwen2.5-VL text encoder,
the flow-matching scheduler and a Qwen2 byte-level tokenizer), at widths of a
few channels, built locally because the hub is out of reach. It is the test
fixture of ``tests/engines/qwen`` and the subject of this benchmark: its output is
noise, so it measures the plumbing (loading, the 640 bucket's token counts,
VAE, resizing), never quality.

It has no caption processor: transformers' Qwen2-VL processor needs
torchvision, which has no CPU build for this torch on our package index.

Run from the repository root::

    .venv/bin/python -m bench.qwen_tiny --repeat 5

It prints a Markdown table of median seconds per image for the tiny qwen
engine and, as the baseline, the classic engine on the same images.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from lamina.engines import Engine
    from lamina.types import DecomposeParams

_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
_LATENT_CHANNELS = 8
"""Not 4: the pipeline takes a 4-channel input for ready-made latents when z_dim is 4."""


def save_tiny_pipeline(directory: Path) -> Path:
    """Build the tiny pipeline with fixed seeds and ``save_pretrained`` it into ``directory``."""
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageLayeredPipeline,
        QwenImageTransformer2DModel,
    )
    from tokenizers import pre_tokenizers
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2Tokenizer,
    )

    # Byte-level BPE with no merges: every byte is a token, so any prompt encodes.
    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for token in _SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], extra_special_tokens=_SPECIAL_TOKENS[1:])

    torch.manual_seed(0)
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=_LATENT_CHANNELS * 4,
        out_channels=_LATENT_CHANNELS,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
        use_additional_t_cond=True,
        use_layer3d_rope=True,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLQwenImage(
        base_dim=4,
        z_dim=_LATENT_CHANNELS,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        input_channels=4,
        latents_mean=[0.0] * _LATENT_CHANNELS,
        latents_std=[1.0] * _LATENT_CHANNELS,
    )
    torch.manual_seed(0)
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "vocab_size": len(vocab),
            "bos_token_id": None,
            "eos_token_id": vocab["<|im_end|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": 16,
        },
        hidden_size=16,
        vocab_size=len(vocab),
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
    )
    text_encoder = Qwen2_5_VLForConditionalGeneration(config)
    pipe = QwenImageLayeredPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=None,
        transformer=transformer,
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(directory)
    return directory


def _median_seconds(
    engine: Engine, image: NDArray[np.uint8], params: DecomposeParams, repeat: int
) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        engine.decompose(image, params)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Time the tiny qwen engine against the classic engine on synthetic designs."""
    from lamina.engines import get_engine
    from lamina.types import DecomposeParams

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per image (median taken)")
    parser.add_argument("--steps", type=int, default=2, help="qwen inference steps")
    parser.add_argument("--layers", type=int, default=4, help="layers per image")
    args = parser.parse_args(argv)

    images = _bench_images()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        model = save_tiny_pipeline(Path(tmp) / "tiny")
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        qwen = get_engine("qwen", model=str(model), device="cpu")
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        qwen.warm_up()
        warm_s = time.perf_counter() - started
        classic = get_engine("classic")
        classic.warm_up()
        for name, image in images:
            for resolution in (640, 1024):
                params = DecomposeParams(
                    num_layers=args.layers,
                    num_inference_steps=args.steps,
                    prompt="a poster",
                    resolution=resolution,
                )
                q = _median_seconds(qwen, image, params, args.repeat)
                c = _median_seconds(classic, image, params, args.repeat)
                h, w = image.shape[:2]
                rows.append((name, f"{w}x{h}", resolution, q, c))
    print(f"tiny pipeline: built {build_s:.1f} s, loaded {load_s:.1f} s, warm-up {warm_s:.1f} s")
    print(f"{args.layers} layers, {args.steps} steps, median of {args.repeat} runs, CPU\n")
    print("| image | size | resolution | qwen tiny s | classic s | qwen / classic |")
    print("|---|---|---|---|---|---|")
    for name, size, resolution, q, c in rows:
        print(f"| {name} | {size} | {resolution} | {q:.2f} | {c:.2f} | {q / c:.1f}x |")
    return 0


def _bench_images() -> list[tuple[str, NDArray[np.uint8]]]:
    """A square and a wide design from the shared synthetic generator."""
    from bench.synth import generate

    return [
        ("panels, square", generate(0, size=(512, 512), category="panels").image),
        ("text, wide", generate(1, size=(960, 540), category="text").image),
    ]


if __name__ == "__main__":
    sys.exit(main())
