"""Python client for the lamina API (and the hosted Qwen-Image-Layered API it mirrors).

::

    from lamina.client import Client

    with Client("http://127.0.0.1:8000", token="lam_...") as client:
        # a local path, bytes, a PIL image or a URL; uploaded first when local
        done = client.run("poster.png", num_layers=4, download_to="out", exports=["psd"])
        print(done.images)  # layer URLs, back to front; out/ has the PNGs, layers.json, .psd

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
from lamina.client._base import (
    APIError,
    ExportUnavailable,
    ImageInput,
    PollTimeout,
    RequestFailed,
    RunResult,
)
from lamina.client._sync import Client

__all__ = [
    "APIError",
    "AsyncClient",
    "CancelResponse",
    "Client",
    "ExportUnavailable",
    "FileUploadResponse",
    "ImageInput",
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
