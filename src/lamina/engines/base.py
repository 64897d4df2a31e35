"""The engine interface and the name -> engine registry."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, TypedDict, Unpack, cast, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from lamina.errors import EngineUnavailable
from lamina.types import DecomposeParams, LayerStack

if TYPE_CHECKING:
    from lamina.config import Settings


class ProgressCallback(Protocol):
    """Called with a fraction in ``[0, 1]`` as work advances and, where a named stage begins,
    that stage's name (``progress(0.6, "peel")``); must be cheap.

    Each call is a checkpoint: the callback may raise to stop the run (the worker does for
    a cancelled job), and an engine must let that exception through. Engines that name no
    stages call it with the fraction alone, so callers must accept both forms.
    """

    def __call__(self, fraction: float, stage: str | None = None, /) -> None: ...


@runtime_checkable
class Engine(Protocol):
    """One way of decomposing an image into layers.

    ``decompose`` takes an ``H x W x 4`` ``uint8`` RGBA array (straight alpha,
    not modified) and returns exactly ``params.num_layers`` layers of the same
    size, back to front. It raises :class:`~lamina.errors.EngineError` for
    failures the user should see. Expensive set-up (weights, warm-up) belongs in
    the engine's constructor or :meth:`warm_up`, never in ``decompose``.
    """

    name: str

    def decompose(
        self,
        image: NDArray[np.uint8],
        params: DecomposeParams,
        *,
        progress: ProgressCallback | None = None,
    ) -> LayerStack: ...

    def warm_up(self) -> None: ...


# name -> "module:factory"; a factory returns an Engine (qwen's takes the model options).
_REGISTRY: dict[str, str] = {
    "classic": "lamina.engines.classic:ClassicEngine",
    "qwen": "lamina.engines.qwen:QwenEngine",
}


def available_engines() -> list[str]:
    """Names accepted by :func:`get_engine`, ``auto`` included."""
    return [*_REGISTRY, "auto"]


def register_engine(name: str, target: str) -> None:
    """Register ``"module:factory"`` under ``name`` (plug-ins and test engines)."""
    _REGISTRY[name] = target


class QwenOptions(TypedDict, total=False):
    """The keywords of :class:`~lamina.engines.qwen.QwenEngine`, named once for
    :func:`get_engine` and :func:`engine_from_settings` (the settings use the same names);
    one left out takes the engine's default."""

    model: str | None
    device: str | None
    dtype: str | None
    cpu_offload: str
    resolution: int
    fp8: bool
    attention_backend: str | None
    compile: bool
    lora: str | None


def get_engine(name: str, **options: Unpack[QwenOptions]) -> Engine:
    """Build the engine called ``name``.

    The keyword options configure the Qwen engine and are ignored by the others.
    ``auto`` picks ``qwen`` when a CUDA device and its weights are present, else
    ``classic``; see :func:`lamina.engines.auto.resolve_auto`.
    """
    if name == "auto":
        from lamina.engines.auto import resolve_auto

        name = resolve_auto(model=options.get("model"), device=options.get("device"))
    target = _REGISTRY.get(name)
    if target is None:
        raise EngineUnavailable(
            f"unknown engine {name!r}; choose one of {', '.join(available_engines())}"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineUnavailable(
            f"engine {name!r} needs packages that are not installed ({exc.name}); "
            "for qwen: pip install 'lamina[qwen]'"
        ) from exc
    factory = getattr(module, attr)
    engine: Engine = factory(**options) if name == "qwen" else factory()
    return engine


def engine_from_settings(settings: Settings) -> Engine:
    """:func:`get_engine` for the engine and model options that ``settings`` name."""
    options = {key: getattr(settings, key) for key in QwenOptions.__annotations__}
    return get_engine(settings.engine, **cast(QwenOptions, options))
