"""``/fal/...``: fal.ai's queue protocol over the same service, so fal's own clients (the
``fal-client`` package, its queue URL pointed at ``<server>/fal/``) run lamina unchanged.

A thin mapping: ``POST /fal/{app}`` submits, ``GET .../requests/{id}/status`` answers
``IN_QUEUE`` / ``IN_PROGRESS`` / ``COMPLETED`` (with ``logs`` when asked), ``GET
.../requests/{id}`` is the output, ``PUT .../requests/{id}/cancel`` cancels. The key goes as
``Authorization: Key <key>`` (``Bearer`` works too). Errors follow fal's convention,
``{"detail": ...}`` with the HTTP status, instead of lamina's ``error_code`` bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Header, Query
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from lamina.api.deps import BaseUrlDep, ServiceDep
from lamina.api.schemas import DEFAULT_MODEL, ResultResponse, SubmitRequest
from lamina.api.service import ApiService, Caller
from lamina.errors import LaminaError, transient_fault

router = APIRouter(prefix="/fal", tags=["fal"], include_in_schema=False)
"""Left out of the OpenAPI document: its answers are fal's, documented by fal (and in
docs/api.md), not lamina's error shapes."""

APP_ALIASES = {"fal-ai/qwen-image-layered": DEFAULT_MODEL}
"""fal's name of the model, beside lamina's own id (also accepted)."""

T = TypeVar("T")


def _fal_error(exc: LaminaError) -> JSONResponse:
    return JSONResponse({"detail": exc.message}, status_code=exc.status)


async def _call(
    service: ApiService, authorization: str | None, work: Callable[[Caller], T]
) -> T | JSONResponse:
    """Authenticate ``Key <key>`` and run ``work`` in the thread pool; an API error becomes
    fal's ``{"detail"}`` answer."""
    scheme, _, secret = (authorization or "").strip().partition(" ")
    bearer = f"Bearer {secret.strip()}" if scheme.lower() in ("key", "bearer") else None
    try:
        caller = await run_in_threadpool(service.authenticate, bearer)
        return await run_in_threadpool(work, caller)
    except LaminaError as exc:
        if exc.status == 500 or transient_fault(exc) is not None:
            raise  # a bug or an outage: the app's own answer (500, or 503 with Retry-After)
        return _fal_error(exc)


def _base(base_url: str, owner: str, alias: str, request_id: str) -> str:
    return f"{base_url.rstrip('/')}/fal/{owner}/{alias}/requests/{request_id}"


AuthHeader = Annotated[str | None, Header(include_in_schema=False)]


@router.post("/{owner}/{alias}", response_model=None)
async def submit(
    owner: str,
    alias: str,
    service: ServiceDep,
    base_url: BaseUrlDep,
    arguments: Annotated[dict[str, Any], Body()],
    authorization: AuthHeader = None,
) -> dict[str, Any] | JSONResponse:
    """Queue a decomposition: fal's ``request_id`` and the three URLs to follow it."""
    model_id = APP_ALIASES.get(f"{owner}/{alias}", f"{owner}/{alias}")
    try:
        body = SubmitRequest.model_validate(arguments)
    except ValidationError as exc:
        detail = [{k: e[k] for k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    def work(caller: Caller) -> dict[str, Any]:
        request_id = service.submit(caller, model_id, body, base_url=base_url).request_id
        base = _base(base_url, owner, alias, request_id)
        return {
            "request_id": request_id,
            "response_url": base,
            "status_url": base + "/status",
            "cancel_url": base + "/cancel",
        }

    return await _call(service, authorization, work)


@router.get("/{owner}/{alias}/requests/{request_id}/status", response_model=None)
async def status(
    owner: str,
    alias: str,
    request_id: str,
    service: ServiceDep,
    base_url: BaseUrlDep,
    logs: Annotated[bool, Query()] = False,
    authorization: AuthHeader = None,
) -> dict[str, Any] | JSONResponse:
    """fal's status: ``IN_QUEUE`` with its position, ``IN_PROGRESS`` with ``logs`` (the
    stage and progress), ``COMPLETED`` (with ``error`` for a failed or cancelled request)."""

    def work(caller: Caller) -> dict[str, Any]:
        now = service.status(caller, request_id, base_url=base_url)
        answer: dict[str, Any] = {
            "request_id": request_id,
            "response_url": _base(base_url, owner, alias, request_id),
            "logs": [] if logs else None,
        }
        if now.status == "in_queue":
            return {**answer, "status": "IN_QUEUE", "queue_position": now.queue_position or 0}
        if now.status == "in_progress":
            if logs and now.stage is not None:
                answer["logs"] = [_log(f"{now.stage}: {now.progress or 0:.0%}")]
            return {**answer, "status": "IN_PROGRESS"}
        done = service.result(caller, request_id, base_url=base_url)
        answer.update(status="COMPLETED", metrics=_metrics(done))
        if done.status != "completed":
            answer.update(error=done.error or done.status, error_type=f"request_{done.status}")
        return answer

    return await _call(service, authorization, work)


@router.get("/{owner}/{alias}/requests/{request_id}", response_model=None)
async def response(
    owner: str,
    alias: str,
    request_id: str,
    service: ServiceDep,
    base_url: BaseUrlDep,
    authorization: AuthHeader = None,
) -> dict[str, Any] | JSONResponse:
    """The output in fal's shape (``images`` as objects with ``url``); a request that has not
    completed answers 400 with why, as fal does."""

    def work(caller: Caller) -> dict[str, Any] | JSONResponse:
        done = service.result(caller, request_id, base_url=base_url)
        if done.status in ("in_queue", "in_progress"):
            return JSONResponse({"detail": "Request is still in progress"}, status_code=400)
        if done.output is None:
            detail = done.error or f"the request was {done.status}"
            return JSONResponse({"detail": detail}, status_code=400)
        fmt = (done.parameters or {}).get("output_format", "png")
        output = done.output
        return {
            "images": [
                {
                    "url": url,
                    "content_type": f"image/{fmt}",
                    "file_name": f"layer_{i:02d}.{fmt}",
                    "width": output.width,
                    "height": output.height,
                }
                for i, url in enumerate(output.images)
            ],
            "seed": done.seed,
            "layers": [layer.model_dump() for layer in output.layers or []],
            "exports": output.exports,
            "timings": done.timings,
        }

    return await _call(service, authorization, work)


@router.put("/{owner}/{alias}/requests/{request_id}/cancel", response_model=None)
async def cancel(
    owner: str,
    alias: str,
    request_id: str,
    service: ServiceDep,
    authorization: AuthHeader = None,
) -> JSONResponse:
    """``202 CANCELLATION_REQUESTED`` for a queued or running request, ``400
    ALREADY_COMPLETED`` for a finished one (fal's answers)."""

    def work(caller: Caller) -> JSONResponse:
        answer = service.cancel(caller, request_id)
        if answer.outcome != "not_cancellable":
            return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)
        # running where the seed's rule is kept (LAMINA_CANCEL_RUNNING=false), or finished
        state = "IN_PROGRESS" if answer.status == "in_progress" else "ALREADY_COMPLETED"
        return JSONResponse({"status": state}, status_code=400)

    return await _call(service, authorization, work)


def _log(message: str) -> dict[str, Any]:
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {"message": message, "level": "INFO", "source": "user", "timestamp": stamp}


def _metrics(done: ResultResponse) -> dict[str, float]:
    timings = done.timings or {}
    return {"inference_time": float(timings["engine"])} if "engine" in timings else {}
