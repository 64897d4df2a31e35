"""``/v1/files``: upload an input image, and serve stored files at signed URLs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile

from lamina.api.deps import BaseUrlDep, CallerDep, ServiceDep
from lamina.api.openapi import errors
from lamina.api.schemas import FileUploadResponse
from lamina.api.service import FILE_MEDIA_TYPES
from lamina.errors import TooLarge

router = APIRouter(prefix="/v1/files", tags=["files"])


@router.post("")
def upload(
    file: Annotated[UploadFile, File(description="the image (multipart field 'file')")],
    service: ServiceDep,
    caller: CallerDep,
    base_url: BaseUrlDep,
) -> FileUploadResponse:
    """Store an image; the answer's ``url`` can be passed as ``image_url``."""
    limit = service.settings.max_input_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"the uploaded file is over the limit of {limit} bytes")
    return service.upload(caller, data, base_url=base_url)


@router.get(
    "/{key:path}",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in sorted(set(FILE_MEDIA_TYPES.values()))},
            "description": "the file's bytes",
        },
        **errors(403),
    },
)
def download(
    key: str,
    service: ServiceDep,
    expires: Annotated[str, Query()] = "",
    sig: Annotated[str, Query()] = "",
) -> Response:
    """A stored file; the signature in the URL stands in for the Authorization header."""
    data, media_type = service.open_file(key, expires=expires, sig=sig)
    return Response(
        content=data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"}
    )
