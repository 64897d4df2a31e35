"""Rate limiting by token buckets in this process's memory: requests per API key, and failed
authentications per client address."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Allows ``per_minute`` requests per key per minute on average, in bursts up to that.

    ``per_minute=0`` turns the limiter off. Thread-safe; the buckets of idle keys
    are dropped once full again, so memory stays bounded by the active keys.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 0:
            raise ValueError("per_minute must be >= 0")
        self.per_minute = per_minute
        self._clock = clock
        self._rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when allowed, else the seconds until the next token."""
        if self.per_minute == 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens = self._tokens(key, now)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self._rate
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 10_000:
                self._drop_full(now)
            return 0.0

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a token again (0.0 if it has one), taking none."""
        if self.per_minute == 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens = self._tokens(key, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self._rate

    def _tokens(self, key: str, now: float) -> float:
        """Tokens ``key`` holds at ``now``: its last count refilled since, capped (lock held)."""
        tokens, last = self._buckets.get(key, (float(self.per_minute), now))
        return min(float(self.per_minute), tokens + (now - last) * self._rate)

    def retry_after(self, wait_s: float) -> int:
        """Whole seconds for a ``Retry-After`` header (at least 1)."""
        return max(1, math.ceil(wait_s))

    def _drop_full(self, now: float) -> None:
        full = [
            k
            for k, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self._rate >= self.per_minute
        ]
        for k in full:
            del self._buckets[k]
