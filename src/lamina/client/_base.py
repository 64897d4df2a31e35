"""What the sync and async clients share: configuration, requests, answers and errors.

Only :mod:`lamina.api.schemas` (pydantic wire models) is imported from lamina, so
the client works against any server speaking the API, the hosted one included.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from lamina.api.schemas import DEFAULT_MODEL, ResultResponse

if TYPE_CHECKING:
    from PIL.Image import Image

    from lamina.client._flows import Send

ImageInput: TypeAlias = "str | Path | bytes | Image"
"""What :meth:`Client.run` takes: a URL (``http(s)://``, ``data:`` or an upload's), a local
path, the file's bytes or a PIL image."""

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
_URL_SCHEMES = ("http://", "https://", "data:")
# export kind -> file name, as ``lamina decompose`` and the ZIP name them
EXPORT_FILES = {"zip": "layers.zip", "psd": "layers.psd", "pptx": "layers.pptx"}
MANIFEST_FILE = "layers.json"

Model = TypeVar("Model", bound=BaseModel)


class APIError(Exception):
    """The server answered with an error (``status`` and the body's ``error_code``,
    ``error_message`` and ``detail``)."""

    def __init__(
        self, status: int, error_code: int | None, error_message: str, detail: Any = None
    ) -> None:
        super().__init__(f"HTTP {status} ({error_code}): {error_message}")
        self.status = status
        self.error_code = error_code
        self.error_message = error_message
        self.detail = detail


class RequestFailed(Exception):
    """The request ended ``failed`` (or ``cancelled``); ``result`` is the last answer."""

    def __init__(self, result: ResultResponse) -> None:
        reason = result.error or f"the request ended {result.status}"
        super().__init__(f"request {result.request_id} {result.status}: {reason}")
        self.result = result


class ExportUnavailable(Exception):
    """An export asked of :meth:`Client.run` is not in the result (the server's ``notes``
    say why, e.g. an image too large for PSD); ``result`` holds the layers all the same."""

    def __init__(self, kinds: list[str], result: ResultResponse) -> None:
        why = "; ".join(result.notes or []) or "the server made none"
        super().__init__(f"request {result.request_id} has no {', '.join(kinds)} export: {why}")
        self.kinds = kinds
        self.result = result


class PollTimeout(TimeoutError):
    """:meth:`Client.run` gave up waiting; the request may still finish later."""

    def __init__(self, request_id: str, status: str, waited_s: float) -> None:
        super().__init__(f"request {request_id} still {status} after {waited_s:.0f} s")
        self.request_id = request_id
        self.status = status


@dataclass
class RunResult:
    """What :meth:`Client.run` returns: the final result and the files it downloaded."""

    result: ResultResponse
    files: list[Path] = field(default_factory=list)

    @property
    def request_id(self) -> str:
        return self.result.request_id

    @property
    def images(self) -> list[str]:
        """Layer URLs, back to front."""
        return [] if self.result.output is None else list(self.result.output.images)


class BaseClient:
    """Configuration of :class:`Client` and :class:`AsyncClient` and how a step becomes a
    request, shared as httpx's ``BaseClient`` is; the subclasses add only the I/O."""

    def __init__(self, base_url: str | None, token: str | None, *, retries: int) -> None:
        self.base_url, token = resolve_config(base_url, token)
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.retries = retries

    def _http_options(self, timeout: float) -> dict[str, Any]:
        """Keyword arguments of the ``httpx`` client, the transport aside. The token is not
        among the default headers: it goes to ``base_url`` only (:meth:`_request_options`)."""
        return {
            "base_url": self.base_url,
            "headers": headers(None),
            "timeout": timeout,
            "trust_env": False,
        }

    def _request_options(self, step: Send) -> dict[str, Any]:
        """Keyword arguments of ``request`` for ``step``: the token for API calls only, never
        for output URLs, whose hosts may be anyone's."""
        options = dict(step.kwargs)
        if step.auth:
            options["headers"] = self._auth
        return options


def resolve_config(base_url: str | None, token: str | None) -> tuple[str, str | None]:
    """Arguments first, then ``LAMINA_API_URL`` / ``LAMINA_API_TOKEN``, then the defaults."""
    url = base_url or os.environ.get("LAMINA_API_URL") or DEFAULT_BASE_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
    return url.rstrip("/"), token or os.environ.get("LAMINA_API_TOKEN") or None


def headers(token: str | None) -> dict[str, str]:
    """Default headers of every request."""
    out = {"Accept": "application/json", "User-Agent": "lamina-client/1"}
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out


def submit_body(image_url: str, params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of a submit; parameters left as ``None`` are not sent."""
    return {"image_url": image_url, **{k: v for k, v in params.items() if v is not None}}


def model_path(model: str | None) -> str:
    """``/v1/models/{owner}/{name}`` (the slash in the id is kept)."""
    return f"/v1/models/{model or DEFAULT_MODEL}"


def request_path(request_id: str, action: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", request_id):
        raise ValueError(f"{request_id!r} is not a request id")
    return f"/v1/requests/{request_id}/{action}"


def parse(response: httpx.Response, model: type[Model]) -> Model:
    """The answer as ``model``, or :class:`APIError` for an error status or a bad body."""
    check(response)
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError) as exc:
        raise APIError(
            response.status_code, None, f"unexpected answer from the server: {exc}"
        ) from exc


def check(response: httpx.Response) -> None:
    """Raise :class:`APIError` unless the status is 2xx."""
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error_message" in body:
        raise APIError(
            response.status_code,
            body.get("error_code"),
            str(body["error_message"]),
            body.get("detail"),
        )
    text = response.text[:500] if body is None else str(body)[:500]
    raise APIError(response.status_code, None, text or response.reason_phrase)


def retry_delay(response: httpx.Response, fallback: float) -> float:
    """Seconds to wait before retrying after a 429/5xx: ``Retry-After`` if given."""
    value = response.headers.get("retry-after", "")
    try:
        return min(60.0, max(0.0, float(value)))
    except ValueError:
        return fallback


def next_interval(interval: float, max_interval: float) -> float:
    """Polling back-off: x1.5 up to ``max_interval``."""
    return min(max_interval, interval * 1.5)


def layer_paths(result: ResultResponse, outdir: Path) -> list[tuple[str, Path]]:
    """``(url, path)`` per layer: ``layer_00.png`` ... named after the URL's extension."""
    if result.output is None:
        return []
    pairs = []
    for i, url in enumerate(result.output.images):
        name = urlsplit(url).path.rsplit("/", 1)[-1]
        ext = name.rsplit(".", 1)[-1] if "." in name else "png"
        ext = _SAFE_NAME.sub("", ext)[:8] or "png"
        pairs.append((url, outdir / f"layer_{i:02d}.{ext}"))
    return pairs


def file_payload(data: bytes | str | Path, filename: str | None) -> tuple[str, bytes]:
    """``(filename, bytes)`` for an upload from bytes or a path."""
    if isinstance(data, bytes):
        return filename or "image", data
    path = Path(data)
    return filename or path.name, path.read_bytes()


def input_source(image: ImageInput) -> str | tuple[str, bytes]:
    """The ``image_url`` to submit as is, or ``(filename, bytes)`` to upload first.

    A string is a URL when it starts with ``http://``, ``https://`` or ``data:`` and a
    local path otherwise, so ``run("poster.png")`` works as a newcomer expects. A PIL
    image is sent as PNG (lossless, keeps alpha).
    """
    if isinstance(image, str) and image[:8].lower().startswith(_URL_SCHEMES):
        return image
    if isinstance(image, str | Path | bytes):
        if not isinstance(image, bytes) and not Path(image).is_file():
            raise FileNotFoundError(f"{image}: no such file (and not an http(s):// or data: URL)")
        return file_payload(image, None)
    save = getattr(image, "save", None)
    if not callable(save):
        raise TypeError(f"cannot send a {type(image).__name__}: give a URL, path, bytes or image")
    buf = io.BytesIO()
    save(buf, format="PNG")
    return "image.png", buf.getvalue()


def download_plan(
    result: ResultResponse, outdir: Path, exports: Iterable[str]
) -> list[tuple[str, Path]]:
    """``(url, path)`` for every file :meth:`Client.run` saves: the layers, ``layers.json``
    when the server offers it, and each of ``exports`` (``zip``, ``psd``, ``pptx``).

    Raises :class:`ExportUnavailable` before anything is written when an export is missing,
    so a folder never looks complete when it is not.
    """
    kinds = list(dict.fromkeys(exports))
    unknown = [kind for kind in kinds if kind not in EXPORT_FILES]
    if unknown:
        raise ValueError(f"unknown export {unknown[0]!r}; choose from zip, psd, pptx")
    offered = (result.output.exports if result.output is not None else None) or {}
    missing = [kind for kind in kinds if kind not in offered]
    if missing:
        raise ExportUnavailable(missing, result)
    plan = layer_paths(result, outdir)
    if "json" in offered:
        plan.append((offered["json"], outdir / MANIFEST_FILE))
    plan.extend((offered[kind], outdir / EXPORT_FILES[kind]) for kind in kinds)
    return plan
