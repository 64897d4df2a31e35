"""Engines turn one RGBA image into a :class:`~lamina.types.LayerStack`.

Every engine implements :class:`Engine`; :func:`get_engine` builds one by name,
importing its module only then (the Qwen engine pulls in torch and diffusers).
"""

from lamina.engines.base import Engine, ProgressCallback, available_engines, get_engine

__all__ = ["Engine", "ProgressCallback", "available_engines", "get_engine"]
