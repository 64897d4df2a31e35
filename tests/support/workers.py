"""Helpers to run real ``lamina worker`` processes with the fast test engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import REPO
from tests.support.engines import FAST_PLUGIN, LOG_ENV


def worker_env(engine_log: Path, **settings: object) -> dict[str, str]:
    """This environment plus the fast engine plug-in and ``LAMINA_*`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["LAMINA_ENGINE_PLUGINS"] = FAST_PLUGIN
    env["LAMINA_ENGINE"] = "fast"
    env[LOG_ENV] = str(engine_log)
    for name, value in settings.items():
        env[f"LAMINA_{name.upper()}"] = str(value)
    return env


def start_worker(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m lamina.cli worker ARGS`` with its output appended to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lamina.cli", "worker", *args],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def engine_runs(engine_log: Path) -> list[tuple[int, str]]:
    """``(seed, CUDA_VISIBLE_DEVICES)`` of every finished decomposition so far."""
    if not engine_log.exists():
        return []
    runs = []
    for line in engine_log.read_text().splitlines():
        seed, _, devices = line.partition(" ")
        runs.append((int(seed), devices))
    return runs
