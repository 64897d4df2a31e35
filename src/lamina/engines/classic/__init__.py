"""The classic engine: CPU-only, weight-free decomposition of designs into object layers.

Stages (one module each): :mod:`segment` (flat and smooth regions in Lab),
:mod:`text` (letters into lines), :mod:`order` (z-order from containment and
occlusion), :mod:`group` (merge to the requested count), :mod:`fill`
(completion of hidden parts), :mod:`spill` (shadows and feathered edges cast
on the background), :mod:`matting` (edge alpha by unblending) and
:mod:`exact` (the layers composite back to the input). The engine reads only
``num_layers`` and ``seed``; it ignores ``prompt``, ``negative_prompt``,
``num_inference_steps`` and ``guidance_scale`` and says so in the stack's notes.
"""

from lamina.engines.classic.engine import ClassicEngine

__all__ = ["ClassicEngine"]
