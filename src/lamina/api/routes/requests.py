"""``/v1/requests/{request_id}/...``: status, result and cancel of one request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from lamina.api.deps import BaseUrlDep, CallerDep, RequestIdPath, ServiceDep
from lamina.api.schemas import (
    CancelResponse,
    RequestList,
    ResultResponse,
    Status,
    StatusResponse,
    WebhookLog,
)

_NETWORK_READS = anyio.CapacityLimiter(4)
"""Concurrent status reads of a networked store (PostgreSQL). More threads only queue on
the GIL and the connection pool: with 16 connections, p99 was 84 ms unlimited and 19 ms
with 4, at the same ~1,350 req/s (bench/api.py, docs/benchmarks/api.md)."""

router = APIRouter(prefix="/v1/requests", tags=["requests"])


@router.get("")
def list_requests(
    service: ServiceDep,
    caller: CallerDep,
    base_url: BaseUrlDep,
    status: Annotated[Status | None, Query(description="only requests in this state")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RequestList:
    """The caller's requests, newest first (lamina extension); other keys' never show."""
    return service.list_requests(
        caller, base_url=base_url, status=status, cursor=cursor, limit=limit
    )


@router.get("/{request_id}/status", response_model=StatusResponse)
async def status(
    request_id: RequestIdPath,
    service: ServiceDep,
    caller: CallerDep,
    base_url: BaseUrlDep,
    stream: Annotated[
        bool,
        Query(
            description="answer with Server-Sent Events: one `status` event per change, "
            "closed after the terminal one (lamina extension)"
        ),
    ] = False,
) -> Response:
    """State of the request; ``queue_position`` while queued, ``progress`` while running;
    with ``stream=true`` a ``text/event-stream`` of every change until the end.

    The hot polling path: serialised once here rather than validated again by FastAPI, and
    answered on the event loop when the store reads locally (SQLite: one ~40 us query, less
    than a hop to the thread pool costs); a networked store is read in the thread pool, at
    most :data:`_NETWORK_READS` at a time.
    """
    if stream:
        events = await service.watch(caller, request_id, base_url=base_url)
        return StreamingResponse(
            _server_sent(events),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    if service.store.local_reads:
        answer = service.status(caller, request_id, base_url=base_url)
    else:
        answer = await anyio.to_thread.run_sync(
            partial(service.status, caller, request_id, base_url=base_url),
            limiter=_NETWORK_READS,
        )
    return Response(answer.model_dump_json(exclude_none=True), media_type="application/json")


async def _server_sent(events: AsyncIterator[StatusResponse | None]) -> AsyncIterator[str]:
    """Each status as an SSE ``status`` event numbered from 1; a comment for keep-alive."""
    number = 0
    async for answer in events:
        if answer is None:
            yield ": keep-alive\n\n"
            continue
        number += 1
        yield f"id: {number}\nevent: status\ndata: {answer.model_dump_json(exclude_none=True)}\n\n"


@router.get("/{request_id}/result")
def result(
    request_id: RequestIdPath, service: ServiceDep, caller: CallerDep, base_url: BaseUrlDep
) -> ResultResponse:
    """Layer URLs (back to front), exports and metadata once completed; else the state."""
    return service.result(caller, request_id, base_url=base_url)


@router.get("/{request_id}/webhooks")
def webhooks(request_id: str, service: ServiceDep, caller: CallerDep) -> WebhookLog:
    """The request's webhook delivery log: state and every attempt (lamina extension)."""
    return service.webhook_log(caller, request_id)


@router.post("/{request_id}/cancel")
def cancel(request_id: RequestIdPath, service: ServiceDep, caller: CallerDep) -> CancelResponse:
    """Cancel a queued request; ``outcome`` is ``not_cancellable`` once it has started."""
    return service.cancel(caller, request_id)
