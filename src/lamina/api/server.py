"""``lamina serve``: migrate, make sure a key exists, start the workers, the cleanup and HTTP."""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime
from typing import TextIO

from lamina.api.app import create_app
from lamina.api.service import ApiService
from lamina.config import Settings
from lamina.jobs.keys import KeyStore
from lamina.jobs.store import JobStore
from lamina.storage import open_storage

log = logging.getLogger("lamina.serve")

CLEANUP_EVERY_S = 3600.0


def serve(settings: Settings) -> int:
    """Run the API server until SIGINT/SIGTERM; returns the process exit code."""
    import uvicorn

    from lamina.jobs.runner import spawn_worker_processes

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.resolved_database_url)
    store.migrate()
    keys = KeyStore(store)
    ensure_first_key(keys)
    store.dispose()  # no pooled connection may cross into the worker processes

    workers = spawn_worker_processes(settings, settings.workers) if settings.workers else None
    try:
        service = ApiService(
            settings,
            store=store,
            keys=keys,
            storage=open_storage(settings),
            on_submit=workers.wake if workers is not None else None,
        )
        app = create_app(settings, service=service)
        stop_cleanup = threading.Event()
        cleaner = threading.Thread(
            target=_cleanup_loop, args=(service, stop_cleanup), name="cleanup", daemon=True
        )
        cleaner.start()
        print(
            f"lamina: serving on http://{settings.host}:{settings.port} "
            f"(engine {settings.engine}, {settings.workers} worker(s)); "
            f"API docs at /docs",
            flush=True,
        )
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
        )
        uvicorn.Server(config).run()
        stop_cleanup.set()
    finally:
        if workers is not None:
            workers.stop(timeout=30.0)
        store.dispose()
    return 0


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
