"""``lamina serve``: the API server with its in-process workers."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from lamina.commands._settings import (
    ENGINE_FLAGS,
    STORE_FLAGS,
    add_settings_flags,
    settings_from_args,
)

if TYPE_CHECKING:
    from lamina.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` parser."""
    parser = sub.add_parser(
        "serve",
        help="run the HTTP API (RunComfy-compatible) with its job queue and workers",
        description="Run the HTTP API. On first start with no API key, one is created and "
        "printed once.",
    )
    add_settings_flags(
        parser,
        "--host",
        "--port",
        "--data-dir",
        "--engine",
        "--workers",
        "--public-url",
        "--allow-private-urls",
        "--no-key-on-loopback",
        *STORE_FLAGS,
        *ENGINE_FLAGS,
        "--rate-limit-per-minute",
        "--retention-days",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the server and block until it stops."""
    return serve(settings_from_args(args))


def serve(settings: Settings) -> int:
    """Bind the port (a busy one fails before anything starts), prepare the store, start
    ``settings.workers`` worker processes that a submit wakes, and serve HTTP until stopped;
    the workers finish or requeue their jobs on the way out."""
    from lamina.api.server import bind, prepare, run_http
    from lamina.jobs.runner import spawn_worker_processes

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    listener = bind(settings.host, settings.port)
    workers = None
    try:
        prepare(settings)
        workers = spawn_worker_processes(settings, settings.workers) if settings.workers else None
        run_http(settings, listener, on_submit=workers.wake if workers is not None else None)
    finally:
        listener.close()
        if workers is not None:
            workers.stop(timeout=30.0)
    return 0
