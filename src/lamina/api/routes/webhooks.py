"""``/v1/webhooks``: this key's default webhook and the secret that verifies its webhooks."""

from __future__ import annotations

from fastapi import APIRouter

from lamina.api.deps import CallerDep, ServiceDep
from lamina.api.schemas import WebhookDefault, WebhookSecret

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.get("/secret")
def secret(service: ServiceDep, caller: CallerDep) -> WebhookSecret:
    """The ``whsec_...`` secret that verifies the caller's webhooks (Standard Webhooks)."""
    return service.webhook_secret(caller)


@router.get("/default")
def get_default(service: ServiceDep, caller: CallerDep) -> WebhookDefault:
    """The caller's default webhook: where requests submitted without ``webhook_url`` go."""
    return service.webhook_default(caller)


@router.put("/default")
def set_default(body: WebhookDefault, service: ServiceDep, caller: CallerDep) -> WebhookDefault:
    """Set the caller's default webhook (``{"url": null}`` clears it); the SSRF rules of
    ``image_url`` apply."""
    return service.set_webhook_default(caller, body)
