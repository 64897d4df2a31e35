"""The asynchronous client: :class:`AsyncClient` mirrors :class:`~lamina.client.Client`,
performing the same steps of :mod:`lamina.client._flows` with ``await``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from lamina.api.schemas import (
    CancelResponse,
    FileUploadResponse,
    ModelList,
    ResultResponse,
    StatusResponse,
    SubmitResponse,
)
from lamina.client import _flows as flows
from lamina.client._base import BaseClient, ImageInput, RunResult

T = TypeVar("T")


class AsyncClient(BaseClient):
    """The asynchronous twin of :class:`~lamina.client.Client` (same methods, awaited;
    ``aclose`` instead of ``close``)."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token, retries=retries)
        self._http = httpx.AsyncClient(transport=transport, **self._http_options(timeout))

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
        return await self._do(flows.models(retries=self.retries))

    async def submit(
        self, image_url: str, *, model: str | None = None, **params: Any
    ) -> SubmitResponse:
        """Queue a request; ``params`` are the model's inputs (``num_layers=4``, ...)."""
        return await self._do(flows.submit(image_url, model, params, retries=self.retries))

    async def status(self, request_id: str) -> StatusResponse:
        return await self._do(flows.status(request_id, retries=self.retries))

    async def result(self, request_id: str) -> ResultResponse:
        return await self._do(flows.result(request_id, retries=self.retries))

    async def cancel(self, request_id: str) -> CancelResponse:
        return await self._do(flows.cancel(request_id, retries=self.retries))

    async def upload(
        self, data: bytes | str | Path, *, filename: str | None = None
    ) -> FileUploadResponse:
        """Upload an image (bytes or a path) to ``lamina serve``; use the answer's ``url``
        as ``image_url``."""
        return await self._do(flows.upload(data, filename, retries=self.retries))

    async def download(self, url: str) -> bytes:
        """The bytes at an output URL (signed: no credentials are sent)."""
        return await self._do(flows.download(url))

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
        return await self._do(
            flows.run(
                image,
                retries=self.retries,
                model=model,
                download_to=download_to,
                exports=exports,
                poll_interval=poll_interval,
                max_interval=max_interval,
                timeout=timeout,
                params=params,
            )
        )

    async def wait(
        self,
        request_id: str,
        *,
        poll_interval: float = 0.5,
        max_interval: float = 5.0,
        timeout: float = 1800.0,
    ) -> ResultResponse:
        """Poll until the request ends; the completed result, else :class:`RequestFailed`."""
        return await self._do(
            flows.wait(
                request_id,
                retries=self.retries,
                poll_interval=poll_interval,
                max_interval=max_interval,
                timeout=timeout,
            )
        )

    # -- plumbing ------------------------------------------------------------------------

    async def _do(self, flow: flows.Flow[T]) -> T:
        """Perform ``flow``'s steps until it returns."""
        steps = flows.Steps(flow)
        for step in steps:
            if isinstance(step, flows.Sleep):
                await asyncio.sleep(step.seconds)
                continue
            try:
                steps.reply(
                    await self._http.request(step.method, step.url, **self._request_options(step))
                )
            except httpx.TransportError as exc:
                steps.fail(exc)
        return steps.value
