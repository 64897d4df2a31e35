"""FastAPI dependencies as ``Annotated`` aliases: the service, the caller and the base URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from lamina.api.service import REQUEST_ID, ApiService, Caller


async def get_service(request: Request) -> ApiService:
    """The service that :func:`lamina.api.app.create_app` attached to the app."""
    service: ApiService = request.app.state.service
    return service


ServiceDep = Annotated[ApiService, Depends(get_service)]
_KEY_HEADER = APIKeyHeader(
    name="Authorization",
    scheme_name="APIKey",
    description="'Bearer <key>'; keys come from 'lamina keys create'",
    auto_error=False,
)
"""Reads the raw header (the service parses it) and documents it as the security scheme."""


_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
"""A request carrying one of these came through a proxy: never keyless, whatever its address."""


async def get_caller(
    request: Request,
    service: ServiceDep,
    authorization: Annotated[str | None, Security(_KEY_HEADER)] = None,
) -> Caller:
    """The authenticated caller (401001 without a valid key, 429001 over the rate limit,
    429002 for an address that sent too many unknown keys); with ``loopback_without_key``,
    a keyless request from this machine is the caller ``local``.

    A recently verified key is answered on the event loop; only a database lookup goes to
    the thread pool (dependencies are async so that they cost no thread hop each), and an
    address over its failed-key budget is refused before one.
    """
    if authorization is None:
        forwarded = any(name in request.headers for name in _PROXY_HEADERS)
        local = service.local_caller(request.client.host if request.client else None, forwarded)
        if local is not None:
            return local
    caller = service.cached_caller(authorization)
    if caller is None:
        address = request.client.host if request.client is not None else "unknown"
        service.check_auth_failures(address)
        caller = await run_in_threadpool(service.authenticate, authorization, address=address)
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_base_url(request: Request, service: ServiceDep) -> str:
    """The base of the absolute URLs in answers: ``public_url`` or where the request came."""
    return service.settings.public_url or str(request.base_url)


BaseUrlDep = Annotated[str, Depends(get_base_url)]


RequestIdPath = Annotated[
    str,
    Path(
        description="A request_id from submit: 32 lowercase hex digits (anything else: 404001)",
        json_schema_extra={"pattern": f"^{REQUEST_ID.pattern}$"},
    ),
]
ModelIdPath = Annotated[
    str, Path(description="owner/name, e.g. qwen/qwen-image-layered (malformed: 400001)")
]
