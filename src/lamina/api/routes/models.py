"""``/v1/models``: list the served models and submit a request to one."""

from __future__ import annotations

from fastapi import APIRouter

from lamina.api.deps import BaseUrlDep, CallerDep, ServiceDep
from lamina.api.schemas import ModelInfo, ModelList, SubmitRequest, SubmitResponse

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("")
def list_models(service: ServiceDep, caller: CallerDep) -> ModelList:
    """The served models with their input and output schemas and the engine behind them."""
    return ModelList(models=service.models())


@router.get("/{model_id:path}")
def get_model(model_id: str, service: ServiceDep, caller: CallerDep) -> ModelInfo:
    """One served model."""
    return service.model(model_id)


@router.post("/{model_id:path}")
def submit(
    model_id: str,
    body: SubmitRequest,
    service: ServiceDep,
    caller: CallerDep,
    base_url: BaseUrlDep,
) -> SubmitResponse:
    """Queue a decomposition; answers at once with the URLs to follow it."""
    return service.submit(caller, model_id, body, base_url=base_url)
