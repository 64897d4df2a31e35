"""``/healthz`` (no key needed) and ``/metrics`` (Prometheus, key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from lamina.api.deps import CallerDep, ServiceDep
from lamina.api.metrics import render_metrics

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers (it does not touch the database)."""
    return {"status": "ok"}


@router.get("/metrics")
def metrics(service: ServiceDep, caller: CallerDep) -> Response:
    """Queue depth, jobs by state, live and busy workers, job durations by final state,
    run times and queue waits (see :mod:`lamina.api.metrics`)."""
    return Response(render_metrics(service.store.stats), media_type=CONTENT_TYPE_LATEST)
