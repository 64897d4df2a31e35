"""``/healthz`` (no key needed) and ``/metrics`` (Prometheus, key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from lamina.api.deps import CallerDep, ServiceDep
from lamina.api.metrics import render_metrics
from lamina.api.schemas import HealthResponse
from lamina.errors import RETRY_AFTER_S

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses={
        200: {"model": HealthResponse, "description": "the database and the storage work"},
        503: {"model": HealthResponse, "description": "a dependency is unavailable"},
    },
)
async def healthz(service: ServiceDep) -> JSONResponse:
    """Readiness: 200 when the database and the storage work, else 503 with
    ``Retry-After`` and the failing dependency named (checked at most once a second)."""
    health = service.cached_health()
    if health is None:
        health = await run_in_threadpool(service.health)
    if health["status"] == "ok":
        return JSONResponse(health)
    return JSONResponse(health, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(service: ServiceDep, caller: CallerDep) -> Response:
    """Queue depth, jobs by state, live and busy workers, job durations by final state,
    run times and queue waits (see :mod:`lamina.api.metrics`)."""
    return Response(render_metrics(service.store.stats), media_type=CONTENT_TYPE_LATEST)
