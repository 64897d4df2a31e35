"""``lamina worker``: a stand-alone worker process (or one per GPU) against a shared store."""

from __future__ import annotations

import argparse

from lamina.commands._settings import (
    ENGINE_FLAGS,
    STORE_FLAGS,
    add_settings_flags,
    settings_from_args,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``worker`` parser."""
    parser = sub.add_parser(
        "worker",
        help="run jobs from a shared job store (PostgreSQL) on this machine",
        description="Claim jobs one at a time, heartbeat a lease while working, and on "
        "SIGTERM finish or requeue the current job before exiting.",
    )
    add_settings_flags(
        parser,
        "--data-dir",
        *STORE_FLAGS,
        "--engine",
        *ENGINE_FLAGS,
    )
    parser.add_argument(
        "--gpus",
        default=None,
        help="'all' or a comma-separated list of GPU indices: one worker process per GPU",
    )
    parser.add_argument(
        "--max-jobs",
        type=int,
        default=None,
        help="exit after this many jobs (default: run until stopped)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run worker(s) until stopped."""
    from lamina.jobs.runner import run_workers

    return run_workers(settings_from_args(args), gpus=args.gpus, max_jobs=args.max_jobs)
