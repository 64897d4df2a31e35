"""What the Qwen engine's tests record around the real diffusers classes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PipelineSpy:
    """What the real diffusers classes were given, recorded around them, never instead of them."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    """The keyword arguments of each ``QwenImageLayeredPipeline.__call__``."""
    image_tokens: list[int] = field(default_factory=list)
    """The sequence length of ``hidden_states`` at each transformer forward."""
    vae_batches: list[int] = field(default_factory=list)
    """Frames in each VAE ``_decode``: one per layer when the VAE slices the batch."""
    tiled_decodes: int = 0
