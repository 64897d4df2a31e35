"""Webhook settings of a caller: the default URL, the signing secret, the delivery log."""

from __future__ import annotations

from lamina.api.schemas import WebhookAttemptInfo, WebhookDefault, WebhookLog, WebhookSecret
from lamina.api.service.base import Caller, ServiceBase, _iso
from lamina.errors import BadInput, UnsafeURL
from lamina.fetch import check_url


class WebhooksMixin(ServiceBase):
    """A caller's webhooks; submit checks a per-request ``webhook_url`` with the same rule."""

    def webhook_default(self, caller: Caller) -> WebhookDefault:
        """The caller's default webhook (``url`` null when none)."""
        return WebhookDefault(url=self.keys.webhook_default(caller.owner))

    def set_webhook_default(self, caller: Caller, body: WebhookDefault) -> WebhookDefault:
        """Set or clear (``url`` null) the caller's default webhook, checked as at submit."""
        url = None if body.url is None else self._check_webhook_url(body.url)
        self.keys.set_webhook_default(caller.owner, url)
        return WebhookDefault(url=url)

    def _check_webhook_url(self, url: str) -> str:
        """``url`` stripped, if it passes the SSRF rules of ``image_url``; else BadInput."""
        url = url.strip()
        try:
            check_url(
                url,
                allow_private=self.settings.allow_private_urls,
                resolver=self.resolver,
                what="webhook_url",
            )
        except UnsafeURL as exc:
            raise BadInput(str(exc)) from exc
        return url

    def webhook_secret(self, caller: Caller) -> WebhookSecret:
        """The secret that verifies the caller's webhooks."""
        return WebhookSecret(secret=self.webhooks.secret_for(caller.owner))

    def webhook_log(self, caller: Caller, request_id: str) -> WebhookLog:
        """Where the request's webhook goes, how far its delivery is, every attempt."""
        job = self._job(caller, request_id)
        return WebhookLog(
            request_id=job.id,
            url=(job.webhook or {}).get("url"),
            state=job.webhook_state,
            attempts=[
                WebhookAttemptInfo(
                    attempt=a.attempt,
                    at=_iso(a.at) or "",
                    status_code=a.status_code,
                    error=a.error,
                    duration_s=round(a.duration_s, 4),
                )
                for a in self.store.webhook_log(job.id)
            ],
        )
