"""Objects in an S3-compatible bucket (AWS, MinIO, R2, ...); outputs get presigned GET URLs."""

from __future__ import annotations

from typing import Any

from lamina.storage.base import ObjectNotFound, check_key, check_prefix


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

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._name(key), Body=data, ContentType=content_type
        )

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectNotFound(f"no stored object {key!r}") from exc
            raise
        body: bytes = response["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def delete_prefix(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self.bucket, Prefix=self.prefix + check_prefix(prefix)
        ):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:  # one page holds at most 1,000 keys, the delete_objects limit
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )

    def url(self, key: str, *, base_url: str, expires_s: int) -> str:
        """A presigned GET URL (``base_url`` is not used: the bucket serves the bytes)."""
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._name(key)},
            ExpiresIn=int(expires_s),
        )
        return url
