"""The exception family, and the one policy for what a user is told about a failure.

Every error lamina raises on purpose is a :class:`LaminaError` whose message is written for
users and safe to show; each carries the HTTP ``status`` and six-digit ``error_code``
(status * 1000 + n) the API answers with, so :mod:`lamina.api.errors` needs no table.
Anything else (a bug, a library's own exception) never shows its text: :func:`user_message`
turns it into "internal error" plus a reference that is also in the log, next to the
traceback, so an operator can find it and nobody else reads it.
"""

from __future__ import annotations

import logging
import sys
import uuid
from typing import Any, ClassVar, Literal

log = logging.getLogger("lamina")

Dependency = Literal["storage", "database"]
RETRY_AFTER_S = 5
"""What a 503 answer's ``Retry-After`` says."""


class LaminaError(Exception):
    """Base class of every error lamina raises on purpose; ``message`` is shown as it is."""

    status: ClassVar[int] = 500
    """The HTTP status where the API answers with this error (500: it is not an answer)."""
    code: ClassVar[int] = 500001

    def __init__(self, message: str = "", *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message or type(self).__name__
        self.detail = detail


class InvalidParams(LaminaError, ValueError):
    """A decomposition parameter is out of range or of the wrong type."""

    status, code = 422, 422001


class InvalidImage(LaminaError, ValueError):
    """The input bytes are not a decodable image of a supported kind."""

    status, code = 400, 400001


class ImageTooLarge(InvalidImage):
    """The image exceeds the configured pixel or byte limit (decompression bombs included)."""

    status, code = 413, 413001


class EngineUnavailable(LaminaError):
    """The requested engine cannot run here (missing extra, no weights, no device)."""

    status, code = 503, 503001


class EngineError(LaminaError):
    """The engine cannot decompose this input (too elongated, no prompt where one is needed,
    an answer that breaks the engine contract); the message says why."""


class JobNotFound(LaminaError, LookupError):
    """No such job, or it belongs to another API key (the two are indistinguishable on purpose)."""

    status, code = 404, 404001


class StorageUnavailable(LaminaError):
    """The file storage failed in a way that may pass (read-only or full disk, a missing
    mount, an unreachable bucket): the API answers 503, a worker retries the job later."""

    status, code = 503, 503002


class ObjectNotFound(LaminaError, LookupError):
    """No object is stored under this key (never written, deleted or expired)."""

    status, code = 404, 404001


class InvalidKey(LaminaError, ValueError):
    """A storage key that could escape its root or is not portable across backends."""


class FetchError(LaminaError):
    """The image URL could not be fetched (refused, timed out, not an image)."""


class UnsafeURL(FetchError, ValueError):
    """The URL is malformed, not http(s), or points at an address the server must not reach."""

    status, code = 400, 400001


class WorkerConfigError(LaminaError):
    """The worker options cannot work on this machine (e.g. ``--gpus all`` with no GPU)."""


class InternalError(LaminaError):
    """A failure whose details are for the log only; the message carries its reference."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"internal error (ref {ref}); the details are in the server log")
        self.ref = ref


# Answers of the API layer; raised by the service, no web framework involved.


class BadInput(LaminaError):
    """A malformed identifier or an input that cannot be used (bad URL, not an image)."""

    status, code = 400, 400001


class Unauthorized(LaminaError):
    status, code = 401, 401001


class Forbidden(LaminaError):
    status, code = 403, 403001


class NotFound(LaminaError):
    """No such request (or another key's), model or file."""

    status, code = 404, 404001


class Gone(LaminaError):
    """A link this server issued whose file no longer exists (deleted by retention)."""

    status, code = 410, 410001


class SchemaViolation(LaminaError):
    status, code = 422, 422001


class TooLarge(LaminaError):
    status, code = 413, 413001


class RateLimited(LaminaError):
    status, code = 429, 429001

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, detail={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class AuthThrottled(RateLimited):
    """Too many unknown keys from one client address: refused before any key lookup."""

    code = 429002


def transient_fault(exc: BaseException) -> Dependency | None:
    """``"storage"`` or ``"database"`` when ``exc`` says that dependency is unavailable
    (unreachable, read-only, full, its connections dropped or exhausted), else ``None``.

    One answer for both sides: a worker retries a job that met one (later, a bounded number
    of times) instead of failing it, and the API answers 503 with ``Retry-After``, not 500.
    """
    if isinstance(exc, StorageUnavailable):
        return "storage"
    sa_exc = sys.modules.get("sqlalchemy.exc")  # not loaded: exc cannot be one of its errors
    if sa_exc is None:
        return None
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return "database"
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return "database"
    return None


def internal_error(exc: BaseException, what: str) -> InternalError:
    """Log ``exc`` with its traceback under a new reference; the error that shows only that."""
    ref = uuid.uuid4().hex[:12]
    log.error("internal error %s: %s", ref, what, exc_info=exc)
    return InternalError(ref)


def user_message(exc: BaseException, what: str = "a job failed") -> str:
    """What a failed job, a webhook or the CLI tells its user about ``exc``.

    lamina's own errors as they are, running out of memory as advice, a dependency's outage
    by name; the text of anything else stays in the log (:func:`internal_error`).
    """
    if isinstance(exc, LaminaError):
        return exc.message
    fault = transient_fault(exc)
    if fault is not None:
        return f"the {'job store (database)' if fault == 'database' else fault} was unavailable"
    if isinstance(exc, MemoryError):
        log.warning("%s: out of memory", what, exc_info=exc)
        return "out of memory while processing this image; try a smaller image or fewer layers"
    if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError
        log.warning("%s: out of GPU memory", what, exc_info=exc)
        return "out of GPU memory while processing this image; try a smaller image"
    return internal_error(exc, what).message
