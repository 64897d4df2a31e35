"""Constants more than one layer needs, in one light module (no imports beyond typing), so
the CLI, the API and the engines agree without importing one another or PIL and torch."""

from __future__ import annotations

from typing import Literal

MAX_PIXELS = 40_000_000
"""Largest input image, width x height (decompression bombs are refused before decoding)."""

QWEN_WEIGHTS = "Qwen/Qwen-Image-Layered"
"""The Hugging Face repository of the Qwen-Image-Layered weights the qwen engine loads."""

API_MODEL_ID = "qwen/qwen-image-layered"
"""The model id of the seed API (``POST /v1/models/{model_id}``)."""

ExportKind = Literal["zip", "psd", "pptx"]
EXPORT_KINDS: tuple[ExportKind, ...] = ("zip", "psd", "pptx")
"""The layered exports, in the order a result lists them."""

MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "webp": "image/webp",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "json": "application/json",
    "zip": "application/zip",
    "psd": "image/vnd.adobe.photoshop",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
"""File extension -> media type, for every file lamina stores or serves."""
