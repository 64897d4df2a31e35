"""A fast, honest engine for queue tests: layer 0 is the image, the other layers are empty.

Alpha-compositing its layers gives the input back. The prompt steers it, so tests can
exercise the worker's failure paths: ``"fail"`` raises an :class:`EngineError`,
``"bug:TEXT"`` a ``KeyError(TEXT)`` (as a bug would), ``"oom"`` raises MemoryError,
``"sleep:S"`` works for S seconds while reporting progress, ``"hang:S"`` for S seconds
without (an engine a caller cannot stop). Worker subprocesses load it
with ``LAMINA_ENGINE_PLUGINS=fast=tests.jobs.fast_engine:FastEngine``. When
``LAMINA_TEST_ENGINE_LOG`` names a file, every finished decomposition appends
``"<seed> <CUDA_VISIBLE_DEVICES>"`` to it, so tests can count runs across processes.
"""

from __future__ import annotations

import os
import time

import numpy as np
from numpy.typing import NDArray

from lamina.engines.base import ProgressCallback
from lamina.errors import EngineError
from lamina.types import DecomposeParams, Layer, LayerStack

PLUGIN = "fast=tests.jobs.fast_engine:FastEngine"
LOG_ENV = "LAMINA_TEST_ENGINE_LOG"


class FastEngine:
    """Background = the input; every other layer transparent."""

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
