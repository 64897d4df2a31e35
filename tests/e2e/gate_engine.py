"""An engine plugin that lets e2e tests hold a job in ``in_progress`` for as long as they like.

Prompt ``gate:NAME``: report progress 0.5 and wait until the file ``NAME`` exists in
``$LAMINA_TEST_GATE_DIR`` (at most two minutes), then decompose. Prompt ``fail:TEXT``:
fail with ``TEXT`` (an :class:`EngineError`, a message for users). Prompt ``bug:TEXT``:
raise ``KeyError(TEXT)``, the way a bug does. Any other prompt: decompose at once.
Decomposing is the real classic engine's work. Loaded by the server's workers through
``LAMINA_ENGINE_PLUGINS=gate=tests.e2e.gate_engine:GateEngine``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lamina.engines.base import ProgressCallback, get_engine
from lamina.errors import EngineError
from lamina.types import DecomposeParams, LayerStack

PLUGIN = "gate=tests.e2e.gate_engine:GateEngine"
GATE_DIR_ENV = "LAMINA_TEST_GATE_DIR"


class GateEngine:
    """The classic engine behind a gate the test opens by creating a file."""

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
