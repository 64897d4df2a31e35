"""The asynchronous client: :class:`AsyncClient` mirrors :class:`~lamina.client.Client`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from lamina.api.schemas import (
    CancelResponse,
    FileUploadResponse,
    ModelList,
    ResultResponse,
    StatusResponse,
    SubmitResponse,
)
from lamina.client._base import (
    RETRY_STATUSES,
    TERMINAL,
    ImageInput,
    PollTimeout,
    RequestFailed,
    RunResult,
    check,
    download_plan,
    file_payload,
    headers,
    input_source,
    model_path,
    next_interval,
    parse,
    request_path,
    resolve_config,
    retry_delay,
    submit_body,
)


class AsyncClient:
    """The asynchronous twin of :class:`~lamina.client.Client` (same methods, awaited;
    ``aclose`` instead of ``close``).

    The token is sent to ``base_url`` only, never to the hosts of output URLs.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url, token = resolve_config(base_url, token)
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.retries = retries
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers(None),
            timeout=timeout,
            transport=transport,
            trust_env=False,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- the API -------------------------------------------------------------------------

    async def models(self) -> ModelList:
        """The served models and their schemas."""
        return parse(await self._call("GET", "/v1/models"), ModelList)

    async def submit(
        self, image_url: str, *, model: str | None = None, **params: Any
    ) -> SubmitResponse:
        """Queue a request; ``params`` are the model's inputs (``num_layers=4``, ...)."""
        body = submit_body(image_url, params)
        return parse(
            await self._call("POST", model_path(model), json=body, retry=False), SubmitResponse
        )

    async def status(self, request_id: str) -> StatusResponse:
        return parse(await self._call("GET", request_path(request_id, "status")), StatusResponse)

    async def result(self, request_id: str) -> ResultResponse:
        return parse(await self._call("GET", request_path(request_id, "result")), ResultResponse)

    async def cancel(self, request_id: str) -> CancelResponse:
        path = request_path(request_id, "cancel")
        return parse(await self._call("POST", path, retry=False), CancelResponse)

    async def upload(
        self, data: bytes | str | Path, *, filename: str | None = None
    ) -> FileUploadResponse:
        """Upload an image (bytes or a path) to ``lamina serve``; use the answer's ``url``
        as ``image_url``."""
        name, content = file_payload(data, filename)
        response = await self._call(
            "POST", "/v1/files", files={"file": (name, content)}, retry=False
        )
        return parse(response, FileUploadResponse)

    async def download(self, url: str) -> bytes:
        """The bytes at an output URL (signed: no credentials are sent)."""
        response = await self._http.get(url, headers={"Accept": "*/*"})
        check(response)
        return response.content

    async def run(
        self,
        image: ImageInput,
        *,
        model: str | None = None,
        download_to: str | Path | None = None,
        exports: Iterable[str] = (),
        poll_interval: float = 0.5,
        max_interval: float = 5.0,
        timeout: float = 1800.0,
        **params: Any,
    ) -> RunResult:
        """Submit ``image`` (a URL, or a local path, bytes or PIL image, uploaded first), poll
        with back-off until the request ends and, with ``download_to``, save there
        ``layer_00.png`` ... (back to front), ``layers.json`` and the ``exports`` asked for
        (``zip``, ``psd``, ``pptx``: ``layers.psd`` ...), the same folder ``lamina decompose``
        writes.

        Raises :class:`RequestFailed` when it fails or is cancelled, :class:`PollTimeout`
        after ``timeout`` seconds (the request is left running) and
        :class:`ExportUnavailable` when an export asked for was not made.
        """
        source = input_source(image)
        if isinstance(source, tuple):
            name, content = source
            source = (await self.upload(content, filename=name)).url
        submitted = await self.submit(source, model=model, **params)
        result = await self.wait(
            submitted.request_id,
            poll_interval=poll_interval,
            max_interval=max_interval,
            timeout=timeout,
        )
        files: list[Path] = []
        if download_to is not None:
            outdir = Path(download_to)
            plan = download_plan(result, outdir, exports)
            outdir.mkdir(parents=True, exist_ok=True)
            for url, path in plan:
                path.write_bytes(await self.download(url))
                files.append(path)
        return RunResult(result=result, files=files)

    async def wait(
        self,
        request_id: str,
        *,
        poll_interval: float = 0.5,
        max_interval: float = 5.0,
        timeout: float = 1800.0,
    ) -> ResultResponse:
        """Poll until the request ends; the completed result, else :class:`RequestFailed`."""
        start = time.monotonic()
        interval = poll_interval
        while True:
            status = await self.status(request_id)
            if status.status in TERMINAL:
                break
            waited = time.monotonic() - start
            if waited >= timeout:
                raise PollTimeout(request_id, str(status.status), waited)
            await asyncio.sleep(min(interval, max(0.0, timeout - waited)))
            interval = next_interval(interval, max_interval)
        result = await self.result(request_id)
        if result.status != "completed":
            raise RequestFailed(result)
        return result

    # -- plumbing ------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, *, retry: bool = True, **kw: Any
    ) -> httpx.Response:
        """One API call with the token; idempotent calls retry on 429/502/503/504 and on
        connection errors, waiting ``Retry-After`` or a growing delay."""
        attempts = self.retries + 1 if retry else 1
        delay = 0.5
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(method, path, headers=self._auth, **kw)
            except httpx.TransportError:
                if attempt >= attempts:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
                continue
            if response.status_code not in RETRY_STATUSES or attempt >= attempts:
                return response
            await asyncio.sleep(retry_delay(response, delay))
            delay *= 2
