"""What the clients do, written once: each operation is a generator of steps (send this
request, sleep this long) that gets each answer back, so no logic lives in the sync or the
async client; each only performs the steps, with ``httpx.Client`` and ``time.sleep`` or
``httpx.AsyncClient`` and ``asyncio.sleep`` (the sans-I/O design of h11 and httpcore).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeAlias, TypeVar

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
    Model,
    PollTimeout,
    RequestFailed,
    RunResult,
    check,
    download_plan,
    file_payload,
    input_source,
    model_path,
    next_interval,
    parse,
    request_path,
    retry_delay,
    submit_body,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    """Send a request: to the API with the token (``auth``), or to an output URL without."""

    method: str
    url: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    auth: bool = True


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step: TypeAlias = Send | Sleep
Flow: TypeAlias = Generator[Step, Any, T]
"""Yields steps; is sent the ``httpx.Response`` of each :class:`Send` (``None`` after a
:class:`Sleep`), or has the ``httpx.TransportError`` of a failed send thrown in."""


class Steps(Generic[T]):
    """Drives a flow for a client: iterate for its steps, hand each :class:`Send`'s answer
    to :meth:`reply` (or its transport error to :meth:`fail`), then read :attr:`value`.

    The generator protocol (``send``, ``throw``, ``StopIteration``) lives here once, so the
    clients' loops hold only their I/O.
    """

    def __init__(self, flow: Flow[T]) -> None:
        self._flow = flow
        self._reply: httpx.Response | None = None
        self._error: httpx.TransportError | None = None
        self.value: T

    def __iter__(self) -> Iterator[Step]:
        while True:
            reply, error = self._reply, self._error
            self._reply = self._error = None
            try:
                step = self._flow.throw(error) if error is not None else self._flow.send(reply)
            except StopIteration as done:
                self.value = done.value
                return
            yield step

    def reply(self, response: httpx.Response) -> None:
        self._reply = response

    def fail(self, error: httpx.TransportError) -> None:
        self._error = error


def call(method: str, path: str, *, retries: int, retry: bool = True, **kw: Any) -> Flow[Any]:
    """One API call; idempotent calls (``retry``) retry on 429/502/503/504 and on connection
    errors, waiting ``Retry-After`` or a growing delay. Returns the ``httpx.Response``."""
    attempts = retries + 1 if retry else 1
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        try:
            response: httpx.Response = yield Send(method, path, kw)
        except httpx.TransportError:
            if attempt >= attempts:
                raise
            yield Sleep(delay)
            delay *= 2
            continue
        if response.status_code not in RETRY_STATUSES or attempt >= attempts:
            return response
        yield Sleep(retry_delay(response, delay))
        delay *= 2


def api(
    method: str, path: str, model: type[Model], *, retries: int, retry: bool = True, **kw: Any
) -> Flow[Model]:
    """:func:`call`, its answer parsed as ``model`` (or raised as an :class:`APIError`)."""
    response = yield from call(method, path, retries=retries, retry=retry, **kw)
    return parse(response, model)


def models(*, retries: int) -> Flow[ModelList]:
    return (yield from api("GET", "/v1/models", ModelList, retries=retries))


def status(request_id: str, *, retries: int) -> Flow[StatusResponse]:
    path = request_path(request_id, "status")
    return (yield from api("GET", path, StatusResponse, retries=retries))


def result(request_id: str, *, retries: int) -> Flow[ResultResponse]:
    path = request_path(request_id, "result")
    return (yield from api("GET", path, ResultResponse, retries=retries))


def cancel(request_id: str, *, retries: int) -> Flow[CancelResponse]:
    path = request_path(request_id, "cancel")
    return (yield from api("POST", path, CancelResponse, retries=retries, retry=False))


def submit(
    image_url: str, model: str | None, params: dict[str, Any], *, retries: int
) -> Flow[SubmitResponse]:
    body = submit_body(image_url, params)
    path = model_path(model)
    return (yield from api("POST", path, SubmitResponse, retries=retries, retry=False, json=body))


def upload(
    data: bytes | str | Path, filename: str | None, *, retries: int
) -> Flow[FileUploadResponse]:
    name, content = file_payload(data, filename)
    files = {"file": (name, content)}
    return (
        yield from api(
            "POST", "/v1/files", FileUploadResponse, retries=retries, retry=False, files=files
        )
    )


def download(url: str) -> Flow[bytes]:
    """The bytes at an output URL (signed: no credentials are sent)."""
    response: httpx.Response = yield Send("GET", url, {"headers": {"Accept": "*/*"}}, auth=False)
    check(response)
    return response.content


def wait(
    request_id: str, *, retries: int, poll_interval: float, max_interval: float, timeout: float
) -> Flow[ResultResponse]:
    """Poll until the request ends; the completed result, else :class:`RequestFailed`."""
    start = time.monotonic()
    interval = poll_interval
    while True:
        state = (yield from status(request_id, retries=retries)).status
        if state in TERMINAL:
            break
        waited = time.monotonic() - start
        if waited >= timeout:
            raise PollTimeout(request_id, str(state), waited)
        yield Sleep(min(interval, max(0.0, timeout - waited)))
        interval = next_interval(interval, max_interval)
    final = yield from result(request_id, retries=retries)
    if final.status != "completed":
        raise RequestFailed(final)
    return final


def run(
    image: ImageInput,
    *,
    retries: int,
    model: str | None,
    download_to: str | Path | None,
    exports: Iterable[str],
    poll_interval: float,
    max_interval: float,
    timeout: float,
    params: dict[str, Any],
) -> Flow[RunResult]:
    """Upload ``image`` if it is local, submit, :func:`wait`, and save the files asked for."""
    source = input_source(image)
    if isinstance(source, tuple):
        name, content = source
        source = (yield from upload(content, name, retries=retries)).url
    submitted = yield from submit(source, model, params, retries=retries)
    final = yield from wait(
        submitted.request_id,
        retries=retries,
        poll_interval=poll_interval,
        max_interval=max_interval,
        timeout=timeout,
    )
    files: list[Path] = []
    if download_to is not None:
        outdir = Path(download_to)
        plan = download_plan(final, outdir, exports)
        outdir.mkdir(parents=True, exist_ok=True)
        for url, path in plan:
            path.write_bytes((yield from download(url)))
            files.append(path)
    return RunResult(result=final, files=files)
