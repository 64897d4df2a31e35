"""What every part of :class:`~lamina.api.service.ApiService` stands on: the stores, limiters
and caches it is built with, who a caller is, and the lookup of a caller's own job."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lamina.api.ratelimit import RateLimiter
from lamina.api.watch import ChangeFeed
from lamina.api.webhooks import WebhookSigner
from lamina.config import Settings
from lamina.errors import JobNotFound, NotFound
from lamina.fetch import Resolver, system_resolver
from lamina.jobs.keys import KeyStore
from lamina.jobs.store import Job, JobStore
from lamina.storage import Storage
from lamina.storage.local import load_or_create_secret

REQUEST_ID = re.compile(r"[0-9a-f]{32}")
WEBHOOK_SECRET_FILE = "webhook-secret"
"""In ``data_dir``: the webhook master secret when ``webhook_secret`` is not set."""


@dataclass(frozen=True)
class Caller:
    """An authenticated API key: ``owner`` is the key id jobs are filed under."""

    owner: str
    name: str


LOCAL_CALLER = Caller(owner="local", name="local")
"""Who keyless requests from this machine are, with ``loopback_without_key``."""


class ServiceBase:
    """The shared state of :class:`~lamina.api.service.ApiService`, which its parts (access,
    info, requests, waiting, webhooks, files) extend with their calls."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: JobStore,
        keys: KeyStore,
        storage: Storage,
        resolver: Resolver = system_resolver,
        auth_cache_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        on_submit: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.storage = storage
        self.resolver = resolver
        self.limiter = RateLimiter(settings.rate_limit_per_minute, clock=clock)
        self.auth_failures = RateLimiter(settings.auth_failures_per_minute, clock=clock)
        self._auth_cache_s = auth_cache_s
        self._auth_cache: dict[str, tuple[Caller, float]] = {}
        self._auth_lock = threading.Lock()
        self._clock = clock
        self._health: tuple[dict[str, str], float] | None = None
        self._on_submit = on_submit
        """Called after each queued job: ``lamina serve`` wakes its idle workers with it."""
        self.feed = ChangeFeed(store)
        """Wakes status streams and waiting submits when their job changes."""
        self.webhooks = WebhookSigner(_webhook_master(settings))

    def _job(self, caller: Caller, request_id: str) -> Job:
        self._check_request_id(request_id)
        try:
            return self.store.get(request_id, owner=caller.owner)
        except JobNotFound as exc:
            raise NotFound(f"no request {request_id!r}") from exc

    @staticmethod
    def _check_request_id(request_id: str) -> None:
        """Any path segment that cannot be one of our ids is simply not found (as fal and
        Replicate answer), without a query."""
        if not REQUEST_ID.fullmatch(request_id):
            raise NotFound(f"no request {request_id[:80]!r}")


def _webhook_master(settings: Settings) -> bytes:
    """The configured webhook secret, else one kept in ``data_dir`` (made on first use)."""
    if settings.webhook_secret:
        return settings.webhook_secret.encode()
    return load_or_create_secret(Path(settings.data_dir).resolve() / WEBHOOK_SECRET_FILE)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
