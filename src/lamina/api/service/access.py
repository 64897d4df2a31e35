"""Who is calling: API keys (verified, cached by hash), keyless loopback callers, and the
per-key and per-address limits that guard them."""

from __future__ import annotations

import hashlib
import ipaddress

from lamina.api.service.base import LOCAL_CALLER, Caller, ServiceBase
from lamina.errors import AuthThrottled, RateLimited, Unauthorized


class AccessMixin(ServiceBase):
    """Authentication and rate limiting, run before every call that acts for a caller."""

    def authenticate(self, authorization: str | None, *, address: str | None = None) -> Caller:
        """The caller of an ``Authorization: Bearer <key>`` header, rate limit applied.

        Verified keys are remembered for ``auth_cache_s`` seconds (by hash), so a revoked
        key stops working within that time. An unknown key counts against the client
        ``address`` (see :meth:`check_auth_failures`).
        """
        caller = self.cached_caller(authorization)
        if caller is not None:
            return caller
        secret, digest = _bearer(authorization)
        if address is not None:
            self.check_auth_failures(address)
        key = self.keys.verify(secret)
        if key is None:
            if address is not None:
                self.auth_failures.hit(address)
            raise Unauthorized("unknown or revoked API key")
        caller = Caller(owner=key.id, name=key.name)
        with self._auth_lock:
            if len(self._auth_cache) > 10_000:
                self._auth_cache.clear()
            self._auth_cache[digest] = (caller, self._clock() + self._auth_cache_s)
        self._rate_limit(caller)
        return caller

    def check_auth_failures(self, address: str) -> None:
        """:class:`AuthThrottled` once ``address`` sent more unknown keys than
        ``auth_failures_per_minute`` allows; memory only, so the event loop may call it and
        a guessing burst costs no key lookup."""
        wait = self.auth_failures.wait(address)
        if wait > 0:
            retry = self.auth_failures.retry_after(wait)
            raise AuthThrottled(
                f"too many unknown API keys from this address; retry in {retry} s",
                retry_after_s=retry,
            )

    def local_caller(self, address: str | None, forwarded: bool) -> Caller | None:
        """The keyless caller ``local`` for a request from a loopback ``address`` that no
        proxy ``forwarded``, when ``loopback_without_key`` is on (rate limit applied); else
        ``None`` and the request needs a key as usual."""
        if not self.settings.loopback_without_key or forwarded or address is None:
            return None
        try:
            if not ipaddress.ip_address(address).is_loopback:
                return None
        except ValueError:
            return None
        self._rate_limit(LOCAL_CALLER)
        return LOCAL_CALLER

    def cached_caller(self, authorization: str | None) -> Caller | None:
        """The caller if its key was verified recently (rate limit applied), else ``None``;
        never touches the database, so the event loop may call it."""
        _, digest = _bearer(authorization)
        with self._auth_lock:
            cached = self._auth_cache.get(digest)
        if cached is None or cached[1] <= self._clock():
            return None
        self._rate_limit(cached[0])
        return cached[0]

    def _rate_limit(self, caller: Caller) -> None:
        wait = self.limiter.hit(caller.owner)
        if wait > 0:
            retry = self.limiter.retry_after(wait)
            raise RateLimited(
                f"rate limit of {self.limiter.per_minute} requests per minute exceeded; "
                f"retry in {retry} s",
                retry_after_s=retry,
            )


def _bearer(authorization: str | None) -> tuple[str, str]:
    """``(secret, sha256 hex)`` of a ``Bearer`` header, or :class:`Unauthorized`."""
    if not authorization:
        raise Unauthorized("missing API key: send the header 'Authorization: Bearer <key>'")
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise Unauthorized("the Authorization header must be 'Bearer <key>'")
    return secret, hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()
