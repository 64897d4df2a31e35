"""``/v1/webhooks``: what a receiver needs to verify this key's webhooks."""

from __future__ import annotations

from fastapi import APIRouter

from lamina.api.deps import CallerDep, ServiceDep
from lamina.api.schemas import WebhookSecret

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.get("/secret")
def secret(service: ServiceDep, caller: CallerDep) -> WebhookSecret:
    """The ``whsec_...`` secret that verifies the caller's webhooks (Standard Webhooks)."""
    return service.webhook_secret(caller)
