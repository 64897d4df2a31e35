"""Wire schemas of the HTTP API: what clients send and what the server answers.

Pydantic only (no FastAPI, no server code), so :mod:`lamina.client` can import
them. The request and response shapes follow the hosted Qwen-Image-Layered API
(RunComfy); lamina's additions are optional fields that a client of the hosted
API can ignore. Responses accept unknown fields, so the client also reads
answers from servers newer than itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from lamina.defaults import API_MODEL_ID

Status = Literal["in_queue", "in_progress", "completed", "cancelled", "failed"]
DEFAULT_MODEL = API_MODEL_ID


def _whole(value: Any) -> Any:
    """``38.0`` as ``38``: JSON Schema counts a number without a fraction as an integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


StrictInt = Annotated[int, BeforeValidator(_whole), Field(strict=True)]
"""An integer, or a number without a fraction; never a string or a boolean."""
MAX_PROMPT_CHARS = 4000
"""Longest ``prompt`` and ``negative_prompt``: the hosted API's prompts are sentences, and an
unbounded one is stored with the job and echoed in every result."""
MAX_IMAGE_URL_CHARS = 1 << 27
"""Longest ``image_url``: a base64 ``data:`` URI of a 96 MiB image. The server's body limit
(4/3 of ``max_input_bytes``) is lower unless that limit is raised."""


class SubmitRequest(BaseModel):
    """The seed's input schema (defaults, bounds and enum) plus lamina's ``resolution``."""

    model_config = ConfigDict(extra="forbid")

    image_url: str = Field(
        title="Image",
        description="The URL of the input image: https/http, a data: URI, or a URL "
        "returned by POST /v1/files.",
        min_length=1,
        max_length=MAX_IMAGE_URL_CHARS,
    )
    prompt: str | None = Field(default=None, title="Prompt", max_length=MAX_PROMPT_CHARS)
    negative_prompt: str | None = Field(
        default=None,
        title="Negative Prompt",
        description="The negative prompt to generate an image from.",
        max_length=MAX_PROMPT_CHARS,
    )
    num_inference_steps: StrictInt = Field(
        default=28,
        ge=1,
        le=50,
        title="Number of Inference Steps",
        description="The number of inference steps to perform.",
    )
    guidance_scale: Annotated[float, Field(strict=True)] = Field(
        default=5.0,
        ge=1,
        le=20,
        title="Guidance Scale",
        description="The guidance scale to use for the image generation.",
    )
    seed: StrictInt = Field(default=0, ge=-(2**63), le=2**63 - 1, title="Seed")
    num_layers: StrictInt = Field(
        default=4,
        ge=1,
        le=10,
        title="Number of Layers",
        description="The number of layers to generate.",
    )
    output_format: Literal["png", "webp"] = Field(
        default="png", title="Output Format", description="The format of the generated image."
    )
    webhook_url: str | None = Field(
        default=None,
        title="Webhook URL",
        description="Where to POST the request's result once it has ended (completed, "
        "failed or cancelled), signed per Standard Webhooks (lamina extension).",
        min_length=1,
        max_length=8192,
    )
    resolution: Literal[640, 1024] | None = Field(
        default=None,
        title="Resolution",
        description="Working resolution of the qwen engine (lamina extension); "
        "default: the server's setting.",
    )


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class SubmitResponse(_Answer):
    """Where to follow a newly queued request."""

    request_id: str
    status_url: str
    result_url: str
    cancel_url: str


class StatusResponse(_Answer):
    """A request's state; ``queue_position`` while queued, ``progress`` (0..1) and ``stage``
    (lamina extension: ``decode``, the engine's stages, ``encode``) while running."""

    request_id: str
    status: Status | str
    status_url: str | None = None
    result_url: str | None = None
    queue_position: int | None = None
    progress: float | None = None
    stage: str | None = None


class LayerInfo(_Answer):
    """One output layer: its URL and what the engine knows about it (lamina extension)."""

    index: int
    url: str
    name: str | None = None
    kind: str | None = None
    bbox: list[int] | None = None
    empty: bool = False


