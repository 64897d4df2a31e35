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
from lamina.client._base import ImageInput, RunResult, headers, request_path, resolve_config

T = TypeVar("T")


class AsyncClient:
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
        return await self._do(flows.api("GET", "/v1/models", ModelList, retries=self.retries))

    async def submit(
        self, image_url: str, *, model: str | None = None, **params: Any
    ) -> SubmitResponse:
        """Queue a request; ``params`` are the model's inputs (``num_layers=4``, ...)."""
        answer: SubmitResponse = await self._do(
            flows.submit(image_url, model, params, retries=self.retries)
        )
        return answer

    async def status(self, request_id: str) -> StatusResponse:
        path = request_path(request_id, "status")
        return await self._do(flows.api("GET", path, StatusResponse, retries=self.retries))

    async def result(self, request_id: str) -> ResultResponse:
        path = request_path(request_id, "result")
        return await self._do(flows.api("GET", path, ResultResponse, retries=self.retries))

    async def cancel(self, request_id: str) -> CancelResponse:
        path = request_path(request_id, "cancel")
        return await self._do(
            flows.api("POST", path, CancelResponse, retries=self.retries, retry=False)
        )

    async def upload(
        self, data: bytes | str | Path, *, filename: str | None = None
    ) -> FileUploadResponse:
        """Upload an image (bytes or a path) to ``lamina serve``; use the answer's ``url``
        as ``image_url``."""
        answer: FileUploadResponse = await self._do(
            flows.upload(data, filename, retries=self.retries)
        )
        return answer

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
        reply: Any = None
        error: httpx.TransportError | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as done:
                return done.value
            reply = error = None
            if isinstance(step, flows.Sleep):
                await asyncio.sleep(step.seconds)
                continue
            kwargs = dict(step.kwargs)
            if step.auth:
                kwargs["headers"] = self._auth
            try:
                reply = await self._http.request(step.method, step.url, **kwargs)
            except httpx.TransportError as exc:
                error = exc
