"""The one place that turns exceptions into HTTP answers (as LitServe does).

Every answer is JSON ``{"error_code", "error_message", "detail"}`` with the
matching HTTP status. Bad input of any kind gets a 4xx; storage or database faults that
may pass get 503 with ``Retry-After`` (503002 storage, 503003 database); only a genuine
bug gets 500001, with its details logged and not shown, and ``Connection: close``
(the server drops the connection after it, so the answer says so).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc as sa_exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from lamina.errors import RETRY_AFTER_S, LaminaError, RateLimited, internal_error, transient_fault

log = logging.getLogger("lamina.api")


def error_body(code: int, message: str, detail: Any = None) -> dict[str, Any]:
    """The JSON body of every error answer."""
    return {"error_code": code, "error_message": message, "detail": detail}


def answer_for(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """``(status, body, headers)`` for any exception."""
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        if any(err.get("type") == "json_invalid" for err in errors):
            return 400, error_body(400001, "the request body is not valid JSON"), {}
        return 422, _validation_body(errors), {}
    if isinstance(exc, StarletteHTTPException):
        code = exc.status_code * 1000 + 1
        return exc.status_code, error_body(code, str(exc.detail)), dict(exc.headers or {})
    fault = transient_fault(exc)
    if fault is not None:
        log.warning("%s unavailable: %s", fault, exc)
        message = f"the {fault} is unavailable for the moment; retry in {RETRY_AFTER_S} s"
        code = 503002 if fault == "storage" else 503003
        body = error_body(code, message, {"dependency": fault})
        return 503, body, {"Retry-After": str(RETRY_AFTER_S)}
    if isinstance(exc, LaminaError) and exc.status != 500:
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimited) else {}
        return exc.status, error_body(exc.code, exc.message, exc.detail), headers
    ref = internal_error(exc, "an API request failed").ref
    body = error_body(500001, f"internal server error (ref {ref}); the request was not processed")
    return 500, body, {"Connection": "close"}


def _validation_body(errors: Any) -> dict[str, Any]:
    """422001 naming each offending field (``body.num_layers``) and what is wrong with it."""
    detail = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        field = ".".join(loc[1:] if loc and loc[0] == "body" else loc) or "body"
        detail.append(
            {"field": field, "message": err.get("msg", "invalid"), "type": err.get("type")}
        )
    names = ", ".join(d["field"] for d in detail)
    return error_body(422001, f"the request does not match the input schema: {names}", detail)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    status, body, headers = answer_for(exc)
    if status == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return JSONResponse(body, status_code=status, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path. (Starlette's 405 names only the
    methods of the first route that matched the path: ``/v1/models/{id}`` has two.)"""
    routes = request.app.router.routes
    return [
        method
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through :func:`answer_for`."""
    app.add_exception_handler(RequestValidationError, _handle)
    app.add_exception_handler(StarletteHTTPException, _handle)
    app.add_exception_handler(LaminaError, _handle)
    # answered by the exception middleware, which keeps the connection (the handler of
    # Exception runs in the outermost middleware, which re-raises and drops it)
    app.add_exception_handler(sa_exc.SQLAlchemyError, _handle)
    app.add_exception_handler(Exception, _handle)