class ResultOutput(_Answer):
    """``images`` is the seed's field (layer URLs back to front); the rest is lamina's."""

    images: list[str] = Field(default_factory=list)
    layers: list[LayerInfo] | None = None
    exports: dict[str, str] | None = None
    """Format (``zip``, ``psd``, ``pptx``, ``json``) -> signed URL."""
    width: int | None = None
    height: int | None = None


class ResultResponse(_Answer):
    """The outputs once completed; before that, the current state with ``output`` null."""

    request_id: str
    status: Status | str
    output: ResultOutput | None = None
    created_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    engine: str | None = None
    seed: int | None = None
    timings: dict[str, float] | None = None
    parameters: dict[str, Any] | None = None
    notes: list[str] | None = None
    """What the user should know about this result, e.g. parameters the engine ignores or
    an export that could not be made."""


class CancelResponse(_Answer):
    """``outcome`` is ``cancelled`` for a job that was queued, ``cancel_requested`` for a
    running one (it stops at its next checkpoint; lamina extension), ``not_cancellable``
    otherwise."""

    request_id: str
    status: Status | str
    outcome: Literal["cancelled", "cancel_requested", "not_cancellable"] | str


class RequestSummary(_Answer):
    """One request in ``GET /v1/requests`` (lamina extension)."""

    request_id: str
    status: Status | str
    model_id: str
    created_at: str
    finished_at: str | None = None
    progress: float | None = None
    status_url: str
    result_url: str


class RequestList(_Answer):
    """A page of the caller's requests, newest first; ``next_cursor`` (absent on the last
    page) is passed back as ``cursor`` for the next one."""

    requests: list[RequestSummary]
    next_cursor: str | None = None


class WebhookAttemptInfo(_Answer):
    """One delivery attempt: the receiver's HTTP status, or why there was none."""

    attempt: int
    at: str
    status_code: int | None = None
    error: str | None = None
    duration_s: float


class WebhookLog(_Answer):
    """A request's webhook: where it goes, ``pending`` / ``delivered`` / ``failed``, and
    every attempt so far (lamina extension)."""

    request_id: str
    url: str | None = None
    state: str | None = None
    attempts: list[WebhookAttemptInfo]


class WebhookDefault(BaseModel):
    """The key's default webhook: used by submits that send no ``webhook_url``."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=8192)


class WebhookSecret(_Answer):
    """The ``whsec_...`` secret that verifies this key's webhooks (Standard Webhooks)."""

    secret: str


class ModelInfo(_Answer):
    """A served model, the engine behind it and its schemas."""

    id: str
    name: str
    description: str
    engine: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


class ModelList(_Answer):
    models: list[ModelInfo]


class FileUploadResponse(_Answer):
    """An uploaded input image; ``url`` works as ``image_url`` until ``expires_at``."""

    url: str
    key: str
    size: int
    content_type: str
    expires_at: str


class HealthResponse(_Answer):
    """``status`` is ``ok`` or ``unavailable``; each dependency ``ok`` or what is wrong."""

    status: Literal["ok", "unavailable"] | str
    database: str
    storage: str


class ErrorResponse(_Answer):
    """Every error: a six-digit code (HTTP status then a sequence number), a readable
    message and, for schema violations, one entry per offending field."""

    error_code: int
    error_message: str
    detail: Any = None


OUTPUT_SCHEMA: dict[str, Any] = {
    "output": {
        "type": "object",
        "properties": {
            "images": {
                "type": "array",
                "description": "layer URLs, back to front (layer 0 is the background)",
                "items": {"type": "string", "format": "uri"},
            },
            "layers": {
                "type": "array",
                "description": "per-layer url, name, kind, bbox, empty (lamina extension)",
            },
            "exports": {
                "type": "object",
                "description": "zip, psd, pptx and json URLs (lamina extension)",
            },
        },
    }
}
