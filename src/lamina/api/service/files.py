"""Input images: uploads, the data: URIs and links a submit resolves to stored files, serving
signed links, and the retention purge that deletes them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from lamina import defaults
from lamina.api.datauri import decode_data_uri
from lamina.api.schemas import FileUploadResponse
from lamina.api.service.base import Caller, ServiceBase, _iso
from lamina.errors import BadInput, Forbidden, Gone, NotFound, TooLarge, UnsafeURL
from lamina.fetch import check_url, sniff_image_format
from lamina.jobs.retention import purge_expired
from lamina.storage import InvalidKey, ObjectNotFound, check_key

UPLOAD_PREFIX = "uploads/"
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


class FilesMixin(ServiceBase):
    """Files in the storage: what goes in as input, what a signed link serves, what is purged."""

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


def _valid_key(key: str) -> bool:
    try:
        check_key(key)
    except InvalidKey:
        return False
    return True
