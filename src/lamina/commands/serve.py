"""``lamina serve``: the API server with its in-process workers."""

from __future__ import annotations

import argparse

from lamina.commands._settings import (
    ENGINE_FLAGS,
    STORE_FLAGS,
    add_settings_flags,
    settings_from_args,
)


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
    from lamina.api.server import serve

    return serve(settings_from_args(args))
