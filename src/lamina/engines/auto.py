"""``--engine auto``: the qwen engine where it can run well, the classic engine elsewhere.

Qwen-Image-Layered needs a CUDA GPU and about 57 GB of weights; without both,
``auto`` falls back to ``classic`` rather than failing or running for hours on
a CPU. Deciding must stay cheap and must not import torch when the
``lamina[qwen]`` extra is not installed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import re
from pathlib import Path

from lamina.defaults import QWEN_WEIGHTS

logger = logging.getLogger(__name__)

DEFAULT_MODEL = QWEN_WEIGHTS
MIN_DIFFUSERS = (0, 37)
"""The first diffusers release that ships ``QwenImageLayeredPipeline``."""


def resolve_auto(*, model: str | None, device: str | None) -> str:
    """``"qwen"`` given the qwen extra, a CUDA device and the weights; else ``"classic"``.

    ``model`` is a local directory or a Hugging Face repo id (default
    :data:`DEFAULT_MODEL`, looked up in the HF cache only, never downloaded);
    ``device`` an explicit torch device, where anything but ``cuda`` means
    ``classic``. The choice and its reason are logged at INFO.
    """
    choice, reason = _decide(model or DEFAULT_MODEL, device)
    logger.info("engine auto -> %s: %s", choice, reason)
    return choice


def weights_present(model: str, *, cache_dir: str | None = None) -> bool:
    """Whether ``model`` is a local pipeline folder, or a repo id whose pipeline is in the HF cache.

    A cached repo counts when its ``model_index.json`` is cached and every
    component folder it names exists in that snapshot; nothing is downloaded.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return (path / "model_index.json").is_file()
    if importlib.util.find_spec("huggingface_hub") is None or model.count("/") != 1:
        return False
    from huggingface_hub import try_to_load_from_cache

    try:
        index_file = try_to_load_from_cache(model, "model_index.json", cache_dir=cache_dir)
    except ValueError:  # not a valid repo id
        return False
    if not isinstance(index_file, str):
        return False
    snapshot = Path(index_file).parent
    try:
        index = json.loads(Path(index_file).read_text())
    except (OSError, ValueError):
        return False
    components = [
        name
        for name, value in index.items()
        if not name.startswith("_") and isinstance(value, list) and value[0] is not None
    ]
    return all((snapshot / name).is_dir() for name in components)


def installed_version(package: str) -> str:
    """The installed distribution's version, or ``"(not installed)"``; imports nothing."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _release(version: str) -> tuple[int, ...]:
    """``(major, minor)`` of a version string such as ``0.37.0.dev0``; ``()`` if unreadable."""
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else ()


def _decide(model: str, device: str | None) -> tuple[str, str]:
    if any(importlib.util.find_spec(name) is None for name in ("torch", "diffusers")):
        return "classic", "the qwen extra is not installed (pip install 'lamina[qwen]')"
    diffusers = installed_version("diffusers")
    release = _release(diffusers)
    if release and release < MIN_DIFFUSERS:
        return "classic", (
            f"diffusers {diffusers} has no QwenImageLayeredPipeline (the qwen engine needs "
            f">= {'.'.join(map(str, MIN_DIFFUSERS))}; pip install -U 'lamina[qwen]')"
        )
    if device and not device.startswith("cuda"):
        return "classic", f"device {device!r} is not a CUDA GPU"
    import torch

    if not torch.cuda.is_available():
        return "classic", "no CUDA GPU is usable"
    if not weights_present(model):
        return "classic", (
            f"no Qwen-Image-Layered weights at {model} (not a local pipeline folder, "
            "not in the Hugging Face cache)"
        )
    return "qwen", f"CUDA GPU and weights at {model}"
