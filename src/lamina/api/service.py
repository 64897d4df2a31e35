"""What the API does, without HTTP: authenticate, submit, status, result, cancel, upload.

The routes only translate HTTP to these calls and back; everything here takes
and returns plain values and wire schemas, and raises
:class:`~lamina.errors.LaminaError` subclasses (each with its status and code)
for :mod:`lamina.api.errors` to answer.
The service queues jobs and never runs an engine (no torch here).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.to_thread

from lamina import defaults
from lamina.api.datauri import decode_data_uri
from lamina.api.ratelimit import RateLimiter
from lamina.api.schemas import (
    DEFAULT_MODEL,
    OUTPUT_SCHEMA,
    CancelResponse,
    FileUploadResponse,
    LayerInfo,
    ModelInfo,
    RequestList,
    RequestSummary,
    ResultOutput,
    ResultResponse,
    StatusResponse,
    SubmitRequest,
    SubmitResponse,
    WebhookAttemptInfo,
    WebhookDefault,
    WebhookLog,
    WebhookSecret,
)
from lamina.api.watch import ChangeFeed
from lamina.api.webhooks import WebhookSigner
from lamina.config import Settings
from lamina.errors import (
    AuthThrottled,
    BadInput,
    Forbidden,
    Gone,
    InvalidParams,
    JobNotFound,
    NotFound,
    RateLimited,
    SchemaViolation,
    TooLarge,
    Unauthorized,
    UnsafeURL,
)
from lamina.fetch import Resolver, check_url, sniff_image_format, system_resolver
from lamina.jobs.keys import KeyStore
from lamina.jobs.retention import purge_expired
from lamina.jobs.states import FINISHED, JobState
from lamina.jobs.store import Job, JobResult, JobStore
from lamina.storage import (
    InvalidKey,
    ObjectNotFound,
    Storage,
    StorageUnavailable,
    check_key,
)
from lamina.storage.local import load_or_create_secret
from lamina.types import DecomposeParams

REQUEST_ID = re.compile(r"[0-9a-f]{32}")
PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d{1,6})(?:$|[,;\s])", re.IGNORECASE)
"""``Prefer: wait=N`` (RFC 7240, as Replicate uses it): a submit that waits for its result."""
KEEPALIVE_S = 15.0
"""A status stream with nothing new for this long sends a comment, so proxies keep it open."""
WEBHOOK_SECRET_FILE = "webhook-secret"
"""In ``data_dir``: the webhook master secret when ``webhook_secret`` is not set."""
_FINISHED_VALUES = frozenset(state.value for state in FINISHED)
_WATCH_READS = anyio.CapacityLimiter(4)
"""Concurrent thread-pool status reads of streams and waits on a networked store."""
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}/[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
UPLOAD_PREFIX = "uploads/"
HEALTH_CACHE_S = 1.0
"""How long a dependency check answers ``/healthz`` (probes poll it often)."""
_UPLOAD_DAYS_SWEPT = 31
"""Upload days before the cutoff swept on each purge (purges run at least daily)."""
_EXTENSIONS = {
    "PNG": "png",
    "JPEG": "jpg",
    "GIF": "gif",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tif",
}
"""Pillow's format name -> the extension an upload is stored under."""
MEDIA_TYPES = {fmt: defaults.MEDIA_TYPES[ext] for fmt, ext in _EXTENSIONS.items()}
FILE_MEDIA_TYPES = defaults.MEDIA_TYPES


@dataclass(frozen=True)
class Caller:
    """An authenticated API key: ``owner`` is the key id jobs are filed under."""

    owner: str
    name: str


LOCAL_CALLER = Caller(owner="local", name="local")
"""Who keyless requests from this machine are, with ``loopback_without_key``."""


