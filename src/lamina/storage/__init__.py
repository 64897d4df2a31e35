"""Where job inputs and outputs live: a local directory (default) or an S3-compatible bucket.

:func:`open_storage` picks the backend from :attr:`Settings.resolved_storage`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lamina.errors import InvalidKey, ObjectNotFound, StorageUnavailable
from lamina.storage.base import Storage, check_key, check_prefix
from lamina.storage.local import SECRET_FILE, LocalStorage, load_or_create_secret
from lamina.storage.s3 import S3Storage, parse_s3_location

if TYPE_CHECKING:
    from lamina.config import Settings

__all__ = [
    "InvalidKey",
    "LocalStorage",
    "ObjectNotFound",
    "S3Storage",
    "Storage",
    "StorageUnavailable",
    "check_key",
    "check_prefix",
    "open_storage",
]


def open_storage(settings: Settings) -> Storage:
    """The configured backend. Local storage signs URLs with a secret kept in the data dir."""
    location = settings.resolved_storage
    if location.startswith("s3://"):
        import boto3
        from botocore.config import Config

        bucket, prefix = parse_s3_location(location)
        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=settings.s3_secret_access_key,
            config=Config(signature_version="s3v4"),
        )
        return S3Storage(client, bucket, prefix)
    secret = load_or_create_secret(Path(settings.data_dir).resolve() / SECRET_FILE)
    return LocalStorage(Path(location), secret)
