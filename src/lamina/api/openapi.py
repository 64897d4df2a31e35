"""The OpenAPI document as the server answers: the error answers of every operation.

Routes declare only what is their own (a 410 of submit, the media types of a file); this
module adds to the generated document the answers every operation shares, all in the
shape of
:class:`~lamina.api.schemas.ErrorResponse` (FastAPI would document its own 422 shape,
which the server never sends), so that a client generated from the document, or a
schema-driven test, meets no status or body it was not told of.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from lamina.api.schemas import ErrorResponse

_ERRORS = {
    400: "malformed input: body not JSON, unusable image_url, bad cursor or model id (400001)",
    401: "no key, not Bearer, or an unknown or revoked key (401001)",
    403: "a file link with a bad or expired signature (403001)",
    404: "no such request (or another key's), model, file or route (404001)",
    410: "image_url is an upload link whose file retention deleted (410001)",
    413: "the body, upload or data: URI is over the input limit (413001)",
    422: "the body does not match the schema; detail names each field (422001)",
    429: "over the key's rate limit (429001) or too many unknown keys from this address "
    "(429002); Retry-After says when to retry",
    500: "a bug, logged on the server; sent with Connection: close (500001)",
    503: "the storage (503002) or the database (503003) is unavailable for the moment, or the "
    "engine cannot run here (503001); Retry-After says when to retry",
}
_EVERY_OPERATION = (400, 404, 422, 500, 503)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these error statuses, in the server's error shape."""
    return {s: {"model": ErrorResponse, "description": _ERRORS[s]} for s in statuses}


def document_errors(app: FastAPI) -> None:
    """Make ``app``'s document list the shared error answers of every operation: those of
    any request, 401 and 429 where a key is needed (the operation has ``security``), 413
    where a body is sent; what a route declares itself wins. FastAPI's own 422 shape is
    replaced by the one the server sends."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        shared = {str(s): _answer(s) for s in _EVERY_OPERATION}
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                answers = {**shared, **operation.get("responses", {})}
                if "security" in operation:
                    answers = {"401": _answer(401), "429": _answer(429), **answers}
                if "requestBody" in operation:
                    answers = {"413": _answer(413), **answers}
                answers["422"] = _answer(422)
                operation["responses"] = dict(sorted(answers.items()))
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        schemas["ErrorResponse"] = ErrorResponse.model_json_schema()
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _answer(status: int) -> dict[str, Any]:
    return {
        "description": _ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
