"""The storage interface shared by the local directory and S3 backends, and key rules."""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from lamina.errors import InvalidKey

_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
_KEY_RE = re.compile(rf"{_SEGMENT}(/{_SEGMENT}){{0,15}}")
MAX_KEY_CHARS = 512


def check_key(key: str) -> str:
    """Return ``key`` if it is safe: ``/``-separated segments of ``[A-Za-z0-9._-]`` that do
    not start with a dot (so no ``..``, no absolute paths, no hidden files)."""
    if not isinstance(key, str) or len(key) > MAX_KEY_CHARS or not _KEY_RE.fullmatch(key):
        raise InvalidKey(f"invalid storage key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A key prefix for :meth:`Storage.delete_prefix`: a safe key, optionally ending in ``/``."""
    check_key(prefix.removesuffix("/"))
    return prefix


@runtime_checkable
class Storage(Protocol):
    """Where job inputs and outputs live. Keys are checked with :func:`check_key`; every
    method raises :class:`~lamina.errors.StorageUnavailable` when the backend itself fails."""

    serves_links: bool
    """Whether the links :meth:`url` makes point at lamina's own ``/v1/files/`` (which then
    serves them after :meth:`verify`), rather than at the backend (S3 presigned URLs)."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing what was there."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; raises :class:`ObjectNotFound`."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Remove every key starting with ``prefix`` (e.g. ``jobs/<id>/``)."""
        ...

    def url(self, key: str, *, base_url: str, expires_s: int) -> str:
        """A URL that downloads ``key`` without credentials until ``expires_s`` from now."""
        ...

    def verify(self, key: str, expires: int | str, sig: str) -> bool:
        """Whether a ``/v1/files/`` link's ``expires`` and ``sig`` are genuine and unexpired
        (always ``False`` where :attr:`serves_links` is)."""
        ...

    def check(self) -> None:
        """Return if the backend can store and read files now (``/healthz`` asks)."""
        ...
