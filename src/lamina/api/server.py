"""The HTTP side of ``lamina serve``: bind the port, prepare the store (migrations, a first
key), and run the API with its cleanup and webhook loops. Which workers run the jobs is the
command's business (:mod:`lamina.commands.serve`)."""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from lamina.api.app import create_app
from lamina.api.service import ApiService
from lamina.api.webhooks import WebhookDispatcher
from lamina.config import Settings
from lamina.errors import LaminaError
from lamina.jobs.keys import KeyStore
from lamina.jobs.store import JobStore
from lamina.storage import open_storage

log = logging.getLogger("lamina.serve")

CLEANUP_EVERY_S = 3600.0


def prepare(settings: Settings) -> None:
    """Migrate the store and make sure a key exists, before any worker process starts (no
    pooled connection of this process may cross into theirs)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.resolved_database_url)
    try:
        store.migrate()
        ensure_first_key(KeyStore(store))
    finally:
        store.dispose()


def run_http(
    settings: Settings, listener: socket.socket, *, on_submit: Callable[[], None] | None = None
) -> None:
    """Serve the API on ``listener`` until SIGINT/SIGTERM, with the retention cleanup and the
    webhook dispatcher beside it; ``on_submit`` wakes whatever runs the jobs."""
    import uvicorn

    store = JobStore(settings.resolved_database_url)
    try:
        service = ApiService(
            settings,
            store=store,
            keys=KeyStore(store),
            storage=open_storage(settings),
            on_submit=on_submit,
        )
        app = create_app(settings, service=service)
        stop = threading.Event()  # shared: both loops end when the server does
        threading.Thread(
            target=_cleanup_loop, args=(service, stop), name="cleanup", daemon=True
        ).start()
        threading.Thread(
            target=WebhookDispatcher(service).run, args=(stop,), name="webhooks", daemon=True
        ).start()
        print(
            f"lamina: serving on http://{settings.host}:{listener.getsockname()[1]} "
            f"(engine {settings.engine}, {settings.workers} worker(s)); "
            f"API docs at /docs",
            flush=True,
        )
        if settings.loopback_without_key:
            print("lamina: requests from this machine need no API key (--no-key-on-loopback)")
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
        )
        uvicorn.Server(config).run(sockets=[listener])
        stop.set()
    finally:
        store.dispose()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; :class:`LaminaError` (one line, no traceback)
    when the port is taken or the address is not this machine's. Binding before uvicorn
    starts means "serving on" is printed only once the port is really ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # proto says TCP; with proto 0 every answer waited ~40 ms for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise LaminaError(
                f"port {port} on {host} is already in use (another lamina serve?); "
                "stop it or choose another with --port"
            ) from None
        raise LaminaError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def ensure_first_key(keys: KeyStore, out: TextIO = sys.stdout) -> str | None:
    """On a first start with no active key, create one and print it (once); else ``None``."""
    if keys.count_active() > 0:
        return None
    key, secret = keys.create("default")
    print(
        f"lamina: no API key existed, so one was created ({key.id}); it is shown only once:\n"
        f"lamina: API key: {secret}\n"
        f"lamina: send it as 'Authorization: Bearer <key>'; manage keys with 'lamina keys'",
        file=out,
        flush=True,
    )
    return secret


def _cleanup_loop(service: ApiService, stop: threading.Event) -> None:
    """Purge expired jobs, files and uploads now and then every :data:`CLEANUP_EVERY_S`."""
    while not stop.is_set():
        try:
            purged = service.purge(now=datetime.now(UTC))
            if purged:
                log.info("retention: deleted %d expired job(s)", purged)
        except Exception:
            log.exception("retention cleanup failed; will retry")
        stop.wait(CLEANUP_EVERY_S)
