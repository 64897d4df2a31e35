"""A caller's requests: submit, status, list, result and cancel."""

from __future__ import annotations

import base64
import binascii

from lamina.api.schemas import (
    CancelResponse,
    LayerInfo,
    RequestList,
    RequestSummary,
    ResultOutput,
    ResultResponse,
    StatusResponse,
    SubmitRequest,
    SubmitResponse,
)
from lamina.api.service.base import Caller, _iso
from lamina.api.service.files import FilesMixin
from lamina.api.service.info import InfoMixin
from lamina.api.service.webhooks import WebhooksMixin
from lamina.errors import BadInput, InvalidParams, JobNotFound, NotFound, SchemaViolation
from lamina.jobs.states import JobState
from lamina.jobs.store import Job, JobResult
from lamina.types import DecomposeParams


class RequestsMixin(InfoMixin, WebhooksMixin, FilesMixin):
    """The request lifecycle; a submit checks the model, the webhook and the input with the
    parts it stands on."""

    def submit(
        self, caller: Caller, model_id: str, body: SubmitRequest, *, base_url: str
    ) -> SubmitResponse:
        """Check the input (URL reachable in principle, data: URI an image) and queue a job."""
        self.model(model_id)
        fields = body.model_dump(exclude={"image_url", "webhook_url"})
        try:
            params = DecomposeParams(**fields)
        except InvalidParams as exc:
            raise SchemaViolation(str(exc)) from exc
        webhook = None
        url = body.webhook_url or self.keys.webhook_default(caller.owner)
        if url is not None:
            webhook = {"url": self._check_webhook_url(url), "base_url": base_url}
        input_key, input_url, shown_url = self._resolve_input(body.image_url)
        job = self.store.submit(
            owner=caller.owner,
            model_id=model_id,
            params={**params.to_dict(), "image_url": shown_url},
            input_key=input_key,
            input_url=input_url,
            webhook=webhook,
        )
        if self._on_submit is not None:
            self._on_submit()
        return SubmitResponse(
            request_id=job.id,
            status_url=self._request_url(base_url, job.id, "status"),
            result_url=self._request_url(base_url, job.id, "result"),
            cancel_url=self._request_url(base_url, job.id, "cancel"),
        )

    def status(self, caller: Caller, request_id: str, *, base_url: str) -> StatusResponse:
        """Where the request is: queue position while queued, progress while running."""
        self._check_request_id(request_id)
        try:
            job = self.store.status(request_id, owner=caller.owner)
        except JobNotFound as exc:
            raise NotFound(f"no request {request_id!r}") from exc
        answer = StatusResponse(
            request_id=job.id,
            status=job.state.value,
            status_url=self._request_url(base_url, job.id, "status"),
            result_url=self._request_url(base_url, job.id, "result"),
        )
        if job.state is JobState.IN_QUEUE:
            answer.queue_position = job.queue_position
        elif job.state is JobState.IN_PROGRESS:
            answer.progress = round(job.progress, 4)
            answer.stage = job.stage
        return answer

    def list_requests(
        self,
        caller: Caller,
        *,
        base_url: str,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 20,
    ) -> RequestList:
        """The caller's requests, newest first, a page of ``limit`` after ``cursor``.

        The cursor is the last ``seq`` of the previous page, so pages stay stable while new
        requests arrive (an offset would shift them).
        """
        before = _decode_cursor(cursor) if cursor else None
        state = JobState(status) if status is not None else None
        found = self.store.list_jobs(
            owner=caller.owner, state=state, before_seq=before, limit=limit + 1
        )
        page = found[:limit]
        return RequestList(
            requests=[
                RequestSummary(
                    request_id=job.id,
                    status=job.state.value,
                    model_id=job.model_id,
                    created_at=_iso(job.created_at) or "",
                    finished_at=_iso(job.finished_at),
                    progress=round(job.progress, 4) if job.state is JobState.IN_PROGRESS else None,
                    status_url=self._request_url(base_url, job.id, "status"),
                    result_url=self._request_url(base_url, job.id, "result"),
                )
                for job in page
            ],
            next_cursor=_encode_cursor(page[-1].seq) if len(found) > limit else None,
        )

    def result(self, caller: Caller, request_id: str, *, base_url: str) -> ResultResponse:
        """The outputs as signed URLs once completed; the current state before that."""
        return self.result_of(self._job(caller, request_id), base_url=base_url)

    def result_of(self, job: Job, *, base_url: str) -> ResultResponse:
        """:meth:`result`'s answer for a job already read (a webhook's body)."""
        answer = ResultResponse(
            request_id=job.id,
            status=job.state.value,
            created_at=_iso(job.created_at),
            finished_at=_iso(job.finished_at),
            error=job.error,
            seed=job.params.get("seed"),
            parameters={k: v for k, v in job.params.items() if k != "image_url"},
        )
        if job.state is JobState.COMPLETED and job.result is not None:
            self._fill_result(answer, job.result, base_url)
        return answer

    def cancel(self, caller: Caller, request_id: str) -> CancelResponse:
        """Cancel a queued request; stop a running one at its next checkpoint (unless the
        ``cancel_running`` setting is off: then it is ``not_cancellable``, as finished
        ones are)."""
        self._check_request_id(request_id)
        try:
            job, outcome = self.store.cancel(
                request_id, owner=caller.owner, running=self.settings.cancel_running
            )
        except JobNotFound as exc:
            raise NotFound(f"no request {request_id!r}") from exc
        return CancelResponse(request_id=job.id, status=job.state.value, outcome=outcome)

    @staticmethod
    def _request_url(base_url: str, request_id: str, action: str) -> str:
        return f"{base_url.rstrip('/')}/v1/requests/{request_id}/{action}"

    def _fill_result(self, answer: ResultResponse, result: JobResult, base_url: str) -> None:
        """Signed URLs for the stored keys of a completed job's ``result`` (written by
        :meth:`lamina.jobs.worker.Worker.execute`), with the per-layer metadata."""
        ttl = self.settings.url_ttl_s

        def sign(key: str) -> str:
            return self.storage.url(key, base_url=base_url, expires_s=ttl)

        metadata = result.get("metadata") or {}
        described = metadata.get("layers") or []
        layers = []
        for i, key in enumerate(result.get("layers", [])):
            meta = described[i] if i < len(described) else {}
            layers.append(
                LayerInfo(
                    index=i,
                    url=sign(key),
                    name=meta.get("name"),
                    kind=meta.get("kind"),
                    bbox=meta.get("bbox"),
                    empty=bool(meta.get("empty", False)),
                )
            )
        exports = {kind: sign(key) for kind, key in (result.get("exports") or {}).items()}
        if result.get("manifest"):
            exports["json"] = sign(result["manifest"])
        answer.output = ResultOutput(
            images=[layer.url for layer in layers],
            layers=layers,
            exports=exports,
            width=metadata.get("width"),
            height=metadata.get("height"),
        )
        answer.engine = result.get("engine")
        answer.timings = result.get("timings")
        answer.notes = list(metadata.get("notes") or [])


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    """The ``seq`` in a cursor from :func:`_encode_cursor`, or :class:`BadInput`."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, seq = text.partition(":")
        if tag == "seq" and seq.isdigit():
            return int(seq)
    except (binascii.Error, ValueError):
        pass
    raise BadInput(f"{cursor[:80]!r} is not a cursor from a previous page's next_cursor")
