"""Python client for the lamina API (and the hosted Qwen-Image-Layered API it mirrors).

::

    from lamina.client import Client

    with Client("http://127.0.0.1:8000", token="lam_...") as client:
        done = client.run("https://example.com/poster.png", num_layers=4, download_to="out")
        print(done.images)  # layer URLs, back to front

The base URL and token also come from ``LAMINA_API_URL`` and ``LAMINA_API_TOKEN``.
"""

from lamina.api.schemas import (
    CancelResponse,
    FileUploadResponse,
    LayerInfo,
    ModelInfo,
    ModelList,
    ResultOutput,
    ResultResponse,
    StatusResponse,
    SubmitRequest,
    SubmitResponse,
)
from lamina.client._async import AsyncClient
from lamina.client._base import APIError, PollTimeout, RequestFailed, RunResult
from lamina.client._sync import Client

__all__ = [
    "APIError",
    "AsyncClient",
    "CancelResponse",
    "Client",
    "FileUploadResponse",
    "LayerInfo",
    "ModelInfo",
    "ModelList",
    "PollTimeout",
    "RequestFailed",
    "ResultOutput",
    "ResultResponse",
    "RunResult",
    "StatusResponse",
    "SubmitRequest",
    "SubmitResponse",
]
