"""The API service in process, over a real SQLite job store, real API keys and real local
storage, with a clock the test moves and a resolver that knows only the test's names."""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from lamina.api.service import ApiService, Caller
from lamina.config import Settings
from lamina.jobs.keys import KeyStore
from lamina.jobs.store import JobStore
from lamina.storage import open_storage

BASE = "http://api.test"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    settings: Settings
    service: ApiService
    store: JobStore
    keys: KeyStore
    clock: Clock
    secret: str
    caller: Caller

    def new_caller(self, name: str) -> tuple[str, Caller]:
        secret = self.keys.create(name)[1]
        return secret, self.service.authenticate(f"Bearer {secret}")


def resolve(host: str, port: int) -> list[str]:
    """Names used by the tests and IP literals; anything else does not resolve."""
    with contextlib.suppress(ValueError):
        return [str(ipaddress.ip_address(host))]
    table = {"img.example.com": ["93.184.216.34"], "intranet.example.com": ["10.0.0.7"]}
    if host in table:
        return table[host]
    raise OSError(f"unknown host {host}")


def make_env(tmp_path: Path, **overrides: object) -> Env:
    settings = Settings(data_dir=tmp_path / "data", **overrides)  # type: ignore[arg-type]
    store = JobStore(settings.resolved_database_url)
    store.migrate()
    keys = KeyStore(store)
    clock = Clock()
    service = ApiService(
        settings,
        store=store,
        keys=keys,
        storage=open_storage(settings),
        resolver=resolve,
        clock=clock,
    )
    secret = keys.create("main")[1]
    caller = service.authenticate(f"Bearer {secret}")
    return Env(settings, service, store, keys, clock, secret, caller)
