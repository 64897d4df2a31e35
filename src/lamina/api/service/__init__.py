"""What the API does, without HTTP: authenticate, submit, status, result, cancel, upload.

The routes only translate HTTP to these calls and back; everything here takes
and returns plain values and wire schemas, and raises
:class:`~lamina.errors.LaminaError` subclasses (each with its status and code)
for :mod:`lamina.api.errors` to answer.
The service queues jobs and never runs an engine (no torch here).

:class:`ApiService` is one class made of parts named by what they answer: :mod:`.base` (the
stores and caches it is built with, :class:`Caller`), :mod:`.access` (keys and rate limits),
:mod:`.info` (models and health), :mod:`.requests` (submit, status, list, result, cancel),
:mod:`.waiting` (status streams and waiting submits), :mod:`.webhooks` (a caller's webhook
settings) and :mod:`.files` (uploads, input resolution, signed links and the purge).
"""

from __future__ import annotations

from lamina.api.service.access import AccessMixin
from lamina.api.service.base import LOCAL_CALLER, REQUEST_ID, WEBHOOK_SECRET_FILE, Caller
from lamina.api.service.files import FILE_MEDIA_TYPES, MEDIA_TYPES, UPLOAD_PREFIX, FilesMixin
from lamina.api.service.info import HEALTH_CACHE_S, MODEL_ID, InfoMixin
from lamina.api.service.requests import RequestsMixin
from lamina.api.service.waiting import KEEPALIVE_S, PREFER_WAIT, WaitingMixin
from lamina.api.service.webhooks import WebhooksMixin

__all__ = [
    "FILE_MEDIA_TYPES",
    "HEALTH_CACHE_S",
    "KEEPALIVE_S",
    "LOCAL_CALLER",
    "MEDIA_TYPES",
    "MODEL_ID",
    "PREFER_WAIT",
    "REQUEST_ID",
    "UPLOAD_PREFIX",
    "WEBHOOK_SECRET_FILE",
    "ApiService",
    "Caller",
]


class ApiService(AccessMixin, WaitingMixin, RequestsMixin, InfoMixin, WebhooksMixin, FilesMixin):
    """The API's behaviour over a job store, a key store and a file storage."""
