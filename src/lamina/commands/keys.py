"""``lamina keys``: create, list and revoke API keys (stored hashed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.commands._settings import add_settings_flags, settings_from_args

if TYPE_CHECKING:
    from lamina.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``keys`` parser and its ``create``/``list``/``revoke`` actions."""
    parser = sub.add_parser("keys", help="manage API keys")
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="a label to recognise the key by")
    actions.add_parser("list", help="list keys (ids and names, never the secrets)")
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", help="the id shown by 'lamina keys list'")
    for action in (create, actions.choices["list"], revoke):
        add_settings_flags(action, "--data-dir", "--database-url")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Carry out the key action against the configured job store.

    ``list`` and ``revoke`` refuse a SQLite store that does not exist rather than create an
    empty one (run in the wrong folder, that would answer "no API keys" and leave a stray
    ``lamina-data``); ``create`` makes the store, so keys can be made before the first serve.
    """
    from lamina.errors import LaminaError

    settings = settings_from_args(args)
    url = settings.resolved_database_url
    database = Path(url.removeprefix("sqlite:///"))
    if args.keys_action != "create" and url.startswith("sqlite:///") and not database.exists():
        raise LaminaError(
            f"no job store at {database}: run this where 'lamina serve' runs, "
            "or pass its --data-dir / --database-url"
        )
    return run_keys_command(settings, args)


def run_keys_command(settings: Settings, args: argparse.Namespace) -> int:
    """``lamina keys create|list|revoke`` against the configured database."""
    from lamina.jobs.keys import KeyStore
    from lamina.jobs.store import JobStore

    store = JobStore(settings.resolved_database_url)
    try:
        store.migrate()
        keys = KeyStore(store)
        if args.keys_action == "create":
            key, secret = keys.create(args.name)
            print(f"created {key.id} ({key.name}); the secret is shown only once:")
            print(secret)
            return 0
        if args.keys_action == "list":
            listed = keys.list()
            if not listed:
                print("no API keys")
            for key in listed:
                status = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
                print(
                    f"{key.id}  {key.prefix}...  {key.created_at:%Y-%m-%d %H:%M}  "
                    f"{status}  {key.name}"
                )
            return 0
        if args.keys_action == "revoke":
            if keys.revoke(args.key_id):
                print(f"revoked {args.key_id}")
                return 0
            print(f"lamina: error: no active key {args.key_id!r}", file=sys.stderr)
            return 1
        raise ValueError(f"unknown keys action {args.keys_action!r}")
    finally:
        store.dispose()
