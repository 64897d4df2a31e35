"""Webhooks: on every terminal state, a POST signed per Standard Webhooks, retried from the
durable job store.

A job submitted with a ``webhook_url`` carries ``webhook_state = pending``. Once it ends
(completed, failed or cancelled, by whatever path), :class:`WebhookDispatcher` (a thread of
each ``lamina serve``) claims the delivery in the store with a lease, POSTs the request's
result, logs the attempt and settles it: delivered (2xx), due again after a back-off, or
failed once ``webhook_max_attempts`` are used. Nothing lives only in memory, so a restart
loses no delivery: a lease that lapses makes the delivery due again (at least once; the
``webhook-id`` stays the same on every attempt, so receivers can drop repeats).

Signing follows https://www.standardwebhooks.com: ``webhook-signature`` is
``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` under a per-key secret
(``whsec_...``, :meth:`WebhookSigner.secret_for`) derived from the server's webhook secret,
so one key's secret cannot forge another key's webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from lamina.errors import UnsafeURL
from lamina.fetch import check_url, deadline_client, pinned_request
from lamina.jobs.store import Job

if TYPE_CHECKING:
    from lamina.api.service import ApiService

log = logging.getLogger("lamina.webhooks")

POLL_S = 0.5
"""How often an idle dispatcher looks for due deliveries (one indexed query)."""
LEASE_S = 60.0
"""A claimed delivery is someone else's to retry after this (its dispatcher died)."""
MAX_BACKOFF_S = 3600.0
WEBHOOK_TIMEOUT_S = 10.0
"""Deadline of one delivery attempt, connect to last byte."""


class WebhookSigner:
    """Standard Webhooks signatures under per-key secrets derived from ``master``."""

    def __init__(self, master: bytes) -> None:
        if len(master) < 16:
            raise ValueError("the webhook secret must have at least 16 bytes")
        self._master = master

    def secret_for(self, owner: str) -> str:
        """The ``whsec_...`` secret that verifies the webhooks of key ``owner``."""
        key = hmac.new(self._master, f"webhook:{owner}".encode(), hashlib.sha256).digest()
        return "whsec_" + base64.b64encode(key).decode()

    def headers(self, owner: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """The ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers."""
        key = base64.b64decode(self.secret_for(owner).removeprefix("whsec_"))
        signed = f"{message_id}.{timestamp}.".encode() + body
        signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": f"v1,{signature}",
        }


def retry_delay(attempt: int, base_s: float) -> float:
    """Seconds before the attempt after ``attempt`` (1-based): ``base_s`` doubling, at most
    an hour."""
    return float(min(base_s * 2 ** (attempt - 1), MAX_BACKOFF_S))


class WebhookDispatcher:
    """Delivers due webhooks from the store until stopped; any number may run at once
    (claims skip each other's leased deliveries)."""

    def __init__(self, service: ApiService, *, poll_s: float = POLL_S) -> None:
        self.service = service
        self.poll_s = poll_s

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop``; store errors are logged and retried after a pause."""
        while not stop.is_set():
            try:
                delivered = self.deliver_due()
            except Exception:
                log.exception("webhooks: job store error; retrying")
                delivered = 0
            if not delivered:
                stop.wait(self.poll_s)

    def deliver_due(self, *, limit: int = 100) -> int:
        """Attempt up to ``limit`` due deliveries; returns how many were attempted."""
        done = 0
        while done < limit:
            job = self.service.store.claim_webhook(lease_s=LEASE_S)
            if job is None:
                break
            self._attempt(job)
            done += 1
        return done

    def _attempt(self, job: Job) -> None:
        settings = self.service.settings
        webhook = job.webhook or {}
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            body = self._body(job, webhook.get("base_url", ""))
            timestamp = int(time.time())
            headers = self.service.webhooks.headers(job.owner, f"msg_{job.id}", timestamp, body)
            status_code = _post(webhook["url"], body, headers, settings.allow_private_urls)
            if not 200 <= status_code < 300:
                error = f"the receiver answered HTTP {status_code}"
        except (UnsafeURL, httpx.HTTPError, KeyError) as exc:
            error = str(exc) or type(exc).__name__
        duration = time.monotonic() - started
        retry_at = None
        if error is not None and job.webhook_attempts < settings.webhook_max_attempts:
            delay = retry_delay(job.webhook_attempts, settings.webhook_retry_s)
            retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        self.service.store.record_webhook(
            job.id,
            attempt=job.webhook_attempts,
            status_code=status_code,
            error=error,
            duration_s=duration,
            retry_at=retry_at,
        )
        if error is not None:
            log.warning("webhooks: %s attempt %d: %s", job.id, job.webhook_attempts, error)

    def _body(self, job: Job, base_url: str) -> bytes:
        """``{"type": "request.<state>", "timestamp", "data": <the result answer>}``."""
        data = self.service.result_of(job, base_url=base_url)
        payload = {
            "type": f"request.{job.state.value}",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "data": data.model_dump(mode="json"),
        }
        return json.dumps(payload, separators=(",", ":")).encode()


def _post(url: str, body: bytes, headers: dict[str, str], allow_private: bool) -> int:
    """POST to ``url`` under the same SSRF rules as fetching ``image_url`` (address checked
    and pinned, no redirects followed, one 10 s deadline); the HTTP status."""
    target = check_url(url, allow_private=allow_private, what="webhook_url")
    with deadline_client(WEBHOOK_TIMEOUT_S) as client:
        request = pinned_request(
            client,
            "POST",
            target,
            {**headers, "Content-Type": "application/json", "User-Agent": "lamina-webhook/1"},
            content=body,
        )
        response = client.send(request)
        response.close()
        return response.status_code
