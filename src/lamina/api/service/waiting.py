"""Waiting for a request to change: status streams and submits that wait for their result
(``Prefer: wait=N``), woken by the change feed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread

from lamina.api.schemas import ResultResponse, StatusResponse, SubmitResponse
from lamina.api.service.base import Caller
from lamina.api.service.requests import RequestsMixin
from lamina.jobs.states import FINISHED

PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d{1,6})(?:$|[,;\s])", re.IGNORECASE)
"""``Prefer: wait=N`` (RFC 7240, as Replicate uses it): a submit that waits for its result."""
KEEPALIVE_S = 15.0
"""A status stream with nothing new for this long sends a comment, so proxies keep it open."""

_FINISHED_VALUES = frozenset(state.value for state in FINISHED)
_WATCH_READS = anyio.CapacityLimiter(4)
"""Concurrent thread-pool status reads of streams and waits on a networked store."""


class WaitingMixin(RequestsMixin):
    """Status streams and waiting submits, built on :meth:`status` and :meth:`result`."""

    async def watch(
        self, caller: Caller, request_id: str, *, base_url: str
    ) -> AsyncIterator[StatusResponse | None]:
        """The status now and after each change, ending with the terminal one; ``None``
        after :data:`KEEPALIVE_S` with nothing new. Unknown ids raise :class:`NotFound`
        here, before anything is streamed."""
        first = await self._status_async(caller, request_id, base_url)
        return self._changes(caller, request_id, base_url, first)

    async def _changes(
        self, caller: Caller, request_id: str, base_url: str, first: StatusResponse
    ) -> AsyncIterator[StatusResponse | None]:
        loop = asyncio.get_running_loop()
        with self.feed.subscribe(request_id) as changed:
            answer = first
            yield answer
            quiet_since = loop.time()
            while answer.status not in _FINISHED_VALUES:
                current = await self._status_async(caller, request_id, base_url)
                if current != answer:
                    answer = current
                    quiet_since = loop.time()
                    yield answer
                    continue
                if loop.time() - quiet_since >= KEEPALIVE_S:
                    quiet_since = loop.time()
                    yield None
                await self.feed.wait(changed, KEEPALIVE_S)

    def sync_wait_s(self, prefer: str | None) -> int | None:
        """Seconds a submit with this ``Prefer`` header waits for its result (capped at
        ``max_wait_s``), or ``None`` to answer at once as the seed does."""
        found = PREFER_WAIT.search(f" {prefer} ") if prefer else None
        if found is None:
            return None
        return min(int(found.group(1)), self.settings.max_wait_s)

    async def wait_for_result(
        self, caller: Caller, submitted: SubmitResponse, *, base_url: str, timeout: float
    ) -> ResultResponse | None:
        """The result of a just-submitted request if it finishes within ``timeout``
        seconds (with the submit answer's URLs), else ``None``."""
        request_id = submitted.request_id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with self.feed.subscribe(request_id) as changed:
            while True:
                status = await self._status_async(caller, request_id, base_url)
                if status.status in _FINISHED_VALUES:
                    break
                left = deadline - loop.time()
                if left <= 0:
                    return None
                await self.feed.wait(changed, left)
        done = await anyio.to_thread.run_sync(
            lambda: self.result(caller, request_id, base_url=base_url)
        )
        return ResultResponse(
            **done.model_dump(),
            status_url=submitted.status_url,
            cancel_url=submitted.cancel_url,
            result_url=submitted.result_url,
        )

    async def _status_async(self, caller: Caller, request_id: str, base_url: str) -> StatusResponse:
        """:meth:`status` on the event loop for a local store, else in the thread pool."""
        if self.store.local_reads:
            return self.status(caller, request_id, base_url=base_url)
        return await anyio.to_thread.run_sync(
            lambda: self.status(caller, request_id, base_url=base_url), limiter=_WATCH_READS
        )
