"""Files in a local directory, served by the API at HMAC-signed URLs."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from lamina.storage.base import ObjectNotFound, check_key, check_prefix

SECRET_FILE = "signing.key"


def load_or_create_secret(path: Path) -> bytes:
    """The URL-signing secret kept at ``path`` (mode 0600), created on first use.

    Safe when several processes start together: the file is created with ``O_EXCL`` from a
    complete temporary file, so every process reads the same secret.
    """
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, secrets.token_hex(32).encode())
        os.close(fd)
        with contextlib.suppress(FileExistsError):  # another process won the race
            os.link(tmp, path)  # atomic: the name appears with its full content
    finally:
        os.unlink(tmp)
    return bytes.fromhex(path.read_text().strip())


class LocalStorage:
    """Objects as files under ``root``; URLs are ``{base_url}/v1/files/{key}?expires=&sig=``."""

    def __init__(self, root: Path, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must have at least 16 bytes")
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._secret = secret

    def path(self, key: str) -> Path:
        """The file holding ``key`` (for streaming responses); raises :class:`ObjectNotFound`."""
        path = self.root / check_key(key)
        if not path.is_file():
            raise ObjectNotFound(f"no stored object {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write atomically (temporary file + rename), so readers never see half a file."""
        path = self.root / check_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def delete(self, key: str) -> None:
        (self.root / check_key(key)).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        check_prefix(prefix)
        if prefix.endswith("/"):
            shutil.rmtree(self.root / prefix, ignore_errors=True)
            return
        parent = (self.root / prefix).parent
        if parent.is_dir():
            name = Path(prefix).name
            for entry in parent.iterdir():
                if entry.name.startswith(name):
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)

    def sign(self, key: str, expires: int) -> str:
        """Hex HMAC-SHA256 of ``key`` and its expiry time (Unix seconds)."""
        message = f"{check_key(key)}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def url(self, key: str, *, base_url: str, expires_s: int) -> str:
        expires = int(time.time()) + int(expires_s)
        return (
            f"{base_url.rstrip('/')}/v1/files/{quote(check_key(key))}"
            f"?expires={expires}&sig={self.sign(key, expires)}"
        )

    def verify(self, key: str, expires: int | str, sig: str) -> bool:
        """Whether ``sig`` signs ``key`` until ``expires`` and that time has not passed."""
        try:
            expires_at = int(expires)
            expected = self.sign(key, expires_at)
        except (ValueError, TypeError):
            return False
        if expires_at < time.time():
            return False
        return hmac.compare_digest(expected, str(sig))
