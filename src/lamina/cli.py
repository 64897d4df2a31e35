"""``lamina`` command line: ``decompose``, ``serve``, ``worker`` and ``keys``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from lamina import __version__
from lamina.errors import LaminaError

COMMANDS = ("decompose", "serve", "worker", "keys")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; each sub-command registers itself."""
    parser = argparse.ArgumentParser(
        prog="lamina",
        description="Turn images into editable RGBA layers (back to front; layer 0 is the "
        "background).",
    )
    parser.add_argument("--version", action="version", version=f"lamina {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"lamina.commands.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lamina`` script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except LaminaError as exc:
        print(f"lamina: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
