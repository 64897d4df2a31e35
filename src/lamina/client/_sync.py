"""The synchronous client: performs the steps of :mod:`lamina.client._flows`."""

from __future__ import annotations

import time
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


class Client(BaseClient):
    """Talks to ``lamina serve`` or the hosted API: pass ``base_url`` and ``token`` or set
    ``LAMINA_API_URL`` / ``LAMINA_API_TOKEN``.

    The token is sent to ``base_url`` only, never to the hosts of output URLs.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token, retries=retries)
        self._http = httpx.Client(transport=transport, **self._http_options(timeout))

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- the API -------------------------------------------------------------------------

    def models(self) -> ModelList:
        """The served models and their schemas."""
        return self._do(flows.models(retries=self.retries))

    def submit(self, image_url: str, *, model: str | None = None, **params: Any) -> SubmitResponse:
        """Queue a request; ``params`` are the model's inputs (``num_layers=4``, ...)."""
        return self._do(flows.submit(image_url, model, params, retries=self.retries))

    def status(self, request_id: str) -> StatusResponse:
        return self._do(flows.status(request_id, retries=self.retries))

    def result(self, request_id: str) -> ResultResponse:
        return self._do(flows.result(request_id, retries=self.retries))

    def cancel(self, request_id: str) -> CancelResponse:
        return self._do(flows.cancel(request_id, retries=self.retries))

    def upload(
        self, data: bytes | str | Path, *, filename: str | None = None
    ) -> FileUploadResponse:
        """Upload an image (bytes or a path) to ``lamina serve``; use the answer's ``url``
        as ``image_url``."""
        return self._do(flows.upload(data, filename, retries=self.retries))

    def download(self, url: str) -> bytes:
        """The bytes at an output URL (signed: no credentials are sent)."""
        return self._do(flows.download(url))

    def run(
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
        return self._do(
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

    def wait(
        self,
        request_id: str,
        *,
        poll_interval: float = 0.5,
        max_interval: float = 5.0,
        timeout: float = 1800.0,
    ) -> ResultResponse:
        """Poll until the request ends; the completed result, else :class:`RequestFailed`."""
        return self._do(
            flows.wait(
                request_id,
                retries=self.retries,
                poll_interval=poll_interval,
                max_interval=max_interval,
                timeout=timeout,
            )
        )

    # -- plumbing ------------------------------------------------------------------------

    def _do(self, flow: flows.Flow[T]) -> T:
        """Perform ``flow``'s steps until it returns."""
        steps = flows.Steps(flow)
        for step in steps:
            if isinstance(step, flows.Sleep):
                time.sleep(step.seconds)
                continue
            try:
                steps.reply(
                    self._http.request(step.method, step.url, **self._request_options(step))
                )
            except httpx.TransportError as exc:
                steps.fail(exc)
        return steps.value