class ApiService:
    """The API's behaviour over a job store, a key store and a file storage."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: JobStore,
        keys: KeyStore,
        storage: Storage,
        resolver: Resolver = system_resolver,
        auth_cache_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        on_submit: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.storage = storage
        self.resolver = resolver
        self.limiter = RateLimiter(settings.rate_limit_per_minute, clock=clock)
        self.auth_failures = RateLimiter(settings.auth_failures_per_minute, clock=clock)
        self._auth_cache_s = auth_cache_s
        self._auth_cache: dict[str, tuple[Caller, float]] = {}
        self._auth_lock = threading.Lock()
        self._clock = clock
        self._health: tuple[dict[str, str], float] | None = None
        self._on_submit = on_submit
        """Called after each queued job: ``lamina serve`` wakes its idle workers with it."""
        self.feed = ChangeFeed(store)
        """Wakes status streams and waiting submits when their job changes."""
        self.webhooks = WebhookSigner(_webhook_master(settings))

    # -- models --------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """The served models; the engine is the configured name (not loaded here)."""
        return [
            ModelInfo(
                id=DEFAULT_MODEL,
                name="Qwen Image Layered",
                description="Decompose an image into RGBA layers, back to front "
                "(layer 0 is the background); compositing them gives the input back.",
                engine=str(self.settings.engine),
                input_schema=SubmitRequest.model_json_schema(),
                output_schema=OUTPUT_SCHEMA,
            )
        ]

    def model(self, model_id: str) -> ModelInfo:
        """One served model, or :class:`NotFound` (:class:`BadInput` for a malformed id)."""
        if not MODEL_ID.fullmatch(model_id):
            raise BadInput(f"{model_id!r} is not a model identifier of the form owner/name")
        for info in self.models():
            if info.id == model_id:
                return info
        raise NotFound(f"no model {model_id!r}; GET /v1/models lists the served models")

    # -- health --------------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        """``status`` (``ok`` or ``unavailable``) and, for ``database`` and ``storage``,
        ``ok`` or what is wrong; one real check of each, remembered :data:`HEALTH_CACHE_S`."""
        answer = {"status": "ok"}
        for name, check in (("database", self.store.ping), ("storage", self.storage.check)):
            try:
                check()
                answer[name] = "ok"
            except Exception as exc:
                shown = str(exc) if isinstance(exc, StorageUnavailable) else type(exc).__name__
                answer[name] = f"unavailable: {shown}"
                answer["status"] = "unavailable"
        self._health = (answer, self._clock() + HEALTH_CACHE_S)
        return answer

    def cached_health(self) -> dict[str, str] | None:
        """The last :meth:`health` while fresh, else ``None`` (never blocks: event loop)."""
        cached = self._health
        if cached is None or cached[1] <= self._clock():
            return None
        return cached[0]

    # -- auth ----------------------------------------------------------------------------

    def authenticate(self, authorization: str | None, *, address: str | None = None) -> Caller:
        """The caller of an ``Authorization: Bearer <key>`` header, rate limit applied.

        Verified keys are remembered for ``auth_cache_s`` seconds (by hash), so a revoked
        key stops working within that time. An unknown key counts against the client
        ``address`` (see :meth:`check_auth_failures`).
        """
        caller = self.cached_caller(authorization)
        if caller is not None:
            return caller
        secret, digest = _bearer(authorization)
        if address is not None:
            self.check_auth_failures(address)
        key = self.keys.verify(secret)
        if key is None:
            if address is not None:
                self.auth_failures.hit(address)
            raise Unauthorized("unknown or revoked API key")
        caller = Caller(owner=key.id, name=key.name)
        with self._auth_lock:
            if len(self._auth_cache) > 10_000:
                self._auth_cache.clear()
            self._auth_cache[digest] = (caller, self._clock() + self._auth_cache_s)
        self._rate_limit(caller)
        return caller

    def check_auth_failures(self, address: str) -> None:
        """:class:`AuthThrottled` once ``address`` sent more unknown keys than
        ``auth_failures_per_minute`` allows; memory only, so the event loop may call it and
        a guessing burst costs no key lookup."""
        wait = self.auth_failures.wait(address)
        if wait > 0:
            retry = self.auth_failures.retry_after(wait)
            raise AuthThrottled(
                f"too many unknown API keys from this address; retry in {retry} s",
                retry_after_s=retry,
            )

    def local_caller(self, address: str | None, forwarded: bool) -> Caller | None:
        """The keyless caller ``local`` for a request from a loopback ``address`` that no
        proxy ``forwarded``, when ``loopback_without_key`` is on (rate limit applied); else
        ``None`` and the request needs a key as usual."""
        if not self.settings.loopback_without_key or forwarded or address is None:
            return None
        try:
            if not ipaddress.ip_address(address).is_loopback:
                return None
        except ValueError:
            return None
        self._rate_limit(LOCAL_CALLER)
        return LOCAL_CALLER

    def cached_caller(self, authorization: str | None) -> Caller | None:
        """The caller if its key was verified recently (rate limit applied), else ``None``;
        never touches the database, so the event loop may call it."""
        _, digest = _bearer(authorization)
        with self._auth_lock:
            cached = self._auth_cache.get(digest)
        if cached is None or cached[1] <= self._clock():
            return None
        self._rate_limit(cached[0])
        return cached[0]

    def _rate_limit(self, caller: Caller) -> None:
        wait = self.limiter.hit(caller.owner)
        if wait > 0:
            retry = self.limiter.retry_after(wait)
            raise RateLimited(
                f"rate limit of {self.limiter.per_minute} requests per minute exceeded; "
                f"retry in {retry} s",
                retry_after_s=retry,
            )

    # -- requests ------------------------------------------------------------------------

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

    # -- waiting for changes ---------------------------------------------------------------

    async def watch(
        self, caller: Caller, request_id: str, *, base_url: str
    ) -> AsyncIterator[StatusResponse | None]:
        """The status now and after each change, ending with the terminal one; ``None``
        after :data:`KEEPALIVE_S` with nothing new. Unknown ids raise :class:`NotFound`
        here, before anything is streamed."""
        first = await self._status_async(caller, request_id, base_url)
        return self._changes(caller, request_id, base_url, first)

    async def _changes(
        self, caller: Caller, request_id: str, base_url: str, first: StatusResponse
    ) -> AsyncIterator[StatusResponse | None]:
        loop = asyncio.get_running_loop()
        with self.feed.subscribe(request_id) as changed:
            answer = first
            yield answer
            quiet_since = loop.time()
            while answer.status not in _FINISHED_VALUES:
                current = await self._status_async(caller, request_id, base_url)
                if current != answer:
                    answer = current
                    quiet_since = loop.time()
                    yield answer
                    continue
                if loop.time() - quiet_since >= KEEPALIVE_S:
                    quiet_since = loop.time()
                    yield None
                await self.feed.wait(changed, KEEPALIVE_S)

    def sync_wait_s(self, prefer: str | None) -> int | None:
        """Seconds a submit with this ``Prefer`` header waits for its result (capped at
        ``max_wait_s``), or ``None`` to answer at once as the seed does."""
        found = PREFER_WAIT.search(f" {prefer} ") if prefer else None
        if found is None:
            return None
        return min(int(found.group(1)), self.settings.max_wait_s)

    async def wait_for_result(
        self, caller: Caller, submitted: SubmitResponse, *, base_url: str, timeout: float
    ) -> ResultResponse | None:
        """The result of a just-submitted request if it finishes within ``timeout``
        seconds (with the submit answer's URLs), else ``None``."""
        request_id = submitted.request_id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with self.feed.subscribe(request_id) as changed:
            while True:
                status = await self._status_async(caller, request_id, base_url)
                if status.status in _FINISHED_VALUES:
                    break
                left = deadline - loop.time()
                if left <= 0:
                    return None
                await self.feed.wait(changed, left)
        done = await anyio.to_thread.run_sync(
            lambda: self.result(caller, request_id, base_url=base_url)
        )
        return ResultResponse(
            **done.model_dump(),
            status_url=submitted.status_url,
            cancel_url=submitted.cancel_url,
            result_url=submitted.result_url,
        )

    async def _status_async(self, caller: Caller, request_id: str, base_url: str) -> StatusResponse:
        """:meth:`status` on the event loop for a local store, else in the thread pool."""
        if self.store.local_reads:
            return self.status(caller, request_id, base_url=base_url)
        return await anyio.to_thread.run_sync(
            lambda: self.status(caller, request_id, base_url=base_url), limiter=_WATCH_READS
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

    # -- webhooks ------------------------------------------------------------------------

    def webhook_default(self, caller: Caller) -> WebhookDefault:
        """The caller's default webhook (``url`` null when none)."""
        return WebhookDefault(url=self.keys.webhook_default(caller.owner))

    def set_webhook_default(self, caller: Caller, body: WebhookDefault) -> WebhookDefault:
        """Set or clear (``url`` null) the caller's default webhook, checked as at submit."""
        url = None if body.url is None else self._check_webhook_url(body.url)
        self.keys.set_webhook_default(caller.owner, url)
        return WebhookDefault(url=url)

    def _check_webhook_url(self, url: str) -> str:
        """``url`` stripped, if it passes the SSRF rules of ``image_url``; else BadInput."""
        url = url.strip()
        try:
            check_url(
                url,
                allow_private=self.settings.allow_private_urls,
                resolver=self.resolver,
                what="webhook_url",
            )
        except UnsafeURL as exc:
            raise BadInput(str(exc)) from exc
        return url

    def webhook_secret(self, caller: Caller) -> WebhookSecret:
        """The secret that verifies the caller's webhooks."""
        return WebhookSecret(secret=self.webhooks.secret_for(caller.owner))

    def webhook_log(self, caller: Caller, request_id: str) -> WebhookLog:
        """Where the request's webhook goes, how far its delivery is, every attempt."""
        job = self._job(caller, request_id)
        return WebhookLog(
            request_id=job.id,
            url=(job.webhook or {}).get("url"),
            state=job.webhook_state,
            attempts=[
                WebhookAttemptInfo(
                    attempt=a.attempt,
                    at=_iso(a.at) or "",
                    status_code=a.status_code,
                    error=a.error,
                    duration_s=round(a.duration_s, 4),
                )
                for a in self.store.webhook_log(job.id)
            ],
        )

    # -- files ---------------------------------------------------------------------------

    def upload(self, caller: Caller, data: bytes, *, base_url: str) -> FileUploadResponse:
        """Store an input image and return a signed URL usable as ``image_url``."""
        key, fmt = self._store_input(data, source="the uploaded file")
        expires = datetime.now(UTC) + timedelta(seconds=self.settings.url_ttl_s)
        return FileUploadResponse(
            url=self.storage.url(key, base_url=base_url, expires_s=self.settings.url_ttl_s),
            key=key,
            size=len(data),
            content_type=MEDIA_TYPES[fmt],
            expires_at=_iso(expires) or "",
        )

    def open_file(self, key: str, *, expires: str, sig: str) -> tuple[bytes, str]:
        """The bytes and media type of a file behind a signed URL; :class:`Forbidden` for a
        bad or expired signature, :class:`NotFound` for a missing file.

        Only local storage is served here; S3 storage hands out presigned S3 URLs.
        """
        storage = self.storage
        if not storage.serves_links or not _valid_key(key):
            raise NotFound("no such file")
        if not storage.verify(key, expires, sig):
            raise Forbidden("the file link is invalid or has expired")
        try:
            data = storage.get(key)
        except ObjectNotFound as exc:
            raise NotFound("no such file (deleted after the retention period?)") from exc
        ext = key.rsplit(".", 1)[-1].lower()
        return data, FILE_MEDIA_TYPES.get(ext, "application/octet-stream")

    # -- retention -----------------------------------------------------------------------

    def purge(self, *, now: datetime | None = None) -> int:
        """Delete jobs finished more than ``retention_days`` ago with their files, and
        uploads from before then. Returns how many jobs were deleted."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.settings.retention_days)
        purged = purge_expired(self.store, self.storage, before=cutoff)
        # uploads live under uploads/YYYY-MM-DD/: drop the days wholly before the cutoff
        day = cutoff.date() - timedelta(days=1)
        for _ in range(_UPLOAD_DAYS_SWEPT):
            self.storage.delete_prefix(f"{UPLOAD_PREFIX}{day.isoformat()}/")
            day -= timedelta(days=1)
        return purged

    # -- helpers -------------------------------------------------------------------------

    def _job(self, caller: Caller, request_id: str) -> Job:
        self._check_request_id(request_id)
        try:
            return self.store.get(request_id, owner=caller.owner)
        except JobNotFound as exc:
            raise NotFound(f"no request {request_id!r}") from exc

    @staticmethod
    def _check_request_id(request_id: str) -> None:
        """Any path segment that cannot be one of our ids is simply not found (as fal and
        Replicate answer), without a query."""
        if not REQUEST_ID.fullmatch(request_id):
            raise NotFound(f"no request {request_id[:80]!r}")

    @staticmethod
    def _request_url(base_url: str, request_id: str, action: str) -> str:
        return f"{base_url.rstrip('/')}/v1/requests/{request_id}/{action}"

    def _resolve_input(self, image_url: str) -> tuple[str | None, str | None, str]:
        """``(input_key, input_url, url to record)`` for an ``image_url``."""
        url = image_url.strip()
        if url[:5].lower() == "data:":
            key, _ = self._store_input(
                decode_data_uri(url, self.settings.max_input_bytes), source="the data: URI"
            )
            return key, None, f"data: ({key})"
        own = self._own_file_key(url)
        if own is not None:
            # each job gets its own copy: retention deletes a job's input with the job
            try:
                data = self.storage.get(own)
            except ObjectNotFound as exc:
                raise Gone(
                    "image_url is an upload link whose file no longer exists (uploads are "
                    f"deleted after {self.settings.retention_days:g} days); upload it again"
                ) from exc
            key, _ = self._store_input(data, source="the uploaded file")
            return key, None, url
        try:
            check_url(url, allow_private=self.settings.allow_private_urls, resolver=self.resolver)
        except UnsafeURL as exc:
            raise BadInput(str(exc)) from exc
        return None, url, url

    def _own_file_key(self, url: str) -> str | None:
        """The storage key of a signed upload URL this server issued, else ``None``."""
        try:
            parts = urlsplit(url)
        except ValueError:  # check_url explains what is wrong with it
            return None
        if not parts.path.startswith("/v1/files/" + UPLOAD_PREFIX):
            return None
        key = parts.path.removeprefix("/v1/files/")
        query = parse_qs(parts.query)
        expires, sig = query.get("expires", [""])[0], query.get("sig", [""])[0]
        storage = self.storage
        if not storage.serves_links:
            return None
        if not _valid_key(key) or not storage.verify(key, expires, sig):
            raise BadInput("image_url is an upload link that is invalid or has expired")
        return key

    def _store_input(self, data: bytes, *, source: str) -> tuple[str, str]:
        if len(data) > self.settings.max_input_bytes:
            raise TooLarge(
                f"{source} is {len(data)} bytes, over the limit of {self.settings.max_input_bytes}"
            )
        fmt = sniff_image_format(data)
        if fmt is None:
            raise BadInput(f"{source} is not an image (expected PNG, JPEG, WebP, GIF, BMP or TIFF)")
        day = datetime.now(UTC).date().isoformat()
        key = f"{UPLOAD_PREFIX}{day}/{uuid.uuid4().hex}.{_EXTENSIONS[fmt]}"
        self.storage.put(key, data, MEDIA_TYPES[fmt])
        return key, fmt

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


def _bearer(authorization: str | None) -> tuple[str, str]:
    """``(secret, sha256 hex)`` of a ``Bearer`` header, or :class:`Unauthorized`."""
    if not authorization:
        raise Unauthorized("missing API key: send the header 'Authorization: Bearer <key>'")
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise Unauthorized("the Authorization header must be 'Bearer <key>'")
    return secret, hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


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


def _valid_key(key: str) -> bool:
    try:
        check_key(key)
    except InvalidKey:
        return False
    return True


def _webhook_master(settings: Settings) -> bytes:
    """The configured webhook secret, else one kept in ``data_dir`` (made on first use)."""
    if settings.webhook_secret:
        return settings.webhook_secret.encode()
    return load_or_create_secret(Path(settings.data_dir).resolve() / WEBHOOK_SECRET_FILE)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
