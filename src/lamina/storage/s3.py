"""Objects in an S3-compatible bucket (AWS, MinIO, R2, ...); outputs get presigned GET URLs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from lamina.errors import ObjectNotFound, StorageUnavailable
from lamina.storage.base import check_key, check_prefix

_MISSING = ("NoSuchKey", "404")


@contextlib.contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """Connection failures and server errors of S3 as :class:`StorageUnavailable` (a
    missing object stays :class:`ObjectNotFound`; a refused request, e.g. bad credentials,
    stays a bug to see)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if error.get("Code") in _MISSING:
            raise
        if status >= 500 or error.get("Code") in ("SlowDown", "RequestTimeout"):
            raise StorageUnavailable(f"S3 could not {what}: {error.get('Code')}") from exc
        raise
    except BotoCoreError as exc:
        raise StorageUnavailable(f"S3 could not {what}: {type(exc).__name__}") from exc


def parse_s3_location(location: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix/")`` (prefix may be empty)."""
    if not location.startswith("s3://"):
        raise ValueError(f"not an s3:// location: {location!r}")
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {location!r}")
    prefix = prefix.strip("/")
    if prefix:
        check_prefix(prefix)
    return bucket, f"{prefix}/" if prefix else ""


class S3Storage:
    """Keys live at ``{prefix}{key}`` in ``bucket``; ``client`` is a boto3 S3 client."""

    serves_links = False
    """Its links are S3's presigned URLs; lamina's ``/v1/files/`` serves none of them."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def verify(self, key: str, expires: int | str, sig: str) -> bool:
        """No ``/v1/files/`` link is ever this backend's."""
        return False

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        name = self._name(key)
        with _unavailable(f"store {key!r}"):
            self.client.put_object(
                Bucket=self.bucket, Key=name, Body=data, ContentType=content_type
            )

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        name = self._name(key)
        try:
            with _unavailable(f"read {key!r}"):
                response = self.client.get_object(Bucket=self.bucket, Key=name)
                body: bytes = response["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise ObjectNotFound(f"no stored object {key!r}") from exc
            raise
        return body

    def delete(self, key: str) -> None:
        name = self._name(key)
        with _unavailable(f"delete {key!r}"):
            self.client.delete_object(Bucket=self.bucket, Key=name)

    def delete_prefix(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        with _unavailable(f"delete {prefix!r}*"):
            for page in paginator.paginate(
                Bucket=self.bucket, Prefix=self.prefix + check_prefix(prefix)
            ):
                objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if objects:  # one page holds at most 1,000 keys, the delete_objects limit
                    self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                    )

    def check(self) -> None:
        """Raise :class:`StorageUnavailable` unless the bucket answers."""
        with _unavailable("reach the bucket"):
            self.client.head_bucket(Bucket=self.bucket)

    def url(self, key: str, *, base_url: str, expires_s: int) -> str:
        """A presigned GET URL (``base_url`` is not used: the bucket serves the bytes)."""
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._name(key)},
            ExpiresIn=int(expires_s),
        )
        return url
