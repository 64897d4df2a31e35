"""Errors the service layer raises for the API to answer; no web framework here.

Each carries its HTTP status and six-digit ``error_code`` (status * 1000 + n),
so :mod:`lamina.api.errors` maps them without knowing their meaning.
"""

from __future__ import annotations

from typing import Any

from lamina.errors import LaminaError


class ApiError(LaminaError):
    """An answer other than success; ``message`` is shown to the user as is."""

    status = 400
    code = 400001

    def __init__(self, message: str, *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class BadInput(ApiError):
    """A malformed identifier or an input that cannot be used (bad URL, not an image)."""


class Unauthorized(ApiError):
    status = 401
    code = 401001


class Forbidden(ApiError):
    status = 403
    code = 403001


class NotFound(ApiError):
    """No such request (or another key's), model or file."""

    status = 404
    code = 404001


class Gone(ApiError):
    """A link this server issued whose file no longer exists (deleted by retention)."""

    status = 410
    code = 410001


class SchemaViolation(ApiError):
    status = 422
    code = 422001


class TooLarge(ApiError):
    status = 413
    code = 413001


class RateLimited(ApiError):
    status = 429
    code = 429001

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, detail={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class AuthThrottled(RateLimited):
    """Too many unknown keys from one client address: refused before any key lookup."""

    code = 429002
