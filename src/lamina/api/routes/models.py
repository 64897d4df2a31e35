"""``/v1/models``: list the served models and submit a request to one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from starlette.concurrency import run_in_threadpool

from lamina.api.deps import BaseUrlDep, CallerDep, ModelIdPath, ServiceDep
from lamina.api.openapi import errors
from lamina.api.schemas import (
    ModelInfo,
    ModelList,
    ResultResponse,
    SubmitRequest,
    SubmitResponse,
)

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("")
def list_models(service: ServiceDep, caller: CallerDep) -> ModelList:
    """The served models with their input and output schemas and the engine behind them."""
    return ModelList(models=service.models())


@router.get("/{model_id:path}")
def get_model(model_id: ModelIdPath, service: ServiceDep, caller: CallerDep) -> ModelInfo:
    """One served model."""
    return service.model(model_id)


@router.post("/{model_id:path}", responses=errors(410))
async def submit(
    model_id: ModelIdPath,
    body: SubmitRequest,
    service: ServiceDep,
    caller: CallerDep,
    base_url: BaseUrlDep,
    response: Response,
    prefer: Annotated[
        str | None,
        Header(
            description="`wait=N`: wait up to N seconds (at most the server's max_wait_s) "
            "and answer with the result if it is done by then (lamina extension)"
        ),
    ] = None,
) -> SubmitResponse | ResultResponse:
    """Queue a decomposition; answers at once with the URLs to follow it, or with
    ``Prefer: wait=N`` the result (plus those URLs) if it finishes within N seconds."""
    submitted = await run_in_threadpool(service.submit, caller, model_id, body, base_url=base_url)
    wait = service.sync_wait_s(prefer)
    if wait is None:
        return submitted
    response.headers["Preference-Applied"] = f"wait={wait}"
    done = await service.wait_for_result(caller, submitted, base_url=base_url, timeout=wait)
    return submitted if done is None else done
