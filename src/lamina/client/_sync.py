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
from lamina.client._base import ImageInput, RunResult, headers, request_path, resolve_config

T = TypeVar("T")


class Client:
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
        self.base_url, token = resolve_config(base_url, token)
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.retries = retries
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers(None),
            timeout=timeout,
            transport=transport,
            trust_env=False,
        )

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
        return self._do(flows.api("GET", "/v1/models", ModelList, retries=self.retries))

    def submit(self, image_url: str, *, model: str | None = None, **params: Any) -> SubmitResponse:
        """Queue a request; ``params`` are the model's inputs (``num_layers=4``, ...)."""
        answer: SubmitResponse = self._do(
            flows.submit(image_url, model, params, retries=self.retries)
        )
        return answer

    def status(self, request_id: str) -> StatusResponse:
        path = request_path(request_id, "status")
        return self._do(flows.api("GET", path, StatusResponse, retries=self.retries))

    def result(self, request_id: str) -> ResultResponse:
        path = request_path(request_id, "result")
        return self._do(flows.api("GET", path, ResultResponse, retries=self.retries))

    def cancel(self, request_id: str) -> CancelResponse:
        path = request_path(request_id, "cancel")
        return self._do(flows.api("POST", path, CancelResponse, retries=self.retries, retry=False))

    def upload(
        self, data: bytes | str | Path, *, filename: str | None = None
    ) -> FileUploadResponse:
        """Upload an image (bytes or a path) to ``lamina serve``; use the answer's ``url``
        as ``image_url``."""
        answer: FileUploadResponse = self._do(flows.upload(data, filename, retries=self.retries))
        return answer

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
        reply: Any = None
        error: httpx.TransportError | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as done:
                return done.value
            reply = error = None
            if isinstance(step, flows.Sleep):
                time.sleep(step.seconds)
                continue
            kwargs = dict(step.kwargs)
            if step.auth:
                kwargs["headers"] = self._auth
            try:
                reply = self._http.request(step.method, step.url, **kwargs)
            except httpx.TransportError as exc:
                error = exc
