"""``create_app(settings)``: the FastAPI application, built on demand (never at import)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lamina import __version__
from lamina.api.errors import error_body, install_error_handlers
from lamina.api.openapi import document_errors
from lamina.api.routes import fal, files, health, models, playground, requests, webhooks
from lamina.api.routes.docs import install_docs
from lamina.api.service import ApiService
from lamina.config import Settings

_JSON_OVERHEAD = 64 * 1024


def build_service(settings: Settings) -> ApiService:
    """The service over the store, keys and storage that ``settings`` name."""
    from lamina.jobs.keys import KeyStore
    from lamina.jobs.store import JobStore
    from lamina.storage import open_storage

    store = JobStore(settings.resolved_database_url)
    return ApiService(settings, store=store, keys=KeyStore(store), storage=open_storage(settings))


def create_app(settings: Settings, *, service: ApiService | None = None) -> FastAPI:
    """The API app. ``service`` defaults to one built from ``settings`` (the caller must
    have migrated the store); the app disposes of what it built when it shuts down."""
    owned = service is None
    svc = service if service is not None else build_service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        svc.feed.close()
        if owned:
            svc.store.dispose()

    app = FastAPI(
        title="lamina",
        version=__version__,
        summary="Turn an image into editable RGBA layers (RunComfy-compatible API).",
        lifespan=lifespan,
        docs_url=None,  # served from local files by install_docs
        redoc_url=None,
    )
    app.state.service = svc
    install_error_handlers(app)
    install_docs(app)
    for module in (models, requests, files, webhooks, fal, health, playground):
        app.include_router(module.router)
    document_errors(app)
    # a data: URI may be up to 4/3 of the input limit once base64-encoded
    app.add_middleware(BodyLimit, limit=settings.max_input_bytes * 4 // 3 + _JSON_OVERHEAD)
    return app


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413001, counting while they stream
    (a missing or false ``Content-Length`` does not get past it)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(send, self.limit)
                return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # an HTTPException passes through FastAPI's body parsing to the handlers
                    raise HTTPException(413, _too_large_message(self.limit))
            return message

        await self.app(scope, limited_receive, send)


def _too_large_message(limit: int) -> str:
    return f"the request body is over the limit of {limit} bytes"


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(error_body(413001, _too_large_message(limit))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
