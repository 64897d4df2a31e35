"""The fixture engines: small honest engines that tests run in place of the real ones.

- :class:`FastEngine` (queue, worker and chaos tests): layer 0 is the image, the others
  empty; the prompt steers it into the worker's failure paths.
- :class:`GateEngine` (e2e tests): the classic engine behind a gate the test opens, to hold
  a job ``in_progress`` for as long as a test likes.
- :class:`BandEngine`, :class:`BrokenEngine`, :class:`WrappingEngine` (pipeline tests): an
  exact split into luminance bands, an engine that answers whatever the test builds, and
  one that wraps what its progress callback raises.

Worker subprocesses load the first two by name through ``LAMINA_ENGINE_PLUGINS``
(:data:`FAST_PLUGIN`, :data:`GATE_PLUGIN`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lamina.engines.base import ProgressCallback, get_engine
from lamina.errors import EngineError
from lamina.types import DecomposeParams, Layer, LayerStack

FAST_PLUGIN = "fast=tests.support.engines:FastEngine"
LOG_ENV = "LAMINA_TEST_ENGINE_LOG"
"""When it names a file, every decomposition :class:`FastEngine` finishes appends
``"<seed> <CUDA_VISIBLE_DEVICES>"`` to it, so tests can count runs across processes."""

GATE_PLUGIN = "gate=tests.support.engines:GateEngine"
GATE_DIR_ENV = "LAMINA_TEST_GATE_DIR"
"""The folder where :class:`GateEngine` waits for its gate files."""


class FastEngine:
    """Background = the input; every other layer transparent.

    Alpha-compositing its layers gives the input back. The prompt steers it, so tests can
    exercise the worker's failure paths: ``"fail"`` raises an :class:`EngineError`,
    ``"bug:TEXT"`` a ``KeyError(TEXT)`` (as a bug would), ``"oom"`` raises MemoryError,
    ``"sleep:S"`` works for S seconds while reporting progress, ``"hang:S"`` for S seconds
    without (an engine a caller cannot stop). With :data:`LOG_ENV` set it logs each run.
    """

    name = "fast"

    def warm_up(self) -> None:
        """Nothing to load."""

    def decompose(
        self,
        image: NDArray[np.uint8],
        params: DecomposeParams,
        *,
        progress: ProgressCallback | None = None,
    ) -> LayerStack:
        prompt = params.prompt or ""
        if prompt == "fail":
            raise EngineError("the fast engine was asked to fail")
        if prompt.startswith("bug:"):
            raise KeyError(prompt.removeprefix("bug:"))
        if prompt == "oom":
            raise MemoryError()
        if prompt.startswith("hang:"):
            time.sleep(float(prompt.removeprefix("hang:")))
        if prompt.startswith("sleep:"):
            seconds = float(prompt.removeprefix("sleep:"))
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(0.05, left))
                if progress is not None:
                    progress(1.0 - left / seconds)
        layers = [Layer(rgba=image.copy(), name="background", kind="background")]
        empty = np.zeros_like(image)
        layers += [
            Layer(rgba=empty.copy(), name=f"empty {i}", kind="empty")
            for i in range(1, params.num_layers)
        ]
        if progress is not None:
            progress(1.0)
        log = os.environ.get(LOG_ENV)
        if log:
            with open(log, "a") as fh:  # one short O_APPEND write: atomic across processes
                fh.write(f"{params.seed} {os.environ.get('CUDA_VISIBLE_DEVICES', '')}\n")
        return LayerStack(layers=layers, engine=self.name, params=params)


class GateEngine:
    """The classic engine behind a gate the test opens by creating a file.

    Prompt ``gate:NAME``: report progress 0.5 and wait until the file ``NAME`` exists in
    ``$LAMINA_TEST_GATE_DIR`` (at most two minutes), then decompose. Prompt ``fail:TEXT``:
    fail with ``TEXT`` (an :class:`EngineError`, a message for users). Prompt ``bug:TEXT``:
    raise ``KeyError(TEXT)``, the way a bug does. Any other prompt: decompose at once.
    Decomposing is the real classic engine's work.
    """

    name = "gate"

    def __init__(self) -> None:
        self.inner = get_engine("classic")
        self.gates = Path(os.environ[GATE_DIR_ENV])

    def warm_up(self) -> None:
        self.inner.warm_up()

    def decompose(
        self,
        image: NDArray[np.uint8],
        params: DecomposeParams,
        *,
        progress: ProgressCallback | None = None,
    ) -> LayerStack:
        prompt = params.prompt or ""
        if prompt.startswith("fail:"):
            raise EngineError(prompt.removeprefix("fail:"))
        if prompt.startswith("bug:"):
            raise KeyError(prompt.removeprefix("bug:"))
        if prompt.startswith("gate:"):
            gate = self.gates / prompt.removeprefix("gate:")
            deadline = time.monotonic() + 120.0
            while not gate.exists() and time.monotonic() < deadline:
                if progress is not None:
                    progress(0.5)
                time.sleep(0.05)
        stack = self.inner.decompose(image, params, progress=progress)
        stack.engine = self.name
        return stack


class BandEngine:
    """Splits pixels into ``num_layers`` disjoint luminance bands, darkest band at the back.

    Every pixel lands in exactly one layer with its own RGBA, so compositing the
    layers gives the input back exactly.
    """

    name = "bands"

    def decompose(
        self,
        image: NDArray[np.uint8],
        params: DecomposeParams,
        *,
        progress: ProgressCallback | None = None,
    ) -> LayerStack:
        luma = image[..., :3].astype(np.int32).sum(axis=2)  # 0 .. 765
        band = np.minimum(luma * params.num_layers // 766, params.num_layers - 1)
        layers = []
        for k in range(params.num_layers):
            rgba = np.where((band == k)[..., None], image, 0).astype(np.uint8)
            layers.append(Layer(rgba=rgba, name=f"band {k}", kind="element"))
            if progress is not None:
                progress((k + 1) / params.num_layers)
        return LayerStack(layers=layers, engine=self.name, params=params, timings={"split": 0.0})

    def warm_up(self) -> None:
        """Nothing to load."""


class BrokenEngine:
    """Answers with whatever ``answer`` builds, to exercise the contract checks."""

    name = "broken"

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def decompose(
        self,
        image: NDArray[np.uint8],
        params: DecomposeParams,
        *,
        progress: ProgressCallback | None = None,
    ) -> LayerStack:
        if callable(self.answer):
            return self.answer(image, params)
        return self.answer  # type: ignore[return-value]

    def warm_up(self) -> None:
        """Nothing to load."""


class WrappingEngine(BandEngine):
    """Wraps whatever its progress callback raises, as a diffusers-based engine may."""

    name = "wrapping"

    def decompose(
        self,
        image: NDArray[np.uint8],
        params: DecomposeParams,
        *,
        progress: ProgressCallback | None = None,
    ) -> LayerStack:
        try:
            return super().decompose(image, params, progress=progress)
        except Exception as exc:
            raise EngineError("the pipeline failed") from exc
